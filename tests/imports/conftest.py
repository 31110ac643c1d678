"""Helpers for import tests: write small files in each format."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest

WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Return a function writing rows (header first) to a CSV file and returning its path."""

    def write(rows: Sequence[Sequence[object]], name: str = "contacts.csv", **kw: str) -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding=kw.get("encoding", "utf-8")) as f:
            csv.writer(f).writerows(rows)
        return path

    return write


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[Sequence[object]], Path]:
    """Return a function writing JSON Lines (dicts, or raw strings written as they are)."""

    def write(lines: Sequence[object]) -> Path:
        path = tmp_path / "contacts.jsonl"
        with path.open("wb") as f:
            for line in lines:
                f.write(line.encode() if isinstance(line, str) else orjson.dumps(line))
                f.write(b"\n")
        return path

    return write
