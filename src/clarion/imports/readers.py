"""Stream rows out of CSV, XLSX and JSON Lines files, one row at a time, never the whole file.

Every reader yields ``(row_number, data)`` where ``data`` is a dict of column -> value, or a
``RowError`` when the row cannot even be read (wrong column count, broken JSON, a CSV quoting
error). A broken row is reported and reading goes on: one bad line never stops an import.

Row numbers are what a person sees in a spreadsheet: the header is row 1 in CSV and XLSX, the
first line is 1 in JSON Lines.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from clarion.errors import ValidationFailed

FORMATS = ("csv", "xlsx", "jsonl")
_SAMPLE = 256 * 1024

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be read at all."""

    field: str
    value: Any
    reason: str


Row = tuple[int, dict[str, Any] | RowError]


def guess_format(path: Path) -> str:
    """Return csv, xlsx or jsonl from the file name, or raise ValidationFailed."""
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"txt": "csv", "tsv": "csv", "ndjson": "jsonl", "json": "jsonl", "xlsm": "xlsx"}.get(
        suffix, suffix
    )
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"cannot tell the format of {path.name}; pass --format",
            field="format",
            value=suffix,
            allowed=list(FORMATS),
        )
    return fmt


def detect_encoding(path: Path) -> str:
    """Return the text encoding of ``path``: UTF-8 when it decodes as such, else a detected one.

    Chinese legacy encodings (GB2312/GBK) are read as GB18030, their superset. When nothing
    plausible is found, raise ValidationFailed asking for ``--encoding``.
    """
    with path.open("rb") as f:
        sample = f.read(_SAMPLE)
        truncated = bool(f.read(1))
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is not an error.
        if truncated and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = (best.encoding if best is not None else "").lower().replace("-", "").replace("_", "")
    if name in {"gb2312", "gbk", "gb18030", "hz", "cp936"}:
        return "gb18030"
    if best is None:
        raise ValidationFailed(
            f"{path.name} is not UTF-8 and its encoding could not be detected; pass --encoding",
            field="encoding",
            value=None,
        )
    return str(best.encoding)


class Source:
    """An opened input file: its rows, its encoding and how far reading has got."""

    def __init__(self, path: Path, fmt: str | None = None, encoding: str | None = None) -> None:
        self.path = path
        self.fmt = fmt or guess_format(path)
        if self.fmt not in FORMATS:
            raise ValidationFailed(f"unknown format {self.fmt!r}", field="format", value=self.fmt)
        if not path.is_file():
            raise ValidationFailed(f"no such file: {path}", field="path", value=str(path))
        self.size = path.stat().st_size
        self.encoding: str | None = None
        if self.fmt != "xlsx":
            self.encoding = encoding or detect_encoding(path)
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValidationFailed(
                    f"unknown encoding {self.encoding!r}", field="encoding", value=self.encoding
                ) from None
        self._binary: BinaryIO | None = None
        self._rows_done = 0

    def position(self) -> int:
        """Return the bytes (or XLSX rows) consumed so far, for progress."""
        if self._binary is not None and not self._binary.closed:
            return self._binary.tell()
        return self._rows_done

    def rows(self) -> Iterator[Row]:
        """Yield every data row of the file with its row number."""
        if self.fmt == "xlsx":
            yield from self._xlsx()
            return
        with self.path.open("rb") as binary:
            self._binary = binary
            # Undecodable bytes become U+FFFD and the row is rejected later, naming the column.
            text = io.TextIOWrapper(binary, encoding=self.encoding, errors="replace", newline="")
            if self.fmt == "csv":
                yield from self._csv(text)
            else:
                yield from self._jsonl(text)

    def _csv(self, text: io.TextIOWrapper) -> Iterator[Row]:
        first = text.readline()
        text.seek(0)
        yield from _csv_records(csv.reader(text, delimiter=_delimiter(first)), None, 0)

    def csv_blocks(self, rows_per_block: int) -> Iterator[CsvBlock]:
        """Yield the CSV file as blocks of about ``rows_per_block`` whole records, unparsed.

        Worker processes parse the blocks (``block_rows``), so the process that reads the file
        only finds record boundaries: a newline preceded by an even number of quotes in the
        block (RFC 4180 quoting; a quoted field may hold newlines). Only for encodings where
        ``splittable`` holds. The header is read here and handed to every block.
        """
        assert self.fmt == "csv" and self.encoding is not None
        later = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        with self.path.open("rb") as binary:
            self._binary = binary
            buf = binary.read(_SAMPLE)
            found = _csv_header(buf, self.encoding, at_end=len(buf) < _SAMPLE)
            if found is None:  # no complete header in the sample: one block, parsed as a file
                buf += binary.read()
                yield CsvBlock(buf, 0, self.encoding, "", None)
                return
            header, delimiter, skip, lines = found
            buf = buf[skip:]
            # Files from old Macs end lines in CR alone: cut those at CR (never CR LF apart).
            end_byte = b"\n" if b"\n" in buf or b"\r" not in buf else b"\r"
            per_line = len(buf) // max(buf.count(end_byte), 1) or 1
            size = limit = max(1024, rows_per_block * per_line)
            while True:
                if len(buf) < limit:
                    more = binary.read(limit - len(buf))
                    if not more:
                        break
                    buf += more
                    continue
                end = _record_end(buf, limit, end_byte)
                if end < 0:  # one record longer than the block: look further
                    limit += size
                    continue
                block, buf = buf[:end], buf[end:]
                limit = size
                yield CsvBlock(block, lines, later, delimiter, header)
                lines += _line_count(block)
            if buf:
                yield CsvBlock(buf, lines, later, delimiter, header)

    def _jsonl(self, text: io.TextIOWrapper) -> Iterator[Row]:
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, RowError("_row", line.strip()[:200], f"bad_json: {exc}")
                continue
            if not isinstance(data, dict):
                yield number, RowError("_row", line.strip()[:200], "not_an_object")
                continue
            yield number, data

    def _xlsx(self) -> Iterator[Row]:
        from openpyxl import load_workbook

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on a broken file
            raise ValidationFailed(
                f"{self.path.name} is not a readable XLSX file: {exc}", field="path"
            ) from None
        try:
            sheet = book.worksheets[0]
            self.size = sheet.max_row or 0
            header: list[str] | None = None
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                self._rows_done = number
                values = [_cell(v) for v in cells]
                while values and values[-1] == "":
                    values.pop()
                if not values:
                    continue
                if header is None:
                    header = [str(v).strip() for v in values]
                    continue
                if len(values) > len(header):
                    yield (
                        number,
                        RowError("_row", f"{len(values)} of {len(header)} columns", "column_count"),
                    )
                    continue
                values += [""] * (len(header) - len(values))
                yield number, dict(zip(header, values, strict=True))
        finally:
            book.close()


def _delimiter(first_line: str) -> str:
    """Return the CSV delimiter: the most frequent candidate in the first line, else a comma.

    (csv.Sniffer guesses wrongly on quoted data often enough not to be trusted.)
    """
    best = max(",;\t|", key=first_line.count)
    return best if first_line.count(best) else ","


def _csv_records(reader: Any, header: list[str] | None, line_offset: int) -> Iterator[Row]:
    """Yield the rows of a csv reader; the first non-blank record is the header if none given."""
    while True:
        # One loop over the reader until it ends or refuses a record (then report and go on).
        try:
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if header is None:
                    header = [h.strip() for h in values]
                    continue
                if len(values) != len(header):
                    yield (
                        line_offset + reader.line_num,
                        RowError("_row", f"{len(values)} of {len(header)} columns", "column_count"),
                    )
                    continue
                yield line_offset + reader.line_num, dict(zip(header, values))  # noqa: B905
            return
        except csv.Error as exc:
            yield line_offset + reader.line_num, RowError("_row", None, f"malformed_csv: {exc}")


#: Encodings in which byte 0x0A is always a newline and 0x22 always a quote (never part of a
#: multi-byte character), so a file can be cut into blocks at a newline byte.
_SPLITTABLE = frozenset({"utf-8", "utf-8-sig", "ascii", "gb18030", "gbk", "big5", "shift_jis"})


def splittable(encoding: str | None) -> bool:
    """Return whether a file in ``encoding`` can be cut into ``CsvBlock``s at newline bytes."""
    if encoding is None:
        return False
    name = codecs.lookup(encoding).name
    return name in _SPLITTABLE or name.startswith(("iso8859", "cp125", "latin", "mac-"))


@dataclass(frozen=True, slots=True)
class CsvBlock:
    """Whole CSV records, as bytes, and what is needed to parse them apart from the file."""

    data: bytes
    lines_before: int  # physical lines of the file before the block (row numbers go on)
    encoding: str
    delimiter: str  # "" with header None: the block is the whole file, header included
    header: list[str] | None


def block_rows(block: CsvBlock) -> Iterator[Row]:
    """Yield the rows of a block, numbered as in the whole file (runs in worker processes)."""
    text = io.StringIO(block.data.decode(block.encoding, errors="replace"), newline="")
    if block.header is None:
        first = text.readline()
        text.seek(0)
        reader = csv.reader(text, delimiter=_delimiter(first))
    else:
        reader = csv.reader(text, delimiter=block.delimiter)
    yield from _csv_records(reader, block.header, block.lines_before)


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _line_count(data: bytes) -> int:
    """Return the lines in ``data`` as a text reader with universal newlines counts them."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _record_end(buf: bytes, size: int, end_byte: bytes) -> int:
    """Return the end of the last whole record in ``buf[:size]`` (after its newline), or -1."""
    end = buf.rfind(end_byte, 0, size)
    while end >= 0:
        if buf.count(b'"', 0, end) % 2 == 0:
            return end + 1
        end = buf.rfind(end_byte, 0, end)
    return -1


def _csv_header(
    sample: bytes, encoding: str, *, at_end: bool
) -> tuple[list[str], str, int, int] | None:
    """Return (header, delimiter, bytes, lines) of the file's header record from its start.

    None when the sample holds no complete header record that ends in a newline.
    """
    text = sample.decode(encoding, errors="replace")
    first = io.StringIO(text, newline="").readline()
    delimiter = _delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for values in reader:
            if values and (len(values) > 1 or values[0].strip()):
                break
        else:
            return None
    except csv.Error:
        return None
    lines = reader.line_num
    ends = [m.end() for _, m in zip(range(lines), _LINE_END.finditer(sample), strict=False)]
    if len(ends) < lines or (not at_end and ends[-1] >= len(sample) - 1):
        return None
    return [h.strip() for h in values], delimiter, ends[-1], lines


def _cell(value: Any) -> Any:
    """Return a spreadsheet cell as text, the way a person typed it (no ``.0`` on numbers)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
