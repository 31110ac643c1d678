"""Delivery test fixtures: the campaign factories and an in-process loopback channel."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.base import OutboundMessage, Receipt, ReportCallback, SendResult

_spec = importlib.util.spec_from_file_location(
    "campaign_factories", Path(__file__).parent.parent / "campaigns" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_factories = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_factories)


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    """Factories for contacts, routes and campaigns in the test database."""
    return _factories.Factory(engine, actor)


class LoopbackChannel:
    """A real in-process channel with outcomes decided by the destination.

    ``+1999...`` fails permanently, ``+1888...`` fails transiently, ``+1777...`` is accepted and
    then reported UNDELIV; everything else is accepted and DELIVRD. ``fail_all`` fails every
    message permanently (a broken route); ``down`` makes send raise (a connector that is down).
    ``before_send`` runs before each batch (a test's hook for "meanwhile ...").
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        name: str,
        on_report: ReportCallback,
        *,
        fail_all: bool = False,
        down: bool = False,
        receipts: bool = True,
        before_send: Callable[[Sequence[OutboundMessage]], None] | None = None,
    ) -> None:
        self.name = name
        self.on_report = on_report
        self.fail_all = fail_all
        self.down = down
        self.receipts = receipts
        self.before_send = before_send
        self.sent: list[OutboundMessage] = []
        self.opened = False

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        if self.before_send is not None:
            self.before_send(batch)
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        out: list[SendResult] = []
        for m in batch:
            if self.fail_all or m.to.startswith("+1999"):
                out.append(SendResult.failed(m.ref, permanent=True, code="ESME_RINVDSTADR"))
                continue
            if m.to.startswith("+1888"):
                out.append(SendResult.failed(m.ref, permanent=False, code="ESME_RSYSERR"))
                continue
            self.sent.append(m)
            pid = f"{self.name}-{next(self._ids)}"
            out.append(SendResult.submitted(m.ref, [pid]))
            if self.receipts:
                state = "UNDELIV" if m.to.startswith("+1777") else "DELIVRD"
                self.on_report(Receipt(pid, state, final=True, connector=self.name))
        return out


@pytest.fixture
def loopback() -> type[LoopbackChannel]:
    return LoopbackChannel


class SimulatorThread:
    """The SMSC simulator in a thread of its own, for workers in other processes."""

    def __init__(self, **config: Any) -> None:
        import asyncio
        import threading

        from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = SmscSimulator(SimulatorConfig(**config))
        self.port = asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)

    def destinations(self) -> list[str]:
        """Return the destination of every submit_sm accepted so far."""
        import asyncio

        async def read() -> list[str]:
            return [str(p.fields.get("destination_addr", "")) for _, _, p in self.sim.messages]

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(10)

    def stop(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def smsc_thread() -> Any:
    sims: list[SimulatorThread] = []

    def start(**config: Any) -> SimulatorThread:
        sims.append(SimulatorThread(**config))
        return sims[-1]

    yield start
    for s in sims:
        s.stop()


def smpp_connector(engine: Engine, actor: Actor, name: str, port: int, **options: Any) -> None:
    """Configure an SMPP connector named ``name`` towards a simulator on ``port``."""
    from clarion.channels.smpp.service import create_connector

    values = {"host": "127.0.0.1", "port": port, "system_id": "clarion", "password": "secret"}
    with engine.begin() as conn:
        create_connector(conn, actor, name, {**values, **options})


@pytest.fixture
def connector() -> Any:
    return smpp_connector
