"""What several benchmarks share: where PostgreSQL is, and scratch databases to measure in."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.db import migrate
from clarion.db.engine import create_engine_for

PG_ADMIN_URL = os.environ.get(
    "CLARION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pg_reachable() -> bool:
    """Return whether the PostgreSQL server of PG_ADMIN_URL answers."""
    eng = sa.create_engine(PG_ADMIN_URL)
    try:
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        eng.dispose()


@contextmanager
def scratch_url(kind: str) -> Iterator[str]:
    """Yield the URL of a fresh, empty database of ``kind``; remove it afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"clarion_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_engine(kind: str, *, pool_size: int = 4) -> Iterator[Engine]:
    """Yield a migrated engine on a fresh database of ``kind``; remove it afterwards."""
    with scratch_url(kind) as url:
        eng = create_engine_for(url, pool_size=pool_size)
        try:
            migrate.upgrade(eng)
            yield eng
        finally:
            eng.dispose()
