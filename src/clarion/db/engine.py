"""Engine creation: SQLite in WAL mode for the embedded default, a pooled PostgreSQL otherwise.

SQLite needs a few pragmas on every connection to behave as a multi-process work queue:
WAL (readers never block the writer), a busy timeout (writers wait instead of failing),
foreign keys on, and ``synchronous=NORMAL`` which is durable across process crashes in WAL mode.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine

from clarion.config import get_settings


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy manage transactions explicitly (BEGIN issued by us, not pysqlite).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking on a
    # read-to-write upgrade. A connection opened with ``readonly=True`` (see ``read_only``) begins
    # DEFERRED instead: in WAL mode it then neither waits for nor blocks any writer.
    if conn.get_execution_options().get("readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class _SQLiteHintCompiler(SQLiteCompiler):
    """SQLite's compiler, rendering ``select.with_hint(table, "INDEXED BY ix", "sqlite")``.

    SQLAlchemy drops FROM hints on SQLite. Without statistics (the outbox is never analysed
    mid-campaign) SQLite takes any index with an equality on its first column as the best,
    so a claim ``WHERE status = 'queued' ... ORDER BY send_at LIMIT n`` walked every queued
    row through ``ix_messages_open (status, campaign_id)`` and sorted them all, for every batch
    (a million rows at the start of a large campaign), instead of reading the first n of the
    partial ``ix_messages_due (send_at)``. ``INDEXED BY`` is SQLite's documented way to say
    which index a statement must use.
    """

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def create_engine_for(url: str, *, pool_size: int = 10) -> Engine:
    """Return an engine for ``url`` configured for Clarion's use of that database."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        engine.dialect.statement_compiler = _SQLiteHintCompiler
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int) -> Engine:
    return create_engine_for(url, pool_size=pool_size)


def get_engine() -> Engine:
    """Return the process-wide engine for the configured database."""
    s = get_settings()
    return _engine_for(s.url, s.db_pool_size)


def read_only(engine: Engine) -> sa.Connection:
    """Return a connection for reads only: on SQLite it never takes the write lock.

    Use it as ``with read_only(engine) as conn: ...``; writing through it on SQLite may fail with
    "database is locked", which is the point: it is for reads.
    """
    return engine.connect().execution_options(readonly=True)


def is_sqlite(bind: sa.Connection | Engine) -> bool:
    """Return whether ``bind`` talks to SQLite."""
    return bind.dialect.name == "sqlite"


def is_postgres(bind: sa.Connection | Engine) -> bool:
    """Return whether ``bind`` talks to PostgreSQL."""
    return bind.dialect.name == "postgresql"
