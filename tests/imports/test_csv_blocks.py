"""CSV files cut into blocks for worker processes read exactly as the whole file does."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from clarion.imports.readers import Row, Source, block_rows, splittable


def _rows_by_blocks(
    path: Path, rows_per_block: int, encoding: str | None = None
) -> tuple[list[Row], int]:
    source = Source(path, encoding=encoding)
    blocks = list(source.csv_blocks(rows_per_block))
    return list(itertools.chain.from_iterable(block_rows(b) for b in blocks)), len(blocks)


def _tricky_csv(rows: int, *, newline: str = "\n", delimiter: str = ",") -> str:
    """Return a CSV text with quoted newlines, doubled quotes, blank lines and a short row."""
    d = delimiter
    lines = [f"external_id{d}phone{d}notes"]
    for i in range(rows):
        if i % 17 == 3:
            lines.append(f'E{i}{d}+86 138 0013 {i:04d}{d}"two{newline}lines, and ""quotes"""')
        elif i % 23 == 5:
            lines.append("")  # a blank line: skipped, but counted in row numbers
        elif i % 29 == 7:
            lines.append(f"E{i}{d}too few")
        elif i % 31 == 9:
            lines.append(f'E{i}{d}"+1 650 555 {i % 10000:04d}"{d}"{d}{d}{newline}{newline}"')
        else:
            lines.append(f"E{i}{d}+44 7700 9{i:05d}{d}plain {i}")
    return newline.join(lines) + newline


@pytest.mark.parametrize("rows_per_block", [1, 3, 7, 40, 100_000])
@pytest.mark.parametrize(
    ("newline", "delimiter", "encoding"),
    [
        ("\n", ",", "utf-8"),
        ("\r\n", ";", "utf-8-sig"),
        ("\r", ",", "utf-8"),
        ("\n", "\t", "gb18030"),
    ],
)
def test_blocks_yield_the_rows_and_row_numbers_of_the_whole_file(
    tmp_path: Path, rows_per_block: int, newline: str, delimiter: str, encoding: str
) -> None:
    # given a CSV with quoted newlines and delimiters, doubled quotes, blank and short rows
    path = tmp_path / "tricky.csv"
    text = _tricky_csv(600, newline=newline, delimiter=delimiter).replace("plain", "平")
    path.write_bytes(text.encode(encoding))
    whole = list(Source(path, encoding=encoding).rows())
    # when it is cut into blocks and each block is parsed on its own
    by_blocks, n_blocks = _rows_by_blocks(path, rows_per_block, encoding)
    # then the rows, their numbers and the errors are the same as reading the file whole
    assert by_blocks == whole
    assert len(whole) > 550 and any(
        isinstance(data, dict) and "\n" in data["notes"] for _, data in whole
    ) == (newline != "\r")
    if rows_per_block < 100:
        assert n_blocks > 3


def test_a_header_longer_than_the_sample_makes_one_block_read_as_a_file(tmp_path: Path) -> None:
    # given a header whose one quoted cell is longer than the sample read for the header
    path = tmp_path / "wide.csv"
    path.write_text('email,"' + "x" * 300_000 + '"\nu1@example.com,1\nu2@example.com,2\n')
    # when cut into blocks
    by_blocks, n_blocks = _rows_by_blocks(path, 1)
    # then it is one block, read exactly as the whole file
    assert n_blocks == 1
    assert by_blocks == list(Source(path).rows())
    assert [n for n, _ in by_blocks] == [2, 3]


def test_only_encodings_with_plain_newline_bytes_are_split() -> None:
    assert splittable("utf-8") and splittable("UTF-8-SIG") and splittable("gb18030")
    assert splittable("latin-1") and splittable("cp1252")
    assert not splittable("utf-16") and not splittable("utf-32-le") and not splittable(None)


def test_collector_thresholds_come_back_after_overlapping_imports() -> None:
    import gc

    from clarion.gcpolicy import fewer_collections

    # given the collector's thresholds before any import
    before = gc.get_threshold()
    # when two imports overlap (the API runs them in threads) and end in either order
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    during = gc.get_threshold()
    first.__exit__(None, None, None)
    still = gc.get_threshold()
    second.__exit__(None, None, None)
    # then collection is rarer while either runs, and the thresholds are restored at the end
    assert during[0] > before[0] and still == during
    assert gc.get_threshold() == before
