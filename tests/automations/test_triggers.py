"""Date (birthday) and segment-entry triggers, and several workers advancing at once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys, wait_journey

from clarion.audit.service import Actor
from clarion.automations.advance import advance_due
from clarion.automations.tables import journey_run_steps
from clarion.automations.timing import next_local, yearly
from clarion.contacts.tables import contact_tags
from clarion.db.engine import is_sqlite
from clarion.segments.service import create_segment

EXIT = [{"id": "greet", "exit": {"reason": "greeted"}}]


def _birthday_journey(jt: Journeys, **date: object) -> None:
    jt.save(
        {
            "name": "birthday",
            "trigger": {"date": {"attribute": "birthday", "at": "10:00", **date}},
            "steps": EXIT,
        }
    )


def test_a_birthday_starts_a_run_at_ten_on_the_contacts_own_clock_once_a_year(
    jt: Journeys,
) -> None:
    # given a birthday journey and contacts born on 22 November in Tokyo and New York
    _birthday_journey(jt)
    (tokyo,) = jt.people(1, timezone="Asia/Tokyo", birthday="1990-11-22")
    (ny,) = jt.people(1, timezone="America/New_York", birthday="1985-11-22")
    (other,) = jt.people(1, timezone="UTC", birthday="1985-06-01")
    (junk,) = jt.people(1, timezone="UTC", birthday="22/11/1985")
    # when the job runs at 02:00 UTC on the 22nd (11:00 in Tokyo, 21:00 on the 21st in NY)
    jt.tick(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    # then only Tokyo entered, as of 10:00 JST
    runs = jt.runs("birthday")
    assert [(r["contact_id"], r["entered_at"]) for r in runs] == [
        (tokyo, datetime(2026, 11, 22, 1, 0, tzinfo=UTC))
    ]
    # when it runs at 15:30 UTC (10:30 in New York), and again later that day
    jt.tick(datetime(2026, 11, 22, 15, 30, tzinfo=UTC))
    jt.tick(datetime(2026, 11, 22, 20, 0, tzinfo=UTC))
    # then New York entered once, and Tokyo was not entered again
    assert sorted(r["contact_id"] for r in jt.runs("birthday")) == sorted([tokyo, ny])
    # and next year both enter again
    jt.tick(datetime(2027, 11, 22, 2, 0, tzinfo=UTC))
    jt.tick(datetime(2027, 11, 22, 16, 0, tzinfo=UTC))
    assert len(jt.runs("birthday")) == 4
    assert {r["trigger_key"] for r in jt.runs("birthday")} == {"d:2026", "d:2027"}
    assert other not in {r["contact_id"] for r in jt.runs("birthday")}
    assert junk not in {r["contact_id"] for r in jt.runs("birthday")}


def test_days_before_and_the_29th_of_february(jt: Journeys) -> None:
    # given a journey three days before birthdays, and someone born on 29 February
    _birthday_journey(jt, days_before=3)
    (leap,) = jt.people(1, timezone="UTC", birthday="2000-02-29")
    # when the job runs on 25 February 2027 (no 29th that year: the birthday is the 28th)
    jt.tick(datetime(2027, 2, 25, 12, 0, tzinfo=UTC))
    # then the leapling entered three days ahead of the 28th
    (run,) = jt.runs("birthday")
    assert run["contact_id"] == leap and run["trigger_key"] == "d:2027"
    assert yearly(date(2000, 2, 29), 2027) == date(2027, 2, 28)


def test_entering_a_segment_starts_a_run_after_the_baseline(
    jt: Journeys, engine: Engine, actor: Actor
) -> None:
    # given a VIP segment with one member before the journey exists
    with engine.begin() as conn:
        create_segment(conn, actor, "vip", {"type": "tag", "tag": "vip"})
    ann, bob = jt.people(2)

    def tag(cid: int, on: bool) -> None:
        with engine.begin() as conn:
            if on:
                conn.execute(contact_tags.insert().values(contact_id=cid, tag="vip"))
            else:
                conn.execute(contact_tags.delete().where(contact_tags.c.contact_id == cid))

    tag(ann, True)
    jt.save({"name": "vip-welcome", "trigger": {"segment": "vip"}, "steps": EXIT})
    # when the job takes its first look, then Ann is the baseline, not an entry
    jt.tick()
    assert jt.runs("vip-welcome") == []
    # when Bob becomes a VIP
    tag(bob, True)
    jt.tick()
    # then Bob entered
    assert [r["contact_id"] for r in jt.runs("vip-welcome")] == [bob]
    # when Ann leaves and comes back, she enters; looking again changes nothing
    tag(ann, False)
    jt.tick()
    tag(ann, True)
    jt.tick()
    jt.tick()
    assert sorted(r["contact_id"] for r in jt.runs("vip-welcome")) == sorted([ann, bob])


def test_a_segment_trigger_naming_a_missing_segment_is_refused(jt: Journeys) -> None:
    import pytest

    from clarion.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as err:
        jt.save({"name": "x", "trigger": {"segment": "nope"}, "steps": EXIT})
    assert err.value.fields["field"] == "trigger.segment"


def test_next_local_time_across_a_dst_change() -> None:
    # given 2026-03-29 in Paris, when clocks jump from 02:00 to 03:00
    after = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    # then the next 10:00 is 10:00 CEST (08:00 UTC), not 09:00 UTC
    assert next_local(after + timedelta(hours=12), time(10, 0), "Europe/Paris") == (
        datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    )


def test_two_workers_advancing_at_once_take_each_run_once(jt: Journeys, engine: Engine) -> None:
    # given 300 contacts waiting in a journey
    jt.save(
        wait_journey(steps=[{"id": "w", "wait": {"duration": "1h"}}, {"id": "x", "exit": True}])
    )
    people = jt.people(300)
    for cid in people:
        jt.emit(cid, "cart_abandoned")
    t0 = jt.now()
    jt.tick(t0)
    # when two workers advance due runs at the same time, in small batches
    later = t0 + timedelta(hours=2)
    done: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            done.append(advance_due(engine, now=later, limit=25))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every run completed exactly once: 300 advanced in total, one exit step each
    assert errors == []
    assert sum(done) == 300
    if not is_sqlite(engine):
        assert all(n > 0 for n in done)  # SKIP LOCKED let both take batches
    exits = jt.scalar(
        sa.select(sa.func.count()).where(
            journey_run_steps.c.kind == "exit", journey_run_steps.c.step_id == "x"
        )
    )
    assert exits == 300
    assert {r["state"] for r in jt.runs("cart", limit=1000)} == {"completed"}
