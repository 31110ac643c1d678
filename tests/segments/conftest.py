"""Fixtures for segment tests: the API on a loopback socket, the CLI on the test database."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from clarion.api.app import create_app
from clarion.audit.service import Actor
from clarion.config import get_settings
from clarion.workspaces.service import create_api_key


@pytest.fixture
def api(engine: Engine) -> Iterator[httpx.Client]:
    """Serve the API for ``engine`` on 127.0.0.1 at an ephemeral port; yield a client.

    The socket listens before the server thread starts, so the first request waits in the
    backlog rather than racing the start-up.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def token(engine: Engine, actor: Actor) -> str:
    """An API key holding segments:read and segments:write."""
    with engine.begin() as conn:
        return create_api_key(conn, actor, "segments", ["segments:read", "segments:write"])[1]


@pytest.fixture
def cli_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the ``clarion`` command line at the test database."""
    from clarion.db.engine import get_engine

    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_engine().dispose()
        get_settings.cache_clear()
