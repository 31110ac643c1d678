"""Benchmark: journey enrolment and advance throughput, on SQLite and PostgreSQL.

``--contacts`` contacts each abandon a cart (events bulk-inserted as the event API would).
Then, timed one phase at a time with the journey clock moved instead of slept:

1. enrol: the event pass reads the events and starts one run per cart (re-entry rules judged);
2. wait: every run takes its first step, a one-hour wait (one claimed batch at a time);
3. send: an hour later every run branches on an attribute and queues a transactional SMS
   through the send API (the batch's sends in one ``send_batch`` call: render, screen, route,
   persist, idempotency key).

Each phase prints runs per second by wall clock and by this process's CPU time (the machine
may be shared). Nothing is dispatched: the outbox rows are counted and checked.

    .venv/bin/python bench/bench_journeys.py               # 20,000 contacts, both databases
    .venv/bin/python bench/bench_journeys.py --tiny        # 300 contacts, seconds
    .venv/bin/python bench/bench_journeys.py --db sqlite --contacts 50000
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _common import pg_reachable, scratch_engine

JOURNEY: dict[str, Any] = {
    "name": "cart",
    "trigger": {"event": "cart_abandoned", "where": {"total": {"gte": 10}}},
    "goal": {"event": "order_created"},
    "steps": [
        {"id": "wait", "wait": {"duration": "1h"}},
        {
            "id": "is-gold",
            "branch": {
                "if": {"field": "attributes.tier", "value": "gold"},
                "then": "gold",
                "else": "plain",
            },
        },
        {"id": "gold", "send": {"text": "{{ contact.first_name }}, your cart (code GOLD10)"}},
        {"id": "gold-done", "exit": True},
        {"id": "plain", "send": {"text": "{{ contact.first_name }}, your cart is waiting"}},
    ],
}


def seed(eng: Engine, contacts: int) -> None:
    """Create contacts, a route and the journey; insert one cart_abandoned event per contact."""
    from clarion.audit.service import Actor
    from clarion.automations.service import save_journey
    from clarion.contacts.tables import contacts as contacts_t
    from clarion.db.types import utcnow
    from clarion.delivery.routes import RouteCreate, create_route
    from clarion.events.service import insert_events
    from clarion.workspaces.service import ensure_workspace

    now = utcnow()
    with eng.begin() as conn:
        actor = Actor(ensure_workspace(conn), "cli", "bench")
        create_route(conn, actor, RouteCreate(name="main", connector="sim"))
        save_journey(conn, actor, JOURNEY)
        ids = [
            int(r.id)
            for r in conn.execute(
                contacts_t.insert().returning(contacts_t.c.id, sort_by_parameter_order=True),
                [
                    {
                        "workspace_id": actor.workspace_id,
                        "first_name": f"P{i}",
                        "phone": f"+1202{i:07d}",
                        "phone_region": "US",
                        "country": "US",
                        "timezone": "America/New_York",
                        "attributes": {"tier": "gold" if i % 10 == 0 else "basic"},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(contacts)
                ],
            ).all()
        ]
        now = utcnow()  # after the journey went live: earlier events are not its business
        insert_events(
            conn,
            [
                {
                    "workspace_id": actor.workspace_id,
                    "contact_id": cid,
                    "name": "cart_abandoned",
                    "properties": {"total": 25 + i % 50, "sku": f"S{i % 97}"},
                    "occurred_at": now,
                    "received_at": now,
                    "message_id": None,
                    "source": "bench",
                }
                for i, cid in enumerate(ids)
            ],
        )


def timed(label: str, runs: int, fn: Callable[[], int]) -> int:
    """Run ``fn``, print its throughput by wall clock and CPU; return what it returned."""
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(
        f"  {label:<34} {n:>8,} in {wall:6.2f} s  = {n / wall:>9,.0f}/s wall"
        f"  ({cpu:5.2f} s CPU, {n / max(cpu, 1e-9):>9,.0f}/s)"
    )
    if n != runs:
        raise SystemExit(f"{label}: expected {runs}, got {n}")
    return n


def bench(kind: str, contacts: int) -> None:
    from clarion.automations.advance import advance_due
    from clarion.automations.enrol import enrol_from_events
    from clarion.automations.tables import journey_runs
    from clarion.db.types import utcnow
    from clarion.delivery.tables import messages

    with scratch_engine(kind) as eng:
        t = time.perf_counter()
        seed(eng, contacts)
        print(
            f"{kind}: {contacts:,} contacts and cart events seeded"
            f" in {time.perf_counter() - t:.1f} s"
        )
        now = utcnow()
        timed("enrol (event pass)", contacts, lambda: enrol_from_events(eng, now=now, batch=5000))
        timed(
            "advance: enter the 1h wait",
            contacts,
            lambda: advance_due(eng, now=now, max_batches=10**6),
        )
        later = now + timedelta(hours=1, seconds=1)
        timed(
            "advance: branch + send (send_batch)",
            contacts,
            lambda: advance_due(eng, now=later, max_batches=10**6),
        )
        with eng.connect() as conn:
            queued = conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one()
            done = conn.execute(
                sa.select(sa.func.count()).where(journey_runs.c.state == "completed")
            ).scalar_one()
        print(f"  check: {queued:,} messages queued, {done:,} runs completed")
        if queued != contacts or done != contacts:
            raise SystemExit("every run should have queued one message and completed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--tiny", action="store_true", help="300 contacts: a smoke run for CI")
    args = ap.parse_args()
    contacts = 300 if args.tiny else args.contacts
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"load average {os.getloadavg()[0]:.2f}")
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql: unreachable, skipped")
            continue
        bench(kind, contacts)


if __name__ == "__main__":
    main()
