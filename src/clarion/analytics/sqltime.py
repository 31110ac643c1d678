"""Time arithmetic in SQL that means the same on SQLite and PostgreSQL.

Timestamps are ``timestamptz`` on PostgreSQL and ISO text on SQLite (see ``clarion.db.types``),
so "seconds between two times" and "the hour a time falls in" need one expression per dialect.
Both give seconds since the Unix epoch as a float.
"""

from __future__ import annotations

import sqlalchemy as sa


def epoch_sql(conn: sa.Connection, column: str) -> str:
    """Return SQL text for ``column`` as seconds since 1970-01-01 UTC."""
    if conn.dialect.name == "sqlite":
        return f"((julianday({column}) - 2440587.5) * 86400.0)"
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"


def floor_sql(conn: sa.Connection, column: str, seconds: int) -> str:
    """Return SQL text for the start (epoch seconds) of ``column``'s ``seconds``-long bucket."""
    e = epoch_sql(conn, column)
    if conn.dialect.name == "sqlite":
        return f"(CAST({e} / {seconds} AS INTEGER) * {seconds})"
    return f"(FLOOR({e} / {seconds}) * {seconds})"
