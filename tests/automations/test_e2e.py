"""Journeys end to end: events in, the worker's jobs, the send API, the SMSC simulator, receipts.

Order -> confirmation runs entirely inside a real worker (its periodic journey job enrols and
sends, its dispatcher submits to the simulator, the receipt marks the message delivered).
Cart -> reminder moves the journey clock past the one-hour wait instead of sleeping, then lets
the worker deliver; with a purchase in between, the run ends at the goal and nothing is sent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys

from clarion.audit.service import Actor
from clarion.automations import service
from clarion.delivery.channels import build_channels
from clarion.delivery.tables import messages
from clarion.delivery.worker import Worker
from clarion.messages.service import save_template

_ROOT = Path(__file__).parent.parent


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


factories = _load("campaign_factories_for_journeys", _ROOT / "campaigns" / "conftest.py")
delivery = _load("delivery_fixtures_for_journeys", _ROOT / "delivery" / "conftest.py")
EXAMPLES = _ROOT.parent / "examples" / "journeys"


@pytest.fixture
def smsc(engine: Engine, actor: Actor) -> Iterator[Any]:
    """An SMSC simulator in a thread, a connector "sim" towards it and a route over it."""
    sim = delivery.SimulatorThread()
    delivery.smpp_connector(engine, actor, "sim", sim.port, window=16)
    factories.add_route(engine, actor, "main", connector="sim")
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    """Contacts with SMS marketing consent in a zone where it is about noon (no quiet hours)."""
    return factories.Factory(engine, actor)


def run_worker(
    engine: Engine, workspace_id: int, done: Callable[[], bool], *, timeout: float = 120
) -> Worker:
    """Run a real worker (send loop and periodic jobs) until ``done()`` holds.

    The timeout is generous: the first run imports every feature's jobs module, and a loaded
    CI machine must not turn a correctness test into a timing one.
    """
    worker = Worker(engine, workspace_id=workspace_id, lease_ttl=5, idle_sleep=0.02)
    with engine.connect() as conn:
        for name, channel in build_channels(conn, workspace_id, worker.on_report).items():
            worker.add_channel(name, channel)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + timeout
        try:
            while not await asyncio.to_thread(done):
                if task.done() or time.monotonic() > deadline:
                    raise AssertionError("the worker stopped or timed out before the condition")
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task

    asyncio.run(go())
    return worker


def _messages(engine: Engine, **where: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        q = sa.select(messages).where(*(messages.c[k] == v for k, v in where.items()))
        return [dict(r) for r in conn.execute(q.order_by(messages.c.id)).mappings()]


def test_an_order_gets_its_confirmation_through_the_worker_and_the_simulator(
    engine: Engine, actor: Actor, jt: Journeys, make: Any, smsc: Any
) -> None:
    # given the shipped order-confirmation journey and a contact
    for doc in service.read_definitions(EXAMPLES / "order_confirmation.yaml"):
        jt.save(doc)
    (ann,) = make.contacts(["+12025550100"])
    # when the shop reports two orders
    jt.emit(ann, "order_created", {"order_id": "A-17", "total": 42.5, "currency": "USD"})
    jt.emit(ann, "order_created", {"order_id": "A-18", "total": 9, "currency": "USD"})

    # and a worker runs until both confirmations are delivered
    def delivered() -> bool:
        rows = _messages(engine, contact_id=ann)
        return len(rows) == 2 and all(m["status"] == "delivered" for m in rows)

    run_worker(engine, actor.workspace_id, delivered)
    # then each order got its own confirmation, rendered with the event's data
    texts = [m["body"] for m in _messages(engine, contact_id=ann)]
    assert texts == [
        "Thanks Ann0! Order A-17 is confirmed, total 42.5 USD.",
        "Thanks Ann0! Order A-18 is confirmed, total 9 USD.",
    ]
    assert smsc.destinations() == ["12025550100", "12025550100"]
    # and each run's path shows the send with its message
    path = jt.path("order-confirmation", ann)
    assert [r["state"] for r in path["runs"]] == ["completed", "completed"]
    sends = [s for r in path["runs"] for s in r["steps"] if s["kind"] == "send"]
    assert [s["outcome"] for s in sends] == ["sent", "sent"]
    assert all(s["message_id"] for s in sends)


def _cart_journey(engine: Engine, actor: Actor, jt: Journeys) -> None:
    with engine.begin() as conn:
        save_template(
            conn,
            actor,
            name="cart_reminder",
            body="Acme: {{ contact.first_name }}, your cart is waiting. Reply STOP to opt out",
            purpose="marketing",
        )
    jt.save(
        {
            "name": "cart",
            "trigger": {"event": "cart_abandoned"},
            "goal": {"event": "order_created"},
            "steps": [
                {"id": "wait", "wait": {"duration": "1h"}},
                {"id": "remind", "send": {"template": "cart_reminder", "kind": "marketing"}},
            ],
        }
    )


def test_an_abandoned_cart_gets_a_reminder_an_hour_later(
    engine: Engine, actor: Actor, jt: Journeys, make: Any, smsc: Any
) -> None:
    # given the cart journey and a contact who abandons a cart
    _cart_journey(engine, actor, jt)
    (ann,) = make.contacts(["+12025550101"])
    jt.emit(ann, "cart_abandoned", {"total": 30})
    t0 = jt.now()
    # when the journey clock runs now and again 59 minutes later
    jt.tick(t0)
    jt.tick(t0 + timedelta(minutes=59))
    # then nothing has been queued yet
    assert _messages(engine, contact_id=ann) == []
    # when the hour has passed
    jt.tick(t0 + timedelta(hours=1, seconds=1))
    # then the reminder is queued once and a worker delivers it
    (msg,) = _messages(engine, contact_id=ann)
    assert msg["body"] == "Acme: Ann0, your cart is waiting. Reply STOP to opt out"
    run_worker(
        engine,
        actor.workspace_id,
        lambda: _messages(engine, contact_id=ann)[0]["status"] == "delivered",
    )
    assert smsc.destinations() == ["12025550101"]
    # and the run completed with the send on its path
    assert jt.outcomes("cart", ann)[-2:] == [("remind", "sent"), ("(end)", "completed")]


def test_a_purchase_during_the_wait_cancels_the_reminder(
    engine: Engine, actor: Actor, jt: Journeys, make: Any, smsc: Any
) -> None:
    # given the cart journey, and two contacts who abandon carts
    _cart_journey(engine, actor, jt)
    ann, bob = make.contacts(["+12025550102", "+12025550103"])
    jt.emit(ann, "cart_abandoned", {"total": 30})
    jt.emit(bob, "cart_abandoned", {"total": 30})
    t0 = jt.now()
    jt.tick(t0)
    # when Ann buys twenty minutes later and the hour passes
    jt.emit(ann, "order_created", {"order_id": "A-20"}, at=t0 + timedelta(minutes=20))
    jt.tick(t0 + timedelta(hours=1, seconds=1))
    # then only Bob's reminder exists, and the worker delivers only that one
    assert _messages(engine, contact_id=ann) == []
    run_worker(
        engine,
        actor.workspace_id,
        lambda: [m["status"] for m in _messages(engine, contact_id=bob)] == ["delivered"],
    )
    assert smsc.destinations() == ["12025550103"]
    # and Ann's run ended at the goal before the send step
    assert jt.outcomes("cart", ann)[-1] == ("remind", "goal")
    assert jt.runs("cart", contact_id=ann)[0]["state"] == "goal"


def test_a_step_run_again_after_a_crash_sends_nothing_twice(
    engine: Engine, actor: Actor, jt: Journeys, make: Any, smsc: Any
) -> None:
    # given a run whose reminder was queued
    _cart_journey(engine, actor, jt)
    (ann,) = make.contacts(["+12025550104"])
    jt.emit(ann, "cart_abandoned")
    t0 = jt.now()
    jt.tick(t0)
    jt.tick(t0 + timedelta(hours=1, seconds=1))
    assert len(_messages(engine, contact_id=ann)) == 1
    # when a crash is simulated: the run is put back at its send step as if never committed
    from clarion.automations.tables import journey_runs

    with engine.begin() as conn:
        conn.execute(
            journey_runs.update().values(
                state="active", current_step="remind", next_at=t0, finished_at=None
            )
        )
    jt.tick(t0 + timedelta(hours=1, seconds=2))
    # then the send step ran again but the idempotency key returned the same message
    msgs = _messages(engine, contact_id=ann)
    assert len(msgs) == 1
    sends = [(s, o) for s, o in jt.outcomes("cart", ann) if s == "remind"]
    assert sends == [("remind", "sent"), ("remind", "sent")]
    ids = {
        st["message_id"]
        for r in jt.path("cart", ann)["runs"]
        for st in r["steps"]
        if st["kind"] == "send"
    }
    assert ids == {msgs[0]["id"]}


def test_a_marketing_step_refused_by_compliance_is_logged_and_the_run_goes_on(
    engine: Engine, actor: Actor, jt: Journeys, make: Any, smsc: Any
) -> None:
    # given the cart journey and a contact without marketing consent
    _cart_journey(engine, actor, jt)
    (ann,) = make.contacts(["+12025550105"], consent=None)
    jt.emit(ann, "cart_abandoned")
    t0 = jt.now()
    # when the hour passes
    jt.tick(t0)
    jt.tick(t0 + timedelta(hours=1, seconds=1))
    # then nothing is queued, the refusal and its reason are on the path, and the run completed
    assert _messages(engine, contact_id=ann) == []
    (run,) = jt.path("cart", ann)["runs"]
    refused = [s for s in run["steps"] if s["outcome"] == "refused"]
    assert refused and refused[0]["detail"]["code"] == "send_refused"
    assert run["state"] == "completed"


def test_the_frequency_rule_skips_sends_beyond_the_limit(
    engine: Engine, actor: Actor, jt: Journeys, make: Any, smsc: Any
) -> None:
    # given an order journey allowed one message per day per contact
    jt.save(
        {
            "name": "thanks",
            "trigger": {"event": "order_created"},
            "entry": {"concurrent": True},
            "frequency": {"max": 1, "per": "1d"},
            "steps": [{"id": "thank", "send": {"text": "Thanks for order {{ event.order_id }}"}}],
        }
    )
    (ann,) = make.contacts(["+12025550106"])
    # when two orders arrive the same day
    jt.emit(ann, "order_created", {"order_id": "1"})
    jt.tick(jt.now())
    jt.emit(ann, "order_created", {"order_id": "2"})
    jt.tick(jt.now())
    # then one message went out and the second send was skipped for frequency
    assert [m["body"] for m in _messages(engine, contact_id=ann)] == ["Thanks for order 1"]
    skipped = [
        s for r in jt.path("thanks", ann)["runs"] for s in r["steps"] if s["outcome"] == "skipped"
    ]
    assert [s["detail"]["reason"] for s in skipped] == ["frequency"]
