"""SQL helpers shared by every feature's set-based queries."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def in_values(
    conn: sa.Connection, column: sa.ColumnElement[object], values: Sequence[int] | Sequence[str]
) -> sa.ColumnElement[bool]:
    """Return ``column IN values`` for a chunk of thousands of values, cheaply and safely.

    A plain ``IN (...)`` of 5,000 ids binds 5,000 parameters, and compiling them cost more
    than running the query. On PostgreSQL integer ids go in as an array *literal*
    (``= ANY('{1,2}'::bigint[])``): a constant array lets the planner hash it (PG 14+), where
    a bound array becomes, once the driver prepares the statement and the server switches to
    a generic plan, a linear search of the whole array for every row scanned. Text values, and
    on SQLite all values, travel as one JSON parameter read by ``json_array_elements_text`` /
    ``json_each`` (psycopg would quote each element of a text array in Python).
    """
    if not values:
        return sa.false()
    if conn.dialect.name == "postgresql":
        if isinstance(values[0], int):
            ints = ",".join(map(str, map(int, values)))  # int(): nothing but digits inlined
            return column == sa.any_(sa.literal_column(f"'{{{ints}}}'::bigint[]"))
        # Text goes as one JSON parameter: orjson writes it in C, where psycopg quotes each
        # element of a text array in Python (a regular-expression test per value).
        doc = sa.cast(sa.bindparam(None, orjson.dumps(list(values)).decode()), postgresql.JSON)
        elements = sa.func.json_array_elements_text(doc).table_valued("value")
        return column.in_(sa.select(elements.c.value))
    if conn.dialect.name == "sqlite":
        each = sa.func.json_each(sa.bindparam(None, orjson.dumps(list(values)).decode()))
        return column.in_(sa.select(each.table_valued("value").c.value))
    return column.in_(list(values))
