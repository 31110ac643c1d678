"""``bulk.copy_text`` writes what psycopg's own ``write_row`` would: the same rows come back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from clarion.delivery.bulk import copy_text

COLUMNS = (
    ("n", "bigint"),
    ("maybe", "bigint"),
    ("flag", "bool"),
    ("at", "timestamptz"),
    ("body", "text"),
    ("price", "numeric"),
)
AT = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
ROWS: list[tuple[Any, ...]] = [
    (1, None, True, AT, "plain text", 0.0075),
    (2, 7, False, AT, None, 0.0),
    (
        3,
        8,
        True,
        datetime(2026, 1, 1, tzinfo=UTC),
        "tab\there, line\nbreak, cr\r, back\\slash",
        1e-05,
    ),
    (4, 9, False, AT, "\\N is not NULL here", 12.5),
    (5, 10, True, AT, "unicode: é 你好 🎉", 3),
]


def _copied(engine: Engine, write: Any) -> list[tuple[Any, ...]]:
    names = ", ".join(n for n, _ in COLUMNS)
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            "CREATE TEMP TABLE copied ("
            + ", ".join(f"{n} {t}" for n, t in COLUMNS)
            + ") ON COMMIT DROP"
        )
        with cursor.copy(f"COPY copied ({names}) FROM STDIN") as copy:
            write(copy)
        cursor.execute(f"SELECT {names} FROM copied ORDER BY n")
        got = cursor.fetchall()
        conn.rollback()
    return got


def test_copy_text_reads_back_as_write_row_does(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    # given rows with NULLs, booleans, instants, numbers and text that needs escaping
    # when they are copied as one text and, separately, row by row by psycopg
    as_text = _copied(engine, lambda copy: copy.write(copy_text(COLUMNS, ROWS)))
    by_row = _copied(engine, lambda copy: [copy.write_row(r) for r in ROWS])
    # then the database holds the same values either way, the tricky text intact
    assert as_text == by_row
    assert as_text[2][4] == "tab\there, line\nbreak, cr\r, back\\slash"
    assert as_text[3][4] == "\\N is not NULL here" and as_text[1][4] is None
    assert as_text[0][3] == AT


def test_copy_text_of_no_rows_is_empty() -> None:
    assert copy_text(COLUMNS, []) == ""
