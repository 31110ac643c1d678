"""Helpers of the SMPP socket tests: a simulator and a connector on an ephemeral port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, TypeVar

from clarion.channels.base import Inbound, OutboundMessage, Receipt
from clarion.channels.smpp.client import Connector
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one test scenario in a fresh event loop, failing it if it hangs."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds, checking every few milliseconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


class Reports:
    """What a connector reported back."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.mo: list[Inbound] = []


@asynccontextmanager
async def smsc(**settings: Any) -> AsyncIterator[SmscSimulator]:
    """Run a simulator on 127.0.0.1, any free port."""
    sim = SmscSimulator(SimulatorConfig(**settings))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def config_for(target: SmscSimulator | int, **settings: Any) -> ConnectorConfig:
    """Return a connector config pointing at a simulator (or a port) with quick timeouts."""
    base = ConnectorConfig(
        name="test",
        host="127.0.0.1",
        port=target if isinstance(target, int) else target.port,
        system_id="clarion",
        password="secret",
        submit_id_format="hex",
        receipt_id_format="hex",
        reconnect_min=0.02,
        reconnect_max=0.2,
        response_timeout=5.0,
        bind_timeout=2.0,
    )
    return replace(base, **settings)


@asynccontextmanager
async def connector(
    sim: SmscSimulator, reports: Reports | None = None, **settings: Any
) -> AsyncIterator[Connector]:
    """Run a connector against ``sim``, stopped (drained) at the end."""
    reports = reports or Reports()
    conn = Connector(config_for(sim, **settings), reports.receipts.append, reports.mo.append)
    await conn.start()
    try:
        yield conn
    finally:
        await conn.stop(drain=True, timeout=5)


def messages(count: int, prefix: str = "4477009", **fields: Any) -> list[OutboundMessage]:
    """Return ``count`` one-part messages to distinct numbers."""
    return [
        OutboundMessage(
            ref=f"m{i}", to=f"{prefix}{i:05d}", sender="Shop", segments=[b"hello"], **fields
        )
        for i in range(count)
    ]


Scenario = Callable[[], Awaitable[None]]
