"""Reliability over the real SMPP simulator: a killed worker, a dropped link, a throttling SMSC,
a route that fails everything, and a cancel in the middle of a send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.delivery.tables import messages

WORKER = "from clarion.cli.main import main; main()"


def _spawn_worker(engine: Engine, lease_ttl: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLARION_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "CLARION_ENVIRONMENT": "test",
    }
    args = [
        "worker",
        "--lease-ttl",
        str(lease_ttl),
        "--batch-size",
        "200",
        "--log-level",
        "WARNING",
    ]
    return subprocess.Popen([sys.executable, "-c", WORKER, *args], env=env)


def _wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # another process's progress: nothing in this one to await


def _by_status(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
        )
        return Counter({str(s): int(n) for s, n in rows})


def test_a_killed_worker_loses_nothing_and_only_in_flight_messages_may_repeat(
    engine: Engine, actor: Actor, make: Any, smsc_thread: Any, connector: Any
) -> None:
    # given 1,500 recipients, an SMSC simulator and a campaign that resends uncertain messages
    n = 1500
    make.contacts([f"+1202{i:07d}" for i in range(n)])
    sim = smsc_thread()
    connector(engine, actor, "sim", sim.port, throughput=600, window=32)
    make.route("sim")
    cid = make.campaign(failover={"resend_uncertain": True})
    assert launch(engine, actor, cid).planned == n
    # when a worker process is killed with SIGKILL in the middle of the campaign
    first = _spawn_worker(engine, lease_ttl=2)
    try:
        _wait_for(lambda: sim.sim.stats.accepted >= 300, 30, "the first sends")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = sim.sim.stats.accepted
    assert killed_at < n, "the campaign finished before the kill: make it slower"
    # and another worker is started
    second = _spawn_worker(engine, lease_ttl=2)
    try:
        _wait_for(
            lambda: not ({"queued", "sending"} & set(_by_status(engine))), 60, "the queue to drain"
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    # then every recipient has exactly one message record, and none is lost
    status = _by_status(engine)
    assert sum(status.values()) == n
    assert set(status) <= {"delivered", "submitted"}, status
    # and a destination the SMSC saw twice is always a message marked uncertain
    seen = Counter(sim.destinations())
    assert len(seen) == n
    repeated = {d for d, k in seen.items() if k > 1}
    with engine.connect() as conn:
        uncertain = {
            str(d).lstrip("+")
            for (d,) in conn.execute(
                sa.select(messages.c.destination).where(messages.c.uncertain.is_(True))
            )
        }
    assert repeated <= uncertain
    assert len(uncertain) <= 200  # at most one claimed batch was in flight


async def _run_until(worker: Any, cond: Callable[[], bool], timeout: float) -> None:
    """Step an in-process worker until ``cond`` holds (or fail after ``timeout`` seconds)."""
    import asyncio

    deadline = time.monotonic() + timeout
    await worker.start()
    try:
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out: {_by_status(worker.engine)}")
            if not await worker.step():
                await worker.sweep()
                await asyncio.sleep(0.02)  # receipts are on their way from the simulator
    finally:
        await worker.close()


def test_a_dropped_link_and_a_throttling_smsc_lose_nothing(
    engine: Engine, actor: Actor, make: Any
) -> None:
    import asyncio

    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.config import ConnectorConfig
    from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator
    from clarion.delivery.worker import Worker

    n = 300
    make.contacts([f"+1202{i:07d}" for i in range(n)])
    make.route("sim")
    cid = make.campaign(
        failover={"resend_uncertain": True, "max_transient": 10, "retry_after_s": 0}
    )
    launch(engine, actor, cid)

    async def go() -> SmscSimulator:
        # given an SMSC that throttles above 300/s and drops the link after 100 submits
        sim = SmscSimulator(SimulatorConfig(throughput=300, drop_after=100))
        port = await sim.start()
        w = Worker(engine, workspace_id=actor.workspace_id, batch_size=100, lease_ttl=3)
        cfg = ConnectorConfig(
            "sim", "127.0.0.1", port, "clarion", "secret", window=50, reconnect_min=0.05
        )
        w.add_channel("sim", Connector(cfg, on_report=w.on_report))
        # when the campaign is sent
        await _run_until(w, lambda: _by_status(engine) == Counter({"delivered": n}), 30)
        await sim.stop()
        return sim

    sim = asyncio.run(go())
    # then the link really dropped and the SMSC really throttled, yet every message arrived
    assert sim.stats.dropped >= 1 and sim.stats.throttled >= 1
    assert _by_status(engine) == Counter({"delivered": n})
    seen = Counter(p.fields["destination_addr"] for _, _, p in sim.messages)
    assert len(seen) == n
    with engine.connect() as conn:
        uncertain = {
            str(d).lstrip("+")
            for (d,) in conn.execute(
                sa.select(messages.c.destination).where(messages.c.uncertain.is_(True))
            )
        }
    assert {d for d, k in seen.items() if k > 1} <= uncertain


def test_a_route_failing_every_message_hands_over_to_the_next_smsc(
    engine: Engine, actor: Actor, make: Any
) -> None:
    import asyncio

    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.config import ConnectorConfig
    from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator
    from clarion.delivery.worker import Worker

    n = 50
    make.contacts([f"+1202{i:07d}" for i in range(n)])
    make.route("bad", priority=1)
    make.route("good", priority=2)
    cid = make.campaign()
    launch(engine, actor, cid)

    async def go() -> tuple[SmscSimulator, SmscSimulator]:
        # given one SMSC that refuses every destination, another that delivers
        bad = SmscSimulator(SimulatorConfig(invalid_prefixes=("1",)))
        good = SmscSimulator(SimulatorConfig())
        ports = (await bad.start(), await good.start())
        w = Worker(engine, workspace_id=actor.workspace_id)
        for name, port in zip(("bad", "good"), ports, strict=True):
            cfg = ConnectorConfig(name, "127.0.0.1", port, "clarion", "secret")
            w.add_channel(name, Connector(cfg, on_report=w.on_report))
        await _run_until(w, lambda: _by_status(engine) == Counter({"delivered": n}), 20)
        await bad.stop()
        await good.stop()
        return bad, good

    bad, good = asyncio.run(go())
    assert bad.stats.rejected == n and good.stats.accepted == n


def test_a_cancel_during_a_send_stops_it_within_a_second(
    engine: Engine, actor: Actor, make: Any
) -> None:
    import asyncio

    from clarion.campaigns.control import cancel
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.config import ConnectorConfig
    from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator
    from clarion.delivery.worker import Worker

    n = 2000
    make.contacts([f"+1202{i:07d}" for i in range(n)])
    make.route("sim")
    cid = make.campaign()
    launch(engine, actor, cid)

    async def go() -> tuple[SmscSimulator, dict[str, int], int, int]:
        # given a campaign sending at 400 messages/s
        sim = SmscSimulator(SimulatorConfig())
        port = await sim.start()
        w = Worker(engine, workspace_id=actor.workspace_id, batch_size=400, send_chunk=100)
        cfg = ConnectorConfig("sim", "127.0.0.1", port, "clarion", "secret", throughput=400)
        w.add_channel("sim", Connector(cfg, on_report=w.on_report))
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        while sim.stats.accepted < 200:
            await asyncio.sleep(0.01)
        # when it is cancelled from another connection
        recall = await asyncio.to_thread(_cancel, engine, actor, cid, cancel)
        at_cancel = sim.stats.accepted
        await asyncio.sleep(1.0)  # the promise under test: within one second
        after_1s = sim.stats.accepted
        stop.set()
        await task
        await sim.stop()
        return sim, recall, at_cancel, after_1s

    sim, recall, at_cancel, after_1s = asyncio.run(go())
    # then at most the chunk on the wire (100 at 400/s = 0.25 s) went out after the cancel
    assert after_1s - at_cancel <= 100
    assert sim.stats.accepted == after_1s  # and nothing after that second
    status = _by_status(engine)
    assert status["cancelled"] >= n - after_1s - 100
    assert recall["recalled"] + recall["in_flight"] + recall["already_sent"] <= n
    assert "queued" not in status and "sending" not in status


def _cancel(engine: Engine, actor: Actor, cid: int, cancel: Any) -> dict[str, int]:
    with engine.begin() as conn:
        return dict(cancel(conn, actor, cid))
