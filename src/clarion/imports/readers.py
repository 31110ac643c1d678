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
        # The delimiter is the most frequent candidate in the first line (csv.Sniffer guesses
        # wrongly on quoted data often enough not to be trusted).
        first = text.readline()
        text.seek(0)
        delimiter = max(",;\t|", key=first.count)
        reader = csv.reader(text, delimiter=delimiter if first.count(delimiter) else ",")
        header: list[str] | None = None
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, RowError("_row", None, f"malformed_csv: {exc}")
                continue
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if header is None:
                header = [h.strip() for h in values]
                continue
            if len(values) != len(header):
                yield (
                    reader.line_num,
                    RowError("_row", f"{len(values)} of {len(header)} columns", "column_count"),
                )
                continue
            yield reader.line_num, dict(zip(header, values, strict=True))

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
