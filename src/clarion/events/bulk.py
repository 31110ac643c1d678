"""Bulk event inserts as one statement over one JSON document, on PostgreSQL and SQLite.

A multi-row ``VALUES`` statement of 500 events carries 4,000 placeholders. psycopg re-parses
such a statement on every call (it is too large for its query cache) and SQLAlchemy runs a type
processor per placeholder: together they cost more than the insert itself. Instead the rows are
written as one JSON array by orjson (in C) and expanded by the database (``jsonb_to_recordset``
on PostgreSQL, ``json_each`` on SQLite), so the statement has one parameter and a fixed text.

Ids come from the sequence (rowid) in the order the ``SELECT`` produces rows, which is the input
order (``ORDER BY`` the array index); so the ids returned, sorted, follow the input. SQLAlchemy
relies on the same property for ``sort_by_parameter_order`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from clarion.events.tables import events

_COLUMNS = (
    "workspace_id, contact_id, name, properties, occurred_at, received_at, message_id, source"
)
_PG_SELECT = f"""
INSERT INTO events ({_COLUMNS})
SELECT w, c, n, p, o, r, m, s
FROM ROWS FROM (
    jsonb_to_recordset(CAST(:rows AS jsonb)) AS (
        w bigint, c bigint, n text, p jsonb, o timestamptz, r timestamptz, m text, s text
    )
) WITH ORDINALITY AS t(w, c, n, p, o, r, m, s, ord)
ORDER BY ord
"""
# "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
_SQLITE_SELECT = f"""
INSERT INTO events ({_COLUMNS})
SELECT json_extract(value, '$.w'), json_extract(value, '$.c'), json_extract(value, '$.n'),
       json_extract(value, '$.p'), json_extract(value, '$.o'), json_extract(value, '$.r'),
       json_extract(value, '$.m'), json_extract(value, '$.s')
FROM json_each(:rows) WHERE true
ORDER BY key
"""
_CONFLICT = "ON CONFLICT (workspace_id, message_id) DO NOTHING RETURNING id, message_id"
_STATEMENTS = {
    ("postgresql", False): sa.text(_PG_SELECT + "RETURNING id"),
    ("postgresql", True): sa.text(_PG_SELECT + _CONFLICT),
    ("sqlite", False): sa.text(_SQLITE_SELECT + "RETURNING id"),
    ("sqlite", True): sa.text(_SQLITE_SELECT + _CONFLICT),
}


def _stamp(conn: sa.Connection) -> Callable[[datetime], Any]:
    """Return how a time is written in the document: as the column type itself would bind it.

    PostgreSQL parses orjson's RFC 3339 text; SQLite stores the exact text SQLAlchemy writes
    (so comparisons with rows written elsewhere stay correct), so its own processor is used.
    """
    if conn.dialect.name == "postgresql":
        return lambda t: t
    process = events.c.occurred_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert process is not None
    return process


def _document(conn: sa.Connection, rows: list[dict[str, Any]]) -> str:
    """Return the rows as one JSON array."""
    stamp = _stamp(conn)
    return orjson.dumps(
        [
            {
                "w": r["workspace_id"],
                "c": r["contact_id"],
                "n": r["name"],
                "p": r["properties"],
                "o": stamp(r["occurred_at"]),
                "r": stamp(r["received_at"]),
                "m": r["message_id"],
                "s": r["source"],
            }
            for r in rows
        ],
        option=orjson.OPT_NON_STR_KEYS,
    ).decode()


def insert_plain(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows without message ids; return their ids in input order."""
    stmt = _STATEMENTS[(conn.dialect.name, False)]
    return sorted(int(i) for i in conn.execute(stmt, {"rows": _document(conn, rows)}).scalars())


def insert_dedup(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert rows with distinct message ids, skipping known ones; return (id, message_id)."""
    stmt = _STATEMENTS[(conn.dialect.name, True)]
    got = conn.execute(stmt, {"rows": _document(conn, rows)}).all()
    return [(int(i), str(m)) for i, m in got]
