"""SQL helpers shared by the compliance queries."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def in_values(
    conn: sa.Connection, column: sa.ColumnElement[object], values: Sequence[int] | Sequence[str]
) -> sa.ColumnElement[bool]:
    """Return ``column IN values`` passed as ONE parameter (an array, or JSON on SQLite).

    A plain ``IN (...)`` of 5,000 ids binds 5,000 parameters, and compiling them cost more
    than running the query; one array parameter keeps the statement the same size whatever
    the chunk, and ``= ANY(array)`` still uses the index on PostgreSQL.
    """
    if not values:
        return sa.false()
    if conn.dialect.name == "postgresql":
        numbers = isinstance(values[0], int)
        item = postgresql.ARRAY(sa.BigInteger() if numbers else sa.Text())
        arr = sa.bindparam(None, list(values), type_=item)
        return column == sa.any_(arr)
    if conn.dialect.name == "sqlite":
        each = sa.func.json_each(sa.bindparam(None, orjson.dumps(list(values)).decode()))
        return column.in_(sa.select(each.table_valued("value").c.value))
    return column.in_(list(values))
