"""The journey runtime: enrolment from events, waits on a moved clock, branches, goals, rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys, wait_journey

from clarion.audit.service import Actor
from clarion.automations import service
from clarion.automations.advance import advance_due
from clarion.automations.enrol import GRACE, enrol_from_events
from clarion.automations.tables import journey_cursors, journey_runs
from clarion.db.engine import create_engine_for
from clarion.db.types import utcnow


def test_an_event_starts_a_run_that_waits_and_then_completes(jt: Journeys) -> None:
    # given a journey "wait 1h, then exit" and a contact who abandons a cart
    jt.save(wait_journey())
    (ann,) = jt.people(1)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned", {"total": 30})
    # when the job runs now
    jt.tick(t0)
    # then the run has entered and waits until an hour after the event
    (run,) = jt.runs("cart")
    assert run["state"] == "active" and run["current_step"] == "done"
    assert t0 + timedelta(minutes=59) < run["next_at"] <= t0 + timedelta(hours=1, seconds=5)
    assert jt.outcomes("cart", ann) == [("(entry)", "entered"), ("wait", "waiting")]
    # when the clock reaches 59 minutes, nothing moves
    jt.tick(t0 + timedelta(minutes=59))
    assert jt.runs("cart")[0]["state"] == "active"
    # when it passes the hour, the run completes at its exit step
    jt.tick(t0 + timedelta(hours=1, minutes=1))
    (run,) = jt.runs("cart")
    assert (run["state"], run["exit_reason"]) == ("completed", "waited")
    assert jt.outcomes("cart", ann)[-1] == ("done", "completed")


def test_the_goal_event_ends_the_run_wherever_it_is(jt: Journeys) -> None:
    # given a contact waiting in the cart journey
    jt.save(wait_journey())
    ann, bob = jt.people(2)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.emit(bob, "cart_abandoned")
    jt.tick(t0)
    # when Ann places an order ten minutes later (Bob does not)
    jt.emit(ann, "order_created", {"order_id": "A-1"}, at=t0 + timedelta(minutes=10))
    jt.tick(t0 + timedelta(minutes=15))
    # then Ann's run ends at once, while it is still waiting
    assert {r["contact_id"]: r["state"] for r in jt.runs("cart")} == {ann: "goal", bob: "active"}
    assert jt.outcomes("cart", ann)[-1] == ("done", "goal")
    jt.tick(t0 + timedelta(hours=2))
    # then Ann's run ended at the goal, and never reached the exit step; Bob's completed
    runs = {r["contact_id"]: r for r in jt.runs("cart")}
    assert (runs[ann]["state"], runs[ann]["exit_reason"]) == ("goal", "goal order_created")
    assert ("done", "completed") not in jt.outcomes("cart", ann)
    assert runs[bob]["state"] == "completed"


def test_a_goal_before_entry_does_not_count(jt: Journeys) -> None:
    # given a contact who ordered yesterday and abandons a cart today
    jt.save(wait_journey())
    (ann,) = jt.people(1)
    t0 = utcnow()
    jt.emit(ann, "order_created", at=t0 - timedelta(days=1))
    jt.emit(ann, "cart_abandoned")
    # when the hour passes
    jt.tick(t0)
    jt.tick(t0 + timedelta(hours=1, minutes=1))
    # then the old order does not end the run
    assert jt.runs("cart")[0]["state"] == "completed"


def test_property_filters_and_max_age_decide_who_enters(jt: Journeys) -> None:
    # given a journey for carts of 20 or more, seen within a day
    jt.save(wait_journey(trigger={"event": "cart_abandoned", "where": {"total": {"gte": 20}}}))
    small, big, old, other = jt.people(4)
    t0 = utcnow()
    jt.emit(small, "cart_abandoned", {"total": 5})
    jt.emit(big, "cart_abandoned", {"total": "25.50"})
    jt.emit(old, "cart_abandoned", {"total": 99}, at=t0 - timedelta(days=3))
    jt.emit(other, "cart_viewed", {"total": 99})
    # when the job runs
    jt.tick(t0)
    # then only the recent big cart entered
    assert [r["contact_id"] for r in jt.runs("cart")] == [big]


def test_reentry_rules(jt: Journeys) -> None:
    # given three journeys on the same event: once, once per 7 days, every time (concurrent)
    steps = [{"id": "w", "wait": {"duration": "1h"}}]
    jt.save(wait_journey("once", steps, entry={"reentry": "once"}))
    jt.save(wait_journey("weekly", steps, entry={"reentry": "once_per", "period": "7d"}))
    jt.save(wait_journey("always", steps, entry={"reentry": "every_time", "concurrent": True}))
    jt.save(wait_journey("serial", steps))  # every time, but one run at a time
    (ann,) = jt.people(1)
    t0 = utcnow()
    # when the contact abandons two carts in a batch, and another one two hours later
    jt.emit(ann, "cart_abandoned")
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    jt.tick(t0 + timedelta(hours=2))
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0 + timedelta(hours=2))
    # then "once" and "weekly" entered once, "always" three times, "serial" twice (the second
    # cart came while the first run was waiting; the third after it completed)
    counts = {n: len(jt.runs(n)) for n in ("once", "weekly", "always", "serial")}
    assert counts == {"once": 1, "weekly": 1, "always": 3, "serial": 2}


def test_enrolment_is_idempotent_and_the_cursor_keeps_the_grace_window(
    jt: Journeys, engine: Engine
) -> None:
    # given a journey and a fresh event
    jt.save(wait_journey())
    (ann,) = jt.people(1)
    eid = jt.emit(ann, "cart_abandoned")
    t0 = utcnow()
    # when enrolment runs three times within the grace window
    assert enrol_from_events(engine, now=t0) == 1
    assert enrol_from_events(engine, now=t0) == 0
    # then the run exists once, and the cursor has not passed the recent event
    pos = jt.scalar(sa.select(journey_cursors.c.position))
    assert pos < eid
    # when the grace window has passed (on the real clock: the event is made older, since a
    # moved test clock says nothing about when transactions commit), the cursor moves past it
    # and still nothing doubles
    from clarion.events.tables import events

    with engine.begin() as conn:
        conn.execute(events.update().values(received_at=t0 - GRACE - timedelta(seconds=1)))
    assert enrol_from_events(engine, now=t0 + GRACE + timedelta(seconds=1)) == 0
    assert jt.scalar(sa.select(journey_cursors.c.position)) == eid
    assert len(jt.runs("cart")) == 1


def test_an_event_committed_late_with_a_lower_id_is_not_skipped(
    jt: Journeys, engine: Engine
) -> None:
    # given a journey, and an event whose id was taken before another's but which commits later
    jt.save(wait_journey())
    ann, bob = jt.people(2)
    late = jt.emit(ann, "cart_abandoned")
    jt.emit(bob, "cart_abandoned")
    with engine.begin() as conn:  # simulate "not yet visible": hide it, then bring it back
        from clarion.events.tables import events

        saved = conn.execute(sa.select(events).where(events.c.id == late)).mappings().one()
        conn.execute(events.delete().where(events.c.id == late))
    t0 = utcnow()
    # when enrolment runs while the first is invisible
    enrol_from_events(engine, now=t0)
    # and the first then commits (same id, received at the same time)
    with engine.begin() as conn:
        conn.execute(events.insert().values(**saved))
    enrol_from_events(engine, now=t0 + timedelta(seconds=1))
    # then both contacts entered
    assert sorted(r["contact_id"] for r in jt.runs("cart")) == sorted([ann, bob])


def test_branches_on_attributes_tags_traits_and_events(jt: Journeys, engine: Engine) -> None:
    # given a journey that branches on a condition and records which way each contact went
    cond = {
        "any": [
            {"field": "attributes.tier", "value": "gold"},
            {"event": {"name": "viewed", "where": {"sku": "TEA"}}},
            {
                "all": [
                    {"field": "country", "op": "in", "value": ["DE"]},
                    {"not": {"field": "event.total", "op": "lt", "value": 50}},
                ]
            },
        ]
    }
    jt.save(
        wait_journey(
            steps=[
                {"id": "w", "wait": {"duration": "30m"}},
                {"id": "b", "branch": {"if": cond, "then": "yes", "else": "no"}},
                {"id": "yes", "exit": {"reason": "yes"}},
                {"id": "no", "exit": {"reason": "no"}},
            ]
        )
    )
    gold, viewer, german, nobody = jt.people(4)
    with engine.begin() as conn:
        from clarion.contacts.tables import contacts

        conn.execute(
            contacts.update().where(contacts.c.id == gold).values(attributes={"tier": "gold"})
        )
        conn.execute(contacts.update().where(contacts.c.id == german).values(country="DE"))
    t0 = utcnow()
    for c in (gold, viewer, german, nobody):
        jt.emit(c, "cart_abandoned", {"total": 80 if c == german else 10})
    jt.tick(t0)
    # when the viewer looks at the tea after entering, and the wait ends
    jt.emit(viewer, "viewed", {"sku": "TEA"}, at=t0 + timedelta(minutes=5))
    jt.emit(nobody, "viewed", {"sku": "MUG"}, at=t0 + timedelta(minutes=5))
    jt.tick(t0 + timedelta(minutes=31))
    # then each went the way its facts say
    got = {r["contact_id"]: r["exit_reason"] for r in jt.runs("cart")}
    assert got == {gold: "yes", viewer: "yes", german: "yes", nobody: "no"}
    assert ("b", "else") in jt.outcomes("cart", nobody)


def test_wait_until_a_local_time_uses_the_recipients_zone(jt: Journeys, engine: Engine) -> None:
    # given a journey waiting until the next 10:00 on the recipient's clock
    jt.save(
        wait_journey(steps=[{"id": "w", "wait": {"until": "10:00"}}, {"id": "x", "exit": True}])
    )
    (tokyo,) = jt.people(1, timezone="Asia/Tokyo")
    (paris,) = jt.people(1, timezone="Europe/Paris")
    # when both abandon a cart at 2026-11-22 03:00 UTC (12:00 Tokyo, 04:00 Paris)
    at = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    for c in (tokyo, paris):
        jt.emit(c, "cart_abandoned", at=at)
    jt.tick(at + timedelta(seconds=1))
    # then Tokyo waits for tomorrow 10:00 JST (01:00 UTC), Paris for today 10:00 CET (09:00 UTC)
    runs = {r["contact_id"]: r["next_at"] for r in jt.runs("cart")}
    assert runs[tokyo] == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert runs[paris] == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_a_paused_journey_neither_enrols_nor_advances_and_archiving_ends_runs(
    jt: Journeys, engine: Engine, actor: Actor
) -> None:
    # given a waiting run
    jt.save(wait_journey())
    ann, bob = jt.people(2)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    # when the journey is paused, an event arrives and the wait passes
    with engine.begin() as conn:
        service.set_status(conn, actor, "cart", "paused")
    jt.emit(bob, "cart_abandoned")
    jt.tick(t0 + timedelta(hours=2))
    # then Bob did not enter and Ann still waits
    assert [(r["contact_id"], r["state"]) for r in jt.runs("cart")] == [(ann, "active")]
    # when it is resumed, the overdue step runs
    with engine.begin() as conn:
        service.set_status(conn, actor, "cart", "active")
    jt.tick(t0 + timedelta(hours=2))
    assert jt.runs("cart")[0]["state"] == "completed"
    # and when another run waits and the journey is archived, that run exits
    jt.emit(bob, "cart_abandoned")
    jt.tick(utcnow())
    with engine.begin() as conn:
        service.set_status(conn, actor, "cart", "archived")
    states = {r["contact_id"]: (r["state"], r["exit_reason"]) for r in jt.runs("cart")}
    assert states[bob] == ("exited", "journey archived")


def test_a_wait_survives_a_restart(jt: Journeys, engine: Engine) -> None:
    # given a run waiting for an hour
    jt.save(wait_journey())
    (ann,) = jt.people(1)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    # when the process is gone (a new engine: no state but the database) and the hour passes
    fresh = create_engine_for(engine.url.render_as_string(hide_password=False))
    try:
        done = advance_due(fresh, now=t0 + timedelta(hours=1, minutes=1))
    finally:
        fresh.dispose()
    # then the run resumes and completes
    assert done == 1
    assert jt.runs("cart")[0]["state"] == "completed"


def test_a_run_that_keeps_failing_is_retried_then_failed(jt: Journeys, engine: Engine) -> None:
    # given a waiting run whose stored step no longer matches its definition (a corrupt row)
    jt.save(wait_journey())
    (ann,) = jt.people(1)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    with engine.begin() as conn:
        conn.execute(journey_runs.update().values(current_step="gone"))
    # when it comes due three times
    t = t0 + timedelta(hours=2)
    for _ in range(3):
        advance_due(engine, now=t)
        t += timedelta(minutes=6)
    # then it was retried, then failed, with each error on its path
    (run,) = jt.runs("cart")
    assert run["state"] == "failed"
    outcomes = [o for s, o in jt.outcomes("cart", ann) if s == "gone"]
    assert outcomes == ["error", "error", "failed"]


def test_a_goal_not_yet_seen_by_the_event_pass_still_stops_the_next_step(
    jt: Journeys, engine: Engine
) -> None:
    # given a waiting run, and an order the event pass has not read yet
    jt.save(wait_journey())
    (ann,) = jt.people(1)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    jt.emit(ann, "order_created", at=t0 + timedelta(minutes=5))
    # when only the advance job runs after the hour
    advance_due(engine, now=t0 + timedelta(hours=2))
    # then the run ended at the goal instead of taking its exit step
    (run,) = jt.runs("cart")
    assert (run["state"], run["exit_reason"]) == ("goal", "goal order_created")
    assert ("done", "completed") not in jt.outcomes("cart", ann)


def test_an_order_ingested_through_the_orders_api_is_a_goal_and_a_trigger(
    jt: Journeys, engine: Engine, actor: Actor
) -> None:
    from clarion.events.orders import LineItemIn, OrderIn, ingest_orders
    from clarion.events.service import ContactRef

    # given a cart journey whose goal is the orders feature's own event, and a thank-you
    # journey triggered by it
    jt.save(wait_journey(goal={"event": "order_completed", "where": {"total": {"gte": 10}}}))
    jt.save(
        {
            "name": "thanks",
            "trigger": {"event": "order_completed", "where": {"currency": "EUR"}},
            "steps": [{"id": "done", "exit": True}],
        }
    )
    (ann,) = jt.people(1)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    # when the shop reports an order through the orders ingestion
    with engine.begin() as conn:
        res = ingest_orders(
            conn,
            actor,
            [
                OrderIn(
                    ContactRef(contact_id=ann), "SO-1", utcnow(), "eur", [LineItemIn("TEA", 2, 7.5)]
                )
            ],
        )
    assert res.rejects == []
    jt.tick(t0 + timedelta(minutes=1))
    # then the cart run ended at the goal, and the order started the thank-you run
    assert jt.runs("cart")[0]["state"] == "goal"
    assert [r["state"] for r in jt.runs("thanks")] == ["completed"]


def test_a_run_keeps_the_version_it_entered_with(jt: Journeys) -> None:
    # given a contact waiting in version 1 of a journey
    v1 = [{"id": "wait", "wait": {"duration": "1h"}}, {"id": "done", "exit": {"reason": "v1"}}]
    v2 = [{"id": "wait", "wait": {"duration": "2h"}}, {"id": "done", "exit": {"reason": "v2"}}]
    jt.save(wait_journey(steps=v1))
    ann, bob = jt.people(2)
    t0 = utcnow()
    jt.emit(ann, "cart_abandoned")
    jt.tick(t0)
    # when version 2 is saved and Bob enters after it
    assert jt.save(wait_journey(steps=v2))["version"] == 2
    jt.emit(bob, "cart_abandoned")
    jt.tick(t0)
    jt.tick(t0 + timedelta(hours=3))
    # then Ann finished on version 1's steps, Bob on version 2's
    got = {r["contact_id"]: (r["version"], r["exit_reason"]) for r in jt.runs("cart")}
    assert got == {ann: (1, "v1"), bob: (2, "v2")}
