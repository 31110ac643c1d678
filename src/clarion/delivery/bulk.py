"""Bulk statements through the driver's executemany, for the per-message hot paths.

SQLAlchemy's per-row parameter processing costs tens of microseconds; at thousands of messages
a second that is most of a core. These helpers hand plain tuples to the DB-API ``executemany``
(sqlite3 and psycopg both batch them), converting only what differs between the two databases:
the parameter style and how an aware UTC timestamp is stored (see ``clarion.db.types``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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
