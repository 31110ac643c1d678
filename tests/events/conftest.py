"""A real API server on a loopback socket with an ephemeral port, and an httpx client for it."""

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
def client(engine: Engine) -> Iterator[httpx.Client]:
    """Serve the API for ``engine`` on 127.0.0.1:<ephemeral> and yield a client bound to it.

    The socket is bound and listening before the server thread starts, so requests queue in
    the backlog instead of racing the startup: no sleep, no polling.
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
