"""A message in several parts is delivered only when every part is, over the SMSC simulator."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.channels.base import Receipt, Report
from clarion.channels.smpp.client import Connector
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator
from clarion.db.types import utcnow
from clarion.delivery.receipts import apply_receipts
from clarion.delivery.tables import message_attempts, messages
from clarion.delivery.worker import Worker

TWO_PARTS = "Acme: Hi {{ contact.first_name }}, " + "spring sale on every item. " * 6 + "STOP=out"
THREE_PARTS = "Acme: " + "all our spring prices are down by a fifth this week. " * 7 + "STOP=out"


def _statuses(engine: Engine, cid: int) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.campaign_id == cid)
            .group_by(messages.c.status)
        )
        return Counter({str(s): int(n) for s, n in rows})


def _part_ids(engine: Engine, cid: int) -> dict[int, list[str]]:
    """Return each message's provider ids, one per part, in send order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(message_attempts.c.message_id, message_attempts.c.provider_id)
            .where(
                message_attempts.c.campaign_id == cid,
                message_attempts.c.provider_id.is_not(None),
            )
            .order_by(message_attempts.c.id)
        )
        out: dict[int, list[str]] = {}
        for mid, pid in rows:
            out.setdefault(int(mid), []).append(str(pid))
        return out


async def _run(sim: SmscSimulator, engine: Engine, actor: Actor, until: Callable[[], bool],
               on_report: Callable[[Report], None] | None = None) -> None:  # fmt: skip
    port = await sim.start()
    worker = Worker(engine, workspace_id=actor.workspace_id, batch_size=50, lease_ttl=5)
    cfg = ConnectorConfig("sim", "127.0.0.1", port, "clarion", "secret", window=20)

    def report(r: Report) -> None:
        if on_report is not None:
            on_report(r)
        worker.on_report(r)

    worker.add_channel("sim", Connector(cfg, on_report=report))
    await worker.start()
    deadline = time.monotonic() + 30
    try:
        while not until():
            assert time.monotonic() < deadline, f"timed out: {_statuses(engine, 0)}"
            if not await worker.step():
                await asyncio.sleep(0.02)  # receipts are on their way from the simulator
    finally:
        await worker.close()
        await sim.stop()


def test_each_part_has_its_receipt_and_any_failed_part_fails_the_message(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given 40 two-part messages and an SMSC that reports about a third of all parts UNDELIV
    n = 40
    make.contacts([f"+1202555{i:04d}" for i in range(n)])
    make.route("sim")
    cid = make.campaign(variants=[{"name": "A", "body": TWO_PARTS}])
    assert launch(engine, actor, cid).parts == 2 * n
    sim = SmscSimulator(SimulatorConfig(mix={"DELIVRD": 0.65, "UNDELIV": 0.35}, seed=11))
    states: dict[str, str] = {}

    def keep(r: Report) -> None:
        if isinstance(r, Receipt) and r.final:
            states[r.provider_id] = r.state

    # when the campaign is sent and every part's receipt has come back
    asyncio.run(
        _run(sim, engine, actor, lambda: len(states) == 2 * n and not _open(engine, cid), keep)
    )
    # then a message is delivered exactly when all its parts were, else failed with the code
    parts = _part_ids(engine, cid)
    with engine.connect() as conn:
        final = {
            int(r.id): (r.status, r.provider_code)
            for r in conn.execute(
                sa.select(messages.c.id, messages.c.status, messages.c.provider_code).where(
                    messages.c.campaign_id == cid
                )
            )
        }
    assert sim.stats.receipts_sent == 2 * n and all(len(p) == 2 for p in parts.values())
    kinds: Counter[str] = Counter()
    for mid, pids in parts.items():
        got = [states[p] for p in pids]
        if all(s == "DELIVRD" for s in got):
            assert final[mid] == ("delivered", None), (mid, got, final[mid])
            kinds["all delivered"] += 1
        else:
            assert final[mid][0] == "failed" and final[mid][1].startswith("UNDELIV"), final[mid]
            kinds["mixed" if "DELIVRD" in got else "all failed"] += 1
    # and the run really had messages whose first part arrived but another failed
    assert kinds["all delivered"] > 0 and kinds["mixed"] > 0


def _open(engine: Engine, cid: int) -> int:
    s = _statuses(engine, cid)
    return s["queued"] + s["sending"] + s["submitted"]


def test_a_message_waits_for_its_last_part_and_a_repeated_receipt_counts_once(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a three-part message submitted to an SMSC whose own receipts come much later
    make.contacts(["+12025550100"])
    make.route("sim")
    cid = make.campaign(variants=[{"name": "A", "body": THREE_PARTS}])
    launch(engine, actor, cid)
    sim = SmscSimulator(SimulatorConfig(receipt_delay=3600))
    asyncio.run(_run(sim, engine, actor, lambda: _statuses(engine, cid)["submitted"] == 1))
    ((mid, pids),) = _part_ids(engine, cid).items()
    assert len(pids) == 3

    def receipt(pid: str, state: str = "DELIVRD") -> None:
        with engine.begin() as conn:
            apply_receipts(conn, [Receipt(pid, state, True, done_at=utcnow())], now=utcnow())

    # when the first part's receipt arrives, twice, and then the second part's
    receipt(pids[0])
    receipt(pids[0])
    receipt(pids[1])
    # then the message still waits for its last part
    assert _statuses(engine, cid) == Counter({"submitted": 1})
    # and when the last part is delivered the message is
    receipt(pids[2])
    assert _statuses(engine, cid) == Counter({"delivered": 1})
    with engine.connect() as conn:
        results = Counter(
            conn.execute(
                sa.select(message_attempts.c.result).where(message_attempts.c.message_id == mid)
            ).scalars()
        )
    assert results == Counter({"part_delivered": 2, "submitted": 1, "delivered": 1})


def test_a_failed_last_part_fails_a_message_whose_other_parts_arrived(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a submitted three-part message and no other route
    make.contacts(["+12025550100"])
    make.route("sim")
    cid = make.campaign(variants=[{"name": "A", "body": THREE_PARTS}])
    launch(engine, actor, cid)
    sim = SmscSimulator(SimulatorConfig(receipt_delay=3600))
    asyncio.run(_run(sim, engine, actor, lambda: _statuses(engine, cid)["submitted"] == 1))
    ((mid, pids),) = _part_ids(engine, cid).items()
    # when two parts are delivered and the third is reported undeliverable
    with engine.begin() as conn:
        now = utcnow()
        apply_receipts(conn, [Receipt(p, "DELIVRD", True) for p in pids[:2]], now=now)
        apply_receipts(conn, [Receipt(pids[2], "UNDELIV", True, error="012")], now=now)
    # then the message failed with the failing part's code
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages).where(messages.c.id == mid)).one()
    assert (row.status, row.provider_code) == ("failed", "UNDELIV:012")
