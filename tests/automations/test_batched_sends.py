"""Journey sends go to the send API in batches, and each run still gets its own answer.

``send_batch`` is wrapped (never replaced) to count its calls; failures are injected by making
the real functions raise, to show that one bad run still fails alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys

from clarion.audit.service import Actor
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.delivery.routes import RouteCreate, create_route
from clarion.delivery.tables import messages
from clarion.sending import service as sending

THANKS = {
    "name": "thanks",
    "trigger": {"event": "order_created"},
    "steps": [
        {"id": "wait", "wait": {"duration": "10m"}},
        {"id": "thank", "send": {"text": "Thanks {{ contact.first_name }}"}},
        {"id": "follow", "send": {"text": "Order {{ event.order_id }} is being packed"}},
    ],
}


def _route(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        create_route(conn, actor, RouteCreate(name="main", connector="sim"))


def _bodies(engine: Engine, contact_id: int) -> list[str]:
    with engine.connect() as conn:
        return [
            str(b)
            for b in conn.execute(
                sa.select(messages.c.body)
                .where(messages.c.contact_id == contact_id)
                .order_by(messages.c.id)
            ).scalars()
        ]


def _due(jt: Journeys, people: list[int]) -> Any:
    """Start one run per person and return a time when their sends are due."""
    for i, cid in enumerate(people):
        jt.emit(cid, "order_created", {"order_id": f"A-{i}"})
    t0 = utcnow()
    jt.tick(t0)  # enrol; every run waits ten minutes
    return t0 + timedelta(minutes=11)


def test_the_sends_of_a_batch_go_in_one_call_and_each_run_gets_its_answer(
    jt: Journeys, engine: Engine, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given three runs whose sends are due, one to a contact who has lost their number
    _route(engine, actor)
    jt.save(THANKS)
    ann, bob, cy = jt.people(3)
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.id == cy).values(phone=None))
    due = _due(jt, [ann, bob, cy])
    calls: list[int] = []
    real = sending.send_batch

    def counted(conn: Any, who: Actor, reqs: Any) -> Any:
        calls.append(len(reqs))
        return real(conn, who, reqs)

    monkeypatch.setattr(sending, "send_batch", counted)
    # when the runs advance
    jt.tick(due)
    # then their six send steps went to the send API in one call
    assert calls == [6]
    # and each run has its own messages, in step order, with its own idempotency keys
    assert _bodies(engine, ann) == ["Thanks Ann0", "Order A-0 is being packed"]
    assert _bodies(engine, bob) == ["Thanks Ann1", "Order A-1 is being packed"]
    with engine.connect() as conn:
        keys = set(conn.execute(sa.select(messages.c.idempotency_key)).scalars())
    assert len(keys) == 4 and all(str(k).startswith("journey:") for k in keys)
    # and the contact without a number has both refusals logged, and the run went on
    assert _bodies(engine, cy) == []
    assert jt.outcomes("thanks", cy)[-3:] == [
        ("thank", "refused"),
        ("follow", "refused"),
        ("(end)", "completed"),
    ]
    path = jt.path("thanks", ann)
    sent = [s for r in path["runs"] for s in r["steps"] if s["kind"] == "send"]
    assert [s["outcome"] for s in sent] == ["sent", "sent"]
    assert all(s["message_id"] for s in sent)
    assert {r["state"] for r in jt.runs("thanks")} == {"completed"}


def test_when_the_batch_call_raises_the_runs_are_sent_one_by_one_and_a_bad_one_fails_alone(
    jt: Journeys, engine: Engine, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given two due runs, a send_batch that raises, and a send that raises for Bob only
    _route(engine, actor)
    jt.save(THANKS)
    ann, bob = jt.people(2)
    due = _due(jt, [ann, bob])

    def broken(*_: Any) -> Any:
        raise RuntimeError("send_batch is broken")

    real_one, real_batch = sending.send_message, sending.send_batch

    def one(conn: Any, who: Actor, req: Any) -> Any:
        if req.contact_id == bob:
            raise RuntimeError("Bob's send is broken")
        return real_one(conn, who, req)

    monkeypatch.setattr(sending, "send_batch", broken)
    monkeypatch.setattr(sending, "send_message", one)
    # when the runs advance
    jt.tick(due)
    # then Ann's messages went out one by one and her run completed
    assert _bodies(engine, ann) == ["Thanks Ann0", "Order A-0 is being packed"]
    (ann_run,) = jt.runs("thanks", contact_id=ann)
    assert ann_run["state"] == "completed"
    # and Bob's run wrote nothing but its error, and waits for a retry where it was
    assert _bodies(engine, bob) == []
    (bob_run,) = jt.runs("thanks", contact_id=bob)
    assert bob_run["state"] == "active" and bob_run["current_step"] == "thank"
    assert [o for s, o in jt.outcomes("thanks", bob) if s == "thank"] == ["error"]
    # when the sends work again and the retry comes due
    monkeypatch.setattr(sending, "send_message", real_one)
    monkeypatch.setattr(sending, "send_batch", real_batch)
    jt.tick(due + timedelta(minutes=6))
    # then Bob gets each message once
    assert _bodies(engine, bob) == ["Thanks Ann1", "Order A-1 is being packed"]
