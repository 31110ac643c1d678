"""Bulk inserts as one statement over one JSON document, on PostgreSQL and SQLite.

A multi-row ``VALUES`` statement of 500 events carries 4,000 placeholders. psycopg re-parses
such a statement on every call (it is too large for its query cache) and SQLAlchemy runs a type
processor per placeholder: together they cost more than the insert itself. Instead the rows are
written as one JSON array by orjson (in C) and expanded by the database (``jsonb_to_recordset``
on PostgreSQL, ``json_each`` on SQLite), so the statement has one parameter and a fixed text,
built once per table, columns and conflict clause from the table's own column types.

Ids come from the sequence (rowid) in the order the ``SELECT`` produces rows, which is the input
order (``ORDER BY`` the array index); so the ids returned, sorted, follow the input. SQLAlchemy
relies on the same property for ``sort_by_parameter_order`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import UTCDateTime
from clarion.events.tables import events

EVENT_COLUMNS = (
    "workspace_id",
    "contact_id",
    "name",
    "properties",
    "occurred_at",
    "received_at",
    "message_id",
    "source",
)


@cache
def _statement(
    dialect: sa.Dialect,
    table: str,
    columns: tuple[str, ...],
    conflict: tuple[str, ...],
    returning: str,
) -> sa.TextClause:
    """Return ``INSERT INTO table (columns) SELECT ... FROM <document>`` for ``dialect``."""
    t = metadata.tables[table]
    names = ", ".join(columns)
    if dialect.name == "postgresql":
        types = ", ".join(f"{c} {t.c[c].type.compile(dialect=dialect)}" for c in columns)
        source = (
            f"SELECT {names} FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb)) "
            f"AS ({types})) WITH ORDINALITY AS t({names}, ord) ORDER BY ord"
        )
    else:
        picks = ", ".join(f"json_extract(value, '$.{c}')" for c in columns)
        # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
        source = f"SELECT {picks} FROM json_each(:rows) WHERE true ORDER BY key"
    sql = f"INSERT INTO {table} ({names}) {source}"
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {returning}"
    return sa.text(sql)


def _encoders(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str]
) -> dict[str, Callable[[Any], Any]]:
    """Return the column -> encoder of time columns on SQLite (as the column type binds them).

    PostgreSQL parses orjson's RFC 3339 text. SQLite stores times as text in SQLAlchemy's own
    format, and comparisons with rows written elsewhere need exactly that text, so the column
    type's own processor writes it.
    """
    if conn.dialect.name == "postgresql":
        return {}
    out: dict[str, Callable[[Any], Any]] = {}
    for c in columns:
        typ = table.c[c].type
        if isinstance(typ, (UTCDateTime, sa.DateTime)):
            process = typ.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            if process is not None:
                out[c] = process
    return out


def json_insert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    conflict: Sequence[str] = (),
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts keyed by column) in one statement; return the RETURNING rows.

    With ``conflict``, rows colliding on those columns are skipped (``ON CONFLICT DO NOTHING``)
    and return nothing.
    """
    if not rows:
        return []
    cols = tuple(columns)
    encode = _encoders(conn, table, cols)
    doc = orjson.dumps(
        [
            {c: (encode[c](r[c]) if c in encode and r[c] is not None else r[c]) for c in cols}
            for r in rows
        ],
        option=orjson.OPT_NON_STR_KEYS,
    ).decode()
    stmt = _statement(conn.dialect, table.name, cols, tuple(conflict), returning)
    result = conn.execute(stmt, {"rows": doc})
    return [tuple(r) for r in result] if returning else []


def insert_plain(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert event rows without message ids; return their ids in input order."""
    got = json_insert(conn, events, rows, EVENT_COLUMNS, returning="id")
    return sorted(int(r[0]) for r in got)


def insert_dedup(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert event rows with distinct message ids, skipping known ones; return (id, message_id)."""
    got = json_insert(
        conn,
        events,
        rows,
        EVENT_COLUMNS,
        conflict=("workspace_id", "message_id"),
        returning="id, message_id",
    )
    return [(int(r[0]), str(r[1])) for r in got]
