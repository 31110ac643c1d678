"""Inbound test fixtures: the campaign factories, and a worker bound to the SMSC simulator."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.smpp.client import Connector
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator
from clarion.delivery.worker import Worker
from clarion.inbound.tables import inbound_messages

_spec = importlib.util.spec_from_file_location(
    "campaign_factories_inbound", Path(__file__).parent.parent / "campaigns" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
factories = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factories)


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    """Factories for contacts (with consent), routes and campaigns."""
    return factories.Factory(engine, actor)


class Live:
    """An SMSC simulator and an in-process worker with an SMPP connector bound to it.

    Everything runs in one event loop: ``until`` steps the worker (send, receipts, inbound
    handlers, periodic jobs) until a condition on the database holds.
    """

    def __init__(self, engine: Engine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor
        self.sim = SmscSimulator(SimulatorConfig())
        self.worker: Worker | None = None

    async def start(self, connector: str = "sim") -> None:
        port = await self.sim.start()
        from clarion.channels.smpp.service import create_connector

        with self.engine.begin() as conn:  # the MO's workspace is found from this connector
            create_connector(
                conn,
                self.actor,
                connector,
                {"host": "127.0.0.1", "port": port, "system_id": "clarion", "password": "secret"},
            )
        # workspace_id=None: the worker serves every workspace, as in a shared deployment
        self.worker = Worker(self.engine, workspace_id=None, batch_size=100, lease_ttl=5)
        cfg = ConnectorConfig(connector, "127.0.0.1", port, "clarion", "secret", window=10)
        self.worker.add_channel(connector, Connector(cfg, on_report=self.worker.on_report))
        await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.close()
        await self.sim.stop()

    async def until(self, cond: Callable[[], bool], timeout: float = 20.0) -> None:
        """Step the worker until ``cond()`` holds, or fail after ``timeout`` seconds."""
        assert self.worker is not None
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            sent = await self.worker.step()
            await self.worker.run_hooks(force=True)
            if not sent:
                await self.worker.sweep()
                await asyncio.sleep(0.02)  # receipts and MOs are on their way

    def texts_to(self, phone: str) -> list[str]:
        """Return the texts the SMSC accepted for ``phone`` (single-part UCS-2 or GSM)."""
        out = []
        for _, _, pdu in self.sim.messages:
            if pdu.fields.get("destination_addr") != phone.lstrip("+"):
                continue
            raw = pdu.fields.get("short_message", b"")
            dcs = pdu.fields.get("data_coding", 0)
            out.append(raw.decode("utf-16-be") if dcs == 8 else raw.decode("latin-1"))
        return out

    def handled(self, n: int) -> bool:
        """Return whether at least ``n`` MOs have been handled."""
        with self.engine.connect() as conn:
            got = conn.execute(
                sa.select(sa.func.count())
                .select_from(inbound_messages)
                .where(inbound_messages.c.status == "handled")
            ).scalar_one()
        return int(got) >= n


@pytest.fixture
def live(engine: Engine, actor: Actor) -> Callable[[], Live]:
    """Return a factory of :class:`Live` (started inside the test's event loop)."""
    return lambda: Live(engine, actor)
