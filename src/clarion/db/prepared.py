"""Run the send path's few statements on the DBAPI cursor, compiled once per dialect.

``Connection.execute`` spends about 100 us of CPU per statement building an execution
context (parameter processing, events, a result object) around a query SQLite answers in 10;
a send runs two statements, at 500 sends a second on two cores that is a tenth of the budget.
A :class:`Prepared` statement is compiled by SQLAlchemy once per dialect (and set of insert
columns), so the SQL text, the literal parameters and the type processors (bind and result)
are SQLAlchemy's own; only the per-call bookkeeping is skipped. It runs on the connection's
DBAPI connection, so inside the caller's transaction. psycopg prepares a statement it sees
repeatedly on its own, so PostgreSQL plans it once per connection.

What is not supported falls back to ``Connection.execute``: inserts needing Python-side
column defaults the caller did not give. A write still fires the ``after_execute`` event (with
no result object), so listeners such as the in-process caches' (:mod:`clarion.compliance.cache`)
see it; ``before_cursor_execute`` and ``after_cursor_execute`` are not fired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any]


@dataclass(slots=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # positional paramstyle: the order of the names
    base: dict[str, Any]  # every parameter with its literal value (processed)
    binds: dict[str, Processor]  # per-call parameters' bind processors
    template: list[Any]  # positional: the arguments with the literals in place
    fill: tuple[tuple[int, str, Processor | None], ...]  # positional: where each parameter goes
    keys: tuple[str, ...] = ()  # result keys, in column order
    results: list[Processor | None] | None = None  # result processors, set on first rows
    result_types: tuple[Any, ...] = ()


class Prepared:
    """A Core statement run with SQLAlchemy's compiled text and type processing, minus the rest.

    ``params`` are the statement's bind names (for an insert without ``values()``: the column
    keys, as ``Connection.execute(insert, {...})`` takes them).
    """

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled | None] = {}
        self._dml = isinstance(statement, UpdateBase)

    def _compile(self, dialect: Dialect, keys: frozenset[str]) -> _Compiled | None:
        stmt: Any = self.statement
        comp: Any = stmt.compile(dialect=dialect, column_keys=sorted(keys) if self._dml else None)
        if getattr(comp, "insert_prefetch", None) or getattr(comp, "update_prefetch", None):
            return None  # Python-side defaults to evaluate: leave it to SQLAlchemy
        sql = str(comp)
        if "POSTCOMPILE" in sql:
            return None  # rendered at execution (expanding IN, literal_execute): SQLAlchemy's
        procs: dict[str, Processor] = {
            k: p for k, p in comp._bind_processors.items() if p is not None
        }
        base = dict(comp.construct_params(_check=False))
        binds: dict[str, Processor] = {}
        for name, value in base.items():
            if name in keys:
                if name in procs:
                    binds[name] = procs[name]
            elif name in procs:
                base[name] = procs[name](value)
        order = tuple(comp.positiontup) if comp.positional else None
        template = [base[k] for k in order or ()]
        fill = tuple((i, k, binds.get(k)) for i, k in enumerate(order or ()) if k in keys)
        result_keys = tuple(c[0] for c in comp._result_columns)
        types = tuple(c[3] for c in comp._result_columns)
        return _Compiled(sql, order, base, binds, template, fill, result_keys, None, types)

    def _prepare(
        self, conn: sa.Connection, params: Mapping[str, Any]
    ) -> tuple[_Compiled | None, Any]:
        key = (conn.dialect.name, frozenset(params))
        try:
            c = self._compiled[key]
        except KeyError:
            c = self._compiled[key] = self._compile(conn.dialect, key[1])
        if c is None:
            return None, None
        if c.order is not None:
            args = c.template.copy()
            for i, name, proc in c.fill:
                args[i] = params[name] if proc is None else proc(params[name])
            return c, args
        p = dict(c.base)
        for name, value in params.items():
            proc = c.binds.get(name)
            p[name] = value if proc is None else proc(value)
        return c, p

    def _cursor(self, conn: sa.Connection, c: _Compiled, args: Any) -> Any:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        cur.execute(c.sql, args)
        if self._dml:
            for listen in conn.dispatch.after_execute:
                listen(conn, self.statement, (), dict(args) if c.order is None else {}, {}, None)
        return cur

    def first(self, conn: sa.Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the first row as a dict keyed like ``.mappings()``, or None."""
        c, args = self._prepare(conn, params)
        if c is None:
            row = conn.execute(self.statement, dict(params)).mappings().first()
            return None if row is None else dict(row)
        cur = self._cursor(conn, c, args)
        try:
            raw = cur.fetchone()
            if raw is None:
                return None
            if c.results is None:
                c.results = _result_processors(conn.dialect, c.result_types, cur.description)
            return {
                k: v if p is None else p(v) for k, p, v in zip(c.keys, c.results, raw, strict=True)
            }
        finally:
            cur.close()

    def all(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Return every row as a plain tuple, in the statement's column order.

        Only the columns whose type has a result processor are touched; the rest come as the
        driver gave them, so a chunk of thousands of rows costs one driver fetch.
        """
        c, args = self._prepare(conn, params)
        if c is None:
            return [tuple(r) for r in conn.execute(self.statement, dict(params))]
        cur = self._cursor(conn, c, args)
        try:
            raw = cur.fetchall()
            if c.results is None:
                c.results = _result_processors(conn.dialect, c.result_types, cur.description)
        finally:
            cur.close()
        procs = [(i, p) for i, p in enumerate(c.results) if p is not None]
        if not procs:
            return raw if isinstance(raw, list) else list(raw)
        out = []
        for r in raw:
            row = list(r)
            for i, p in procs:
                row[i] = p(row[i])
            out.append(tuple(row))
        return out

    def scalar(self, conn: sa.Connection, params: Mapping[str, Any]) -> Any:
        """Return the first column of the first row (an insert's RETURNING id), or None."""
        row = self.first(conn, params)
        return None if row is None else next(iter(row.values()))


def _result_processors(
    dialect: Dialect, types: tuple[Any, ...], description: Any
) -> list[Processor | None]:
    return [
        t._cached_result_processor(dialect, d[1]) for t, d in zip(types, description, strict=True)
    ]
