"""Test fixtures: one ``engine`` fixture parametrised over SQLite and PostgreSQL.

PostgreSQL: a database of its own per test session (so parallel runs never collide), migrated
once, every table truncated after each test. If it cannot be reached, the PostgreSQL half is
skipped loudly, except under ``CI=true`` where that fails the run.

SQLite: a migrated template file made once per session and copied for each test (a file copy
is much faster than migrating).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine

from clarion.api.app import create_app
from clarion.audit.service import Actor
from clarion.db import migrate
from clarion.db.engine import create_engine_for
from clarion.db.registry import load_all_tables
from clarion.workspaces.service import ensure_workspace

PG_ADMIN_URL = os.environ.get(
    "CLARION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b for b in os.environ.get("CLARION_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    eng = create_engine_for(f"sqlite:///{path}")
    migrate.upgrade(eng)
    eng.dispose()
    with contextlib.closing(sqlite3.connect(path)) as raw:  # fold the WAL into the file
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    admin = create_engine_for(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        msg = f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (CI=true: PostgreSQL is required)")
        warnings.warn(msg + " -- SKIPPING every PostgreSQL test", stacklevel=1)
        pytest.skip(msg)
    name = f"clarion_test_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_ADMIN_URL).set(database=name)
    eng = create_engine_for(url.render_as_string(hide_password=False), pool_size=5)
    migrate.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_all(eng: Engine) -> None:
    names = [t.name for t in load_all_tables().sorted_tables]
    with eng.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: SQLite or PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "clarion.db"
        shutil.copyfile(template, path)
        eng = create_engine_for(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        pg: Engine = request.getfixturevalue("pg_engine")
        try:
            yield pg
        finally:
            _truncate_all(pg)


@pytest.fixture
def workspace_id(engine: Engine) -> int:
    """The default workspace of the test database."""
    with engine.begin() as conn:
        return ensure_workspace(conn)


@pytest.fixture
def actor(workspace_id: int) -> Actor:
    """A CLI-like actor in the default workspace."""
    return Actor(workspace_id, "cli", "tester")


@pytest.fixture
def api_client(engine: Engine) -> Iterator[httpx.Client]:
    """Serve the API for ``engine`` on 127.0.0.1:<ephemeral port>; yield a client for it.

    The socket is bound and listening before the server thread starts, so requests queue in the
    backlog instead of racing the startup: no sleep, no polling.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
