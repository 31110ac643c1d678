"""Bulk writes without SQLAlchemy's per-row parameter processing.

For tens of thousands of rows, SQLAlchemy's per-row work (building each parameter set and
running each value through its type) costs more than the database does. Here the statement is
compiled once, the few columns whose type converts values (timestamps, JSON) are converted
with the type's own bind processor, and the rows go to the driver's ``executemany`` as they are.
The result in the database is identical to ``conn.execute(table.insert(), rows)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


def executemany(
    conn: sa.Connection, stmt: sa.Insert, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Execute ``stmt`` (an INSERT on ``table``) once per row in one driver ``executemany``."""
    if not rows:
        return
    keys = list(rows[0].keys())
    compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
    processors = {}
    for key in keys:
        proc = table.c[key].type.bind_processor(conn.dialect)
        if proc is not None:
            processors[key] = proc
    if compiled.positiontup is not None:  # qmark / numeric paramstyles (SQLite)
        order = list(compiled.positiontup)
        params: list[Any] = [
            tuple(
                processors[k](row[k]) if k in processors and row[k] is not None else row[k]
                for k in order
            )
            for row in rows
        ]
    else:  # named / pyformat paramstyles (psycopg)
        params = [
            {
                k: processors[k](v) if k in processors and v is not None else v
                for k, v in row.items()
            }
            for row in rows
        ]
    conn.exec_driver_sql(compiled.string, params)
