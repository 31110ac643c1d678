"""The dialect-specific ``INSERT`` that understands ``ON CONFLICT`` on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def upsert_insert(conn: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """Return an ``INSERT`` on ``table`` for the connection's dialect, ready for ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(n: int, size: int) -> list[range]:
    """Return index ranges cutting ``n`` items into pieces of at most ``size``."""
    return [range(s, min(s + size, n)) for s in range(0, n, size)]
