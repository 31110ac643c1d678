"""Bulk statements through the driver's executemany, for the per-message hot paths.

SQLAlchemy's per-row parameter processing costs tens of microseconds; at thousands of messages
a second that is most of a core. These helpers hand plain tuples to the DB-API ``executemany``
(sqlite3 and psycopg both batch them), converting only what differs between the two databases:
the parameter style and how an aware UTC timestamp is stored (see ``clarion.db.types``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        # The same text SQLAlchemy's SQLite DateTime writes, so reads and comparisons agree.
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def db_time(conn: sa.Connection, value: datetime) -> Any:
    """Return ``value`` as the driver should receive it (for rows given with ``convert=False``)."""
    return _sqlite_value(value) if conn.dialect.name == "sqlite" else value


def executemany(
    conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]], *, convert: bool = True
) -> int:
    """Run ``sql`` (with ``?`` placeholders) once per row in one driver call; return rowcount.

    With ``convert=False`` the rows are passed as they are (timestamps already through
    :func:`db_time`), which saves a pass over every value.
    """
    if not rows:
        return 0
    if conn.dialect.name == "sqlite" and convert:
        memo: dict[datetime, str] = {}  # most rows share one timestamp: convert it once

        def value(v: Any) -> Any:
            if isinstance(v, datetime):
                if v not in memo:
                    memo[v] = _sqlite_value(v)
                return memo[v]
            return v

        params: Sequence[Sequence[Any]] = [tuple(value(v) for v in r) for r in rows]
    else:
        params = rows
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def update_by_id(
    conn: sa.Connection,
    table: str,
    set_sql: str,
    where_sql: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
) -> int:
    """Update many rows, each by its own values, in one statement (PostgreSQL) or one
    executemany (SQLite); return how many rows changed.

    ``columns`` names and PostgreSQL-types the values of each row, the first being the id;
    timestamps must already be converted with :func:`db_time`.
    ``set_sql`` and ``where_sql`` refer to them as ``v.<name>`` and to the table as ``t``.
    """
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        # The rows travel as one JSON array of arrays: orjson writes it in C, where binding one
        # array per column had psycopg dump every value in Python (a third of the worker's
        # write-back CPU). Timestamps become RFC 3339 text, which timestamptz reads exactly.
        values = ", ".join(f"(e->>{i})::{t} AS {n}" for i, (n, t) in enumerate(columns))
        # The ids again as a constant array: the planner then fetches the rows by primary key
        # (it cannot know how many rows the JSON holds). Left to the join alone it may read
        # every row in the state ``where_sql`` names, or the whole table.
        ids = ",".join(str(int(r[0])) for r in rows)  # int(): nothing but digits inlined
        sql = (
            f"UPDATE {table} AS t SET {set_sql}"
            f" FROM (SELECT {values} FROM json_array_elements(%s::json) AS e) AS v"
            f" WHERE t.id = ANY('{{{ids}}}'::bigint[]) AND t.id = v.id AND {where_sql}"
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, [orjson.dumps(rows).decode()], prepare=False)
            return int(cursor.rowcount)
        finally:
            cursor.close()
    # SQLite: correlated form per row, values by position.
    order = [name for name, _ in columns]

    def positional(text: str, used: list[str]) -> str:
        def sub(m: re.Match[str]) -> str:
            used.append(m.group(1))
            return "?"

        return re.sub(r"\bv\.(\w+)\b", sub, text)

    used: list[str] = []
    set_q = positional(set_sql, used)
    where_used: list[str] = []
    where_q = positional(where_sql, where_used)
    sql = f"UPDATE {table} AS t SET {set_q} WHERE t.id = ? AND {where_q}"
    index = {n: i for i, n in enumerate(order)}
    seq = [*used, "id", *where_used]
    # Values come converted (see db_time): skip the conversion pass.
    return executemany(conn, sql, [tuple(r[index[n]] for n in seq) for r in rows], convert=False)


def insert_rows(
    conn: sa.Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str = "",
) -> None:
    """Insert many rows: one ``INSERT ... SELECT FROM unnest(arrays)`` on PostgreSQL (one
    statement, one parameter per column), one executemany on SQLite.

    ``columns`` names and PostgreSQL-types each column; ``on_conflict`` is appended as is
    (e.g. ``ON CONFLICT (a, b) DO NOTHING``). Timestamps come converted with :func:`db_time`.
    """
    if not rows:
        return
    names = ", ".join(n for n, _ in columns)
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{t}[]" for _, t in columns)
        sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {on_conflict}"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, [list(col) for col in zip(*rows, strict=True)])
        finally:
            cursor.close()
        return
    marks = ", ".join("?" for _ in columns)
    executemany(
        conn, f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows, convert=False
    )


#: COPY text escapes (PostgreSQL's text format): backslash, tab, newline, carriage return.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> str:
    """Return ``rows`` as the text of a ``COPY ... FROM STDIN`` (PostgreSQL's text format).

    ``columns`` names and PostgreSQL-types each value, which picks its conversion; the work
    goes column by column, mostly in C (``map``, ``join``), and a text column is escaped only
    when the batch holds a character to escape. psycopg's ``write_row`` dumps value by value,
    with the GIL held: in the planner's writer thread that was 15 of its 21 s of CPU for 1M
    messages, taken from the thread deciding the next chunk. About three times cheaper.
    """
    if not rows:
        return ""
    out: list[Sequence[str]] = []
    for (_, kind), values in zip(columns, zip(*rows, strict=True), strict=True):
        if kind == "timestamptz":
            memo: dict[Any, str] = {}  # a chunk's rows share a few instants
            out.append(["\\N" if v is None else memo.get(v) or memo.setdefault(v, v.isoformat())
                        for v in values])  # fmt: skip
        elif kind == "bool":
            out.append(["\\N" if v is None else "t" if v else "f" for v in values])
        elif kind == "text":
            texts = ["\\N" if v is None else v for v in values]
            joined = "".join([v for v in values if v is not None])
            if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
                texts = ["\\N" if v is None else v.translate(_COPY_ESCAPES) for v in values]
            out.append(texts)
        elif None in values:
            out.append(["\\N" if v is None else str(v) for v in values])
        else:
            out.append(list(map(str, values)))
    return "\n".join(map("\t".join, zip(*out, strict=True))) + "\n"
