"""The templates API served on a loopback socket (ephemeral port) with an authorised client."""

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
from clarion.workspaces.service import create_api_key


@pytest.fixture
def api(engine: Engine) -> Iterator[httpx.Client]:
    """Yield a client for the API served from ``engine``; the listening socket exists first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
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


def bearer(engine: Engine, actor: Actor, *scopes: str) -> dict[str, str]:
    """Return the Authorization header of a new API key holding ``scopes``."""
    with engine.begin() as conn:
        _, token = create_api_key(conn, actor, "test", list(scopes))
    return {"Authorization": f"Bearer {token}"}
