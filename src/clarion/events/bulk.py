"""PostgreSQL fast path for bulk event inserts: ``INSERT ... SELECT FROM jsonb_to_recordset``.

A multi-row ``VALUES`` statement of 500 rows carries 4,000 placeholders, and psycopg re-parses
such a statement on every call (it is too large for its query cache): that parse cost more than
the insert itself. Array parameters were next-slowest (psycopg escapes every element with a
regex). One JSON document, written by orjson in C and parsed by PostgreSQL, makes a statement of
constant size with one parameter, sent in one round trip. SQLite keeps SQLAlchemy's
``executemany`` path, which is cheap there.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

_COLUMNS = (
    "workspace_id, contact_id, name, properties, occurred_at, received_at, message_id, source"
)
_SELECT = f"""
INSERT INTO events ({_COLUMNS})
SELECT w, c, n, p, o, r, m, s
FROM ROWS FROM (
    jsonb_to_recordset(CAST(:rows AS jsonb)) AS (
        w bigint, c bigint, n text, p jsonb, o timestamptz, r timestamptz, m text, s text
    )
) WITH ORDINALITY AS t(w, c, n, p, o, r, m, s, ord)
ORDER BY ord
"""
_PLAIN = sa.text(_SELECT + "RETURNING id")
_DEDUP = sa.text(
    _SELECT + "ON CONFLICT (workspace_id, message_id) DO NOTHING RETURNING id, message_id"
)


def _document(rows: list[dict[str, Any]]) -> str:
    """Return the rows as one JSON array (orjson writes aware datetimes in RFC 3339)."""
    return orjson.dumps(
        [
            {
                "w": r["workspace_id"],
                "c": r["contact_id"],
                "n": r["name"],
                "p": r["properties"],
                "o": r["occurred_at"],
                "r": r["received_at"],
                "m": r["message_id"],
                "s": r["source"],
            }
            for r in rows
        ],
        option=orjson.OPT_NON_STR_KEYS,
    ).decode()


def pg_insert_plain(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows without message ids; return their ids in input order.

    Ids come from the sequence in the order the ``SELECT`` produces rows (``ORDER BY ord``), so
    sorting the returned ids restores the input order; SQLAlchemy relies on the same property
    for its ``sort_by_parameter_order`` on PostgreSQL.
    """
    return sorted(int(i) for i in conn.execute(_PLAIN, {"rows": _document(rows)}).scalars())


def pg_insert_dedup(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert rows with distinct message ids, skipping known ones; return (id, message_id)."""
    return [(int(i), str(m)) for i, m in conn.execute(_DEDUP, {"rows": _document(rows)}).all()]
