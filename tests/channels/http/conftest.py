"""Fixtures of the HTTP provider contract tests: a local server per provider, a campaign path.

Each provider's fake (``fakes.py``) is a Starlette app served by uvicorn on 127.0.0.1 that
checks requests the way the provider documents (auth or signature, required parameters),
answers success or each error class by destination number, remembers what it accepted, and
posts (signed) status callbacks and inbound messages to Clarion's callback endpoints.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from clarion.audit.service import Actor
from clarion.delivery.tables import messages
from clarion.delivery.worker import Worker


class Served:
    """A Starlette app on an ephemeral loopback port."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], str]]:
    """Serve apps on loopback for the test; return each one's base URL."""
    started: list[Served] = []

    def start(app: Starlette) -> str:
        started.append(Served(app))
        return started[-1].url

    yield start
    for s in started:
        s.stop()


def drain(worker: Worker, rounds: int = 20) -> None:
    """Run the worker until nothing is due."""

    async def go() -> None:
        await worker.start()
        for _ in range(rounds):
            if not await worker.step():
                break
        await worker.close()

    asyncio.run(go())


def statuses(engine: Engine) -> dict[str, str]:
    """Return every outbox message's status by destination."""
    with engine.connect() as conn:
        return {
            str(d): str(s)
            for d, s in conn.execute(sa.select(messages.c.destination, messages.c.status))
        }


def add_connector(engine: Engine, actor: Actor, name: str, kind: str, **values: Any) -> Any:
    """Create a connector and return its row as the API shows it."""
    from clarion.channels.service import create_connector

    with engine.begin() as conn:
        return create_connector(conn, actor, name, kind, values)


_spec = importlib.util.spec_from_file_location(
    "campaign_factories_http", Path(__file__).parent.parent.parent / "campaigns" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_factories = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_factories)


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    """Factories for contacts, routes and campaigns in the test database."""
    return _factories.Factory(engine, actor)
