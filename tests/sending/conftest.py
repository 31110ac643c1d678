"""Send-API fixtures: contacts, routes and an SMSC simulator with a connector towards it."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.delivery.channels import build_channels
from clarion.delivery.worker import Worker

_ROOT = Path(__file__).parent.parent
_spec = importlib.util.spec_from_file_location(
    "campaign_factories_for_sending", _ROOT / "campaigns" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
factories = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factories)
_dspec = importlib.util.spec_from_file_location(
    "delivery_fixtures_for_sending", _ROOT / "delivery" / "conftest.py"
)
assert _dspec is not None and _dspec.loader is not None
delivery = importlib.util.module_from_spec(_dspec)
_dspec.loader.exec_module(delivery)


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    """Factories for contacts (with SMS marketing consent) and routes."""
    return factories.Factory(engine, actor)


@pytest.fixture
def smsc(engine: Engine, actor: Actor) -> Iterator[Any]:
    """An SMSC simulator in a thread, a connector "sim" towards it and a route "main" over it."""
    sim = delivery.SimulatorThread()
    delivery.smpp_connector(engine, actor, "sim", sim.port, window=16)
    factories.add_route(engine, actor, "main", connector="sim")
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def run_worker() -> Callable[..., Worker]:
    """Return :func:`run_worker_until`."""
    return run_worker_until


def run_worker_until(
    engine: Engine, workspace_id: int, cond: Callable[[], bool], *, timeout: float = 20
) -> Worker:
    """Run an in-process worker over the workspace's connectors until ``cond`` holds."""
    worker = Worker(engine, workspace_id=workspace_id, lease_ttl=5)
    with engine.connect() as conn:
        for name, channel in build_channels(conn, workspace_id, worker.on_report).items():
            worker.add_channel(name, channel)

    async def go() -> None:
        deadline = time.monotonic() + timeout
        await worker.start()
        try:
            while not cond():
                if time.monotonic() > deadline:
                    raise AssertionError("timed out waiting for the worker")
                if not await worker.step():
                    await worker.sweep()
                    await asyncio.sleep(0.02)
        finally:
            await worker.close()

    asyncio.run(go())
    return worker


@pytest.fixture
def key(engine: Engine, actor: Actor) -> Callable[..., dict[str, str]]:
    """Return a function making an API key with the given scopes, as request headers."""
    from clarion.workspaces.service import create_api_key

    def make_key(*scopes: str) -> dict[str, str]:
        with engine.begin() as conn:
            token = create_api_key(conn, actor, "test", list(scopes))[1]
        return {"Authorization": f"Bearer {token}"}

    return make_key
