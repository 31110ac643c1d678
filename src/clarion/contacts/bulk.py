"""Bulk writes without SQLAlchemy's per-row parameter processing.

For tens of thousands of rows, SQLAlchemy's per-row work (building each parameter set and
running each value through its type) costs more than the database does. Here the statement is
compiled once, the few columns whose type converts values (timestamps, JSON) are converted
with the type's own bind processor, and the rows go to the driver's ``executemany`` as they are.
The result in the database is identical to ``conn.execute(table.insert(), rows)``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def executemany(
    conn: sa.Connection, stmt: sa.Insert, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Execute ``stmt`` (an INSERT on ``table``) once per row in one driver ``executemany``."""
    if not rows:
        return
    keys = list(rows[0].keys())
    # inline(): no RETURNING of the new key, which PostgreSQL's compiler would otherwise add.
    compiled = stmt.inline().compile(dialect=conn.dialect, column_keys=keys)
    processors: dict[str, Any] = {}
    for key in keys:
        column_type = table.c[key].type
        if isinstance(column_type, sa.JSON):
            # JSON text; the statement casts it (JSONB on PostgreSQL, text on SQLite).
            processors[key] = _json_text
            continue
        proc = column_type.bind_processor(conn.dialect)
        if proc is not None:
            processors[key] = proc
    columns = list(compiled.positiontup) if compiled.positiontup is not None else keys
    get = operator.itemgetter(*columns)
    values = [get(row) for row in rows] if len(columns) > 1 else [(get(row),) for row in rows]
    for pos, key in enumerate(columns):
        proc = processors.get(key)
        if proc is None:
            continue
        memo: dict[Any, Any] = {}
        for i, row_values in enumerate(values):
            value = row_values[pos]
            if value is None:
                continue
            if isinstance(value, datetime):  # usually one timestamp for the whole batch
                done = memo.get(value)
                if done is None:
                    done = memo[value] = proc(value)
            else:
                done = proc(value)
            values[i] = (*row_values[:pos], done, *row_values[pos + 1 :])
    if compiled.positiontup is not None:  # qmark / numeric paramstyles (SQLite)
        params: list[Any] = values
    else:  # named / pyformat paramstyles (psycopg)
        params = [dict(zip(columns, v, strict=True)) for v in values]
    conn.exec_driver_sql(compiled.string, params)
