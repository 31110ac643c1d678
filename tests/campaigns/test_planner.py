"""The planner: audience to outbox, with exclusions, stable variants, routes, budget; idempotent."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.outbox import insert_messages
from clarion.campaigns.planner import estimate, plan_campaign
from clarion.campaigns.tables import campaign_exclusions
from clarion.campaigns.variants import assign, bucket
from clarion.db.types import utcnow
from clarion.delivery.bulk import db_time
from clarion.delivery.tables import messages


def _messages(engine: Engine, cid: int) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(messages).where(messages.c.campaign_id == cid).order_by(messages.c.id)
            )
        )


def test_plan_writes_one_rendered_message_per_consenting_contact(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given two opted-in contacts, one opted out, one without consent, one without a phone
    ok = make.contacts(["+12025550101", "+12025550102"])
    out = make.contacts(["+12025550103"], consent="opted_out")
    none = make.contacts(["+12025550104"], consent=None)
    nophone = make.contacts([None])
    make.route("main", price_per_part=0.01)
    cid = make.campaign()
    # when the campaign is planned
    report = plan_campaign(engine, actor, cid, chunk_size=2)
    # then only the consenting contacts get a queued message, rendered, with parts and cost
    rows = _messages(engine, cid)
    assert [r.contact_id for r in rows] == ok
    assert rows[0].body == "Acme: Hi Ann0, 20% off today. Reply STOP to opt out"
    assert (rows[0].status, rows[0].encoding, rows[0].parts, rows[0].cost) == (
        "queued",
        "gsm7",
        1,
        0.01,
    )
    # and every exclusion is recorded with its reason
    with engine.connect() as conn:
        excl = dict(
            conn.execute(
                sa.select(campaign_exclusions.c.contact_id, campaign_exclusions.c.reason).where(
                    campaign_exclusions.c.campaign_id == cid
                )
            ).all()
        )
    assert excl == {out[0]: "consent_revoked", none[0]: "no_consent", nophone[0]: "no_address"}
    assert report.planned == 2 and report.excluded == Counter(
        {"consent_revoked": 1, "no_consent": 1, "no_address": 1}
    )


def test_planning_twice_adds_nothing(engine: Engine, actor: Actor, make: Any) -> None:
    make.contacts([f"+1202555{i:04d}" for i in range(7)])
    make.contacts(["+12025559999"], consent=None)
    make.route("main")
    cid = make.campaign()
    first = plan_campaign(engine, actor, cid, chunk_size=3)
    # when the planner runs again (as after a crash half-way)
    second = plan_campaign(engine, actor, cid, chunk_size=3)
    # then no message or exclusion is added
    assert first.planned == 7 and second.planned == 0 and second.already_planned == 7
    assert make.count(messages, messages.c.campaign_id == cid) == 7
    assert make.count(campaign_exclusions, campaign_exclusions.c.campaign_id == cid) == 1


def test_variants_and_holdout_follow_a_stable_hash(engine: Engine, actor: Actor, make: Any) -> None:
    make.contacts([f"+1202555{i:04d}" for i in range(400)])
    make.route("main")
    cid = make.campaign(
        variants=[
            {"name": "A", "body": "Acme A. Reply STOP to opt out", "split_pct": 50},
            {"name": "B", "body": "Acme B. Reply STOP to opt out", "split_pct": 50},
        ],
        holdout_pct=20,
    )
    report = plan_campaign(engine, actor, cid)
    rows = _messages(engine, cid)
    # every row is where its hash says, and roughly in proportion
    for r in rows:
        b = bucket(cid, r.contact_id)
        assert r.holdout == (b < 2000)
        assert r.status == ("holdout" if r.holdout else "queued")
    assert 50 <= report.holdout <= 110
    assert 100 <= report.by_variant["A"] <= 220 and 100 <= report.by_variant["B"] <= 220
    assert report.holdout + report.planned == 400


def test_assign_covers_every_bucket() -> None:
    splits = [(1, 3333), (2, 3333), (3, 3334)]
    got = Counter(assign(b, 1000, splits) for b in range(10_000))
    assert got[None] == 1000
    assert sum(got[v] for v in (1, 2, 3)) == 9000
    assert min(got[v] for v in (1, 2, 3)) >= 2999


def test_route_by_prefix_and_no_route_exclusion(engine: Engine, actor: Actor, make: Any) -> None:
    us = make.contacts(["+12025550101"], region="US")
    gb = make.contacts(["+447700900123"], region="GB")
    fr = make.contacts(["+33612345678"], region="FR")
    make.route("uk", countries=["GB"], priority=10, price_per_part=0.03)
    make.route("us", prefixes=["+1"], priority=20, price_per_part=0.01)
    cid = make.campaign()
    report = plan_campaign(engine, actor, cid)
    with engine.connect() as conn:
        got: dict[int, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT m.contact_id, r.name FROM messages m JOIN routes r ON r.id = m.route_id"
                )
            ).all()
        )
    assert got == {us[0]: "us", gb[0]: "uk"}
    assert report.excluded["no_route"] == 1
    assert make.count(campaign_exclusions, campaign_exclusions.c.contact_id == fr[0]) == 1
    assert report.by_route["uk"]["cost"] == 0.03


def test_budget_cap_stops_planning_when_reached(engine: Engine, actor: Actor, make: Any) -> None:
    make.contacts([f"+1202555{i:04d}" for i in range(10)])
    make.route("main", price_per_part=0.5)
    cid = make.campaign(budget_cap=2.0)
    report = plan_campaign(engine, actor, cid, chunk_size=3)
    assert report.planned == 4 and report.excluded["budget_cap"] == 6
    assert report.budget_reached and report.cost == 2.0
    # and a second plan does not spend past the cap
    again = plan_campaign(engine, actor, cid, chunk_size=3)
    assert again.planned == 0


def test_estimate_writes_nothing(engine: Engine, actor: Actor, make: Any) -> None:
    make.contacts(["+12025550101", "+12025550102"])
    make.contacts(["+12025550103"], consent=None)
    make.route("main", price_per_part=0.02)
    cid = make.campaign(
        variants=[{"name": "L", "body": "Acme " + "€" * 80 + " Reply STOP to opt out"}]
    )
    with engine.connect() as conn:
        report = estimate(conn, actor.workspace_id, cid)
    assert report.to_dict()["by_route"] == {"main": {"messages": 2, "parts": 4, "cost": 0.08}}
    assert report.excluded == Counter({"no_consent": 1})
    assert make.count(messages) == 0 and make.count(campaign_exclusions) == 0


def test_local_time_schedule_uses_each_recipients_zone(
    engine: Engine, actor: Actor, make: Any
) -> None:
    ny = make.contacts(["+12025550101"], timezone="America/New_York")
    tokyo = make.contacts(["+12025550102"], timezone="Asia/Tokyo")
    make.route("main")
    cid = make.campaign(
        schedule={"kind": "local_time", "local_time": "10:00", "date": "2027-01-15"}
    )
    plan_campaign(engine, actor, cid)
    got = {r.contact_id: r.send_at.isoformat() for r in _messages(engine, cid)}
    assert got == {ny[0]: "2027-01-15T15:00:00+00:00", tokyo[0]: "2027-01-15T01:00:00+00:00"}


def test_audience_by_tag(engine: Engine, actor: Actor, make: Any) -> None:
    vip = make.contacts(["+12025550101"], tag="vip")
    make.contacts(["+12025550102"])
    make.route("main")
    cid = make.campaign(audience={"tags": ["vip"]})
    plan_campaign(engine, actor, cid)
    assert [r.contact_id for r in _messages(engine, cid)] == vip


def test_audience_by_segment_minus_an_excluded_segment(
    engine: Engine, actor: Actor, make: Any
) -> None:
    from clarion.segments.service import create_segment
    from clarion.segments.text import parse_text

    # given US and GB contacts, one US contact tagged vip
    us = make.contacts(["+12025550101", "+12025550102"], region="US")
    make.contacts(["+447700900123"], region="GB")
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO contact_tags (contact_id, tag) VALUES ({us[1]}, 'vip')"))
        in_us = create_segment(conn, actor, "us", parse_text("country = US"))
        vips = create_segment(conn, actor, "vips", parse_text("tag(vip)"))
    make.route("main")
    # when a campaign targets the US segment without the vip segment
    cid = make.campaign(audience={"segment_ids": [in_us], "exclude_segment_ids": [vips]})
    plan_campaign(engine, actor, cid)
    # then only the US contact who is not a vip is planned
    assert [r.contact_id for r in _messages(engine, cid)] == [us[0]]


def test_outbox_insert_racing_another_planner_skips_its_rows_and_keeps_the_rest(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a campaign planned for two contacts, and a third contact planned by nobody yet
    first = make.contacts(["+12025550101", "+12025550102"])
    make.route("main")
    cid = make.campaign()
    plan_campaign(engine, actor, cid)
    late = make.contacts(["+12025550103"])
    before = {r.contact_id: r.body for r in _messages(engine, cid)}
    # when a second planner's chunk names one contact the first planner wrote, and the new one
    with engine.begin() as conn:
        now = db_time(conn, utcnow())

        def row(contact_id: int, body: str) -> tuple[Any, ...]:
            return (
                actor.workspace_id, cid, contact_id, "sms", now, now, 0, False, None, True,
                "holdout", None, None, body, None, 0, 0.0,
            )  # fmt: skip

        insert_messages(conn, [row(first[1], "raced"), row(late[0], "late")])
    # then the written message is left alone (on PostgreSQL the direct COPY fails and the
    # chunk goes by the staging table), and the new contact's row is there once
    rows = _messages(engine, cid)
    assert sorted(r.contact_id for r in rows) == sorted([*first, *late])
    assert {r.contact_id: r.body for r in rows if r.contact_id in first} == before
    assert [r.body for r in rows if r.contact_id == late[0]] == ["late"]
