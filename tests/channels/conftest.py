"""Fixtures of the channel tests: the API on a loopback socket, an SMSC simulator, a config."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from clarion.api.app import create_app


@pytest.fixture
def api(engine: Engine) -> Iterator[httpx.Client]:
    """Yield a client of the API served from ``engine`` on an ephemeral loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
