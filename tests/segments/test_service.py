"""Saved segments: validation, membership of other segments, snapshots, explanations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.segments.factory import AT, Person, insert_people

from clarion.audit.service import Actor, entries
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.segments import query, service
from clarion.segments.text import parse_text

DAY = timedelta(days=1)


@pytest.fixture
def people(engine: Engine, workspace_id: int) -> dict[str, int]:
    """Four people with countries, tags, purchases and orders; returns name -> contact id."""
    crowd = [
        Person(
            first_name="ann",
            country="US",
            tags={"vip"},
            events=[("purchase", AT - DAY, {})] * 2,
            orders=[(AT - DAY, 150.0, [])],
        ),
        Person(
            first_name="bob",
            country="US",
            events=[("purchase", AT - DAY, {})] * 3,
            orders=[(AT - DAY, 120.0, [])],
            traits={"churn": 0.9},
        ),
        Person(first_name="cem", country="GB", events=[("purchase", AT - 200 * DAY, {})] * 5),
        Person(first_name="dee", country="FR", attributes={"plan": "gold"}),
    ]
    with engine.begin() as conn:
        insert_people(conn, workspace_id, crowd)
    return {p.first_name or "": p.id for p in crowd}


def ids(engine: Engine, workspace_id: int, segment: Any, **kw: Any) -> set[int]:
    with engine.connect() as conn:
        q = query.audience_query(conn, workspace_id, [segment], at=AT, **kw)
        return set(conn.execute(q).scalars())


def test_the_issue_example_in_text_form(
    engine: Engine, actor: Actor, people: dict[str, int]
) -> None:
    # given the example from the issue, written in the compact text form
    text = (
        "country in [US,GB] and event(purchase) >= 2 within 90d and orders.total > 100 "
        "and not tag(vip)"
    )
    with engine.begin() as conn:
        sid = service.create_segment(conn, actor, "buyers", parse_text(text))
    # then only bob is in: ann is a VIP, cem bought too long ago, dee is in France
    assert ids(engine, actor.workspace_id, sid) == {people["bob"]}
    with engine.connect() as conn:
        seg = service.get_segment(conn, actor.workspace_id, sid)
        assert query.count(conn, actor.workspace_id, sid, at=AT) == 1
        audit = entries(conn, actor.workspace_id, object_type="segment")
    assert seg["text"].startswith("country in [US, GB] and event(purchase) >= 2 within 90d")
    assert [e.action for e in audit] == ["segment.create"]


@pytest.mark.parametrize(
    ("rules", "field", "reason"),
    [
        (
            {
                "all": [
                    {"field": "country", "op": "eq", "value": "US"},
                    {"any": [{"field": "shoe_size", "op": "eq", "value": 4}]},
                ]
            },
            "all[1].any[0].field",
            "unknown field",
        ),
        ({"all": [{"field": "country", "op": "gt", "value": "US"}]}, "all[0].op", "does not apply"),
        ({"field": "created_at", "op": "gte", "value": "last tuesday"}, "value", "bad date"),
        (
            {"type": "event", "name": "x", "window": {"from": "2026-13-01"}},
            "window.from",
            "bad date",
        ),
        ({"not": {"type": "segment", "segment_id": 999}}, "not.segment_id", "unknown segment"),
        ({"type": "orders", "metric": "margin", "op": "gt", "value": 1}, "metric", "one of"),
    ],
)
def test_invalid_rules_are_refused_with_the_path(
    engine: Engine, actor: Actor, rules: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        service.create_segment(conn, actor, "bad", rules)
    assert err.value.fields["field"] == field
    assert reason in err.value.fields["reason"]


def test_segment_membership_and_cycles(
    engine: Engine, actor: Actor, people: dict[str, int]
) -> None:
    # given "us" and "us buyers" built on it
    with engine.begin() as conn:
        us = service.create_segment(conn, actor, "us", parse_text("country = US"))
        buyers = service.create_segment(
            conn, actor, "us buyers", parse_text(f"segment({us}) and orders.count >= 1")
        )
    assert ids(engine, actor.workspace_id, buyers) == {people["ann"], people["bob"]}
    # when "us" is changed to refer to "us buyers", the cycle is refused with its path
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        service.update_segment(
            conn, actor, us, rules={"any": [{"type": "segment", "segment_id": buyers}]}
        )
    assert err.value.fields["reason"] == "cycle"
    assert err.value.fields["field"] == "any[0].segment_id"
    # and "us" cannot be deleted while "us buyers" uses it
    with pytest.raises(Conflict), engine.begin() as conn:
        service.delete_segment(conn, actor, us)
    with engine.begin() as conn:
        service.delete_segment(conn, actor, buyers)
        service.delete_segment(conn, actor, us)
        assert service.list_segments(conn, actor.workspace_id) == []


def test_audience_query_with_exclusions(
    engine: Engine, actor: Actor, people: dict[str, int]
) -> None:
    with engine.connect() as conn:
        q = query.audience_query(
            conn,
            actor.workspace_id,
            [parse_text("country in [US, GB]")],
            exclude_segment_ids=[parse_text("tag(vip)"), parse_text("trait(churn) > 0.5")],
            at=AT,
        )
        got = set(conn.execute(q).scalars())
    assert got == {people["cem"]}


def test_snapshots_freeze_members_and_time(
    engine: Engine, actor: Actor, people: dict[str, int]
) -> None:
    # given a segment and a snapshot of it
    with engine.begin() as conn:
        sid = service.create_segment(conn, actor, "us", parse_text("country = US"))
        snap = service.take_snapshot(conn, actor, sid, at=AT)
    # when the segment changes afterwards
    with engine.begin() as conn:
        service.update_segment(conn, actor, sid, rules=parse_text("country = FR"))
    # then the snapshot still holds the members at the time it was taken
    with engine.connect() as conn:
        frozen = set(
            conn.execute(query.snapshot_members(conn, actor.workspace_id, snap["id"])).scalars()
        )
        listed = service.list_snapshots(conn, actor.workspace_id, sid)
        with pytest.raises(NotFound):
            query.snapshot_members(conn, actor.workspace_id, snap["id"] + 100)
    assert frozen == {people["ann"], people["bob"]}
    assert snap["member_count"] == 2 and listed[0]["taken_at"] == AT
    assert ids(engine, actor.workspace_id, sid) == {people["dee"]}


def test_explain_membership_says_which_conditions_held(
    engine: Engine, actor: Actor, people: dict[str, int]
) -> None:
    rules = parse_text("country = US and (tag(vip) or event(purchase) >= 3 within 30d)")
    with engine.connect() as conn:
        why = query.explain_membership(conn, actor.workspace_id, rules, people["ann"], at=AT)
        why_not = query.explain_membership(conn, actor.workspace_id, rules, people["cem"], at=AT)
    assert why["member"] is True
    country, either = why["explanation"]["children"]
    assert country == {"path": "all[0]", "rule": "country = US", "held": True, "value": "US"}
    assert [c["held"] for c in either["children"]] == [True, False]
    # and it shows the count it compared: two purchases in the window, not three
    assert either["children"][1]["value"] == 2
    with engine.connect() as conn:
        spend = query.explain_membership(
            conn, actor.workspace_id, parse_text("orders.total > 200"), people["ann"], at=AT
        )
    assert spend["member"] is False and spend["explanation"]["value"] == 150
    assert why_not["member"] is False
    assert why_not["explanation"]["children"][0]["held"] is False


def test_sample_and_breakdown(engine: Engine, actor: Actor, people: dict[str, int]) -> None:
    rules = parse_text("not tag(vip)")
    with engine.connect() as conn:
        sample = query.sample(conn, actor.workspace_id, rules, limit=2, at=AT)
        by_country = query.breakdown(conn, actor.workspace_id, rules, "country", at=AT)
        by_plan = query.breakdown(conn, actor.workspace_id, rules, "attributes.plan", at=AT)
    assert [s["first_name"] for s in sample] == ["bob", "cem"]
    assert by_country == [
        {"value": "FR", "count": 1},
        {"value": "GB", "count": 1},
        {"value": "US", "count": 1},
    ]
    assert sorted(by_plan, key=lambda r: r["count"]) == [
        {"value": "gold", "count": 1},
        {"value": None, "count": 2},
    ]


def test_names_are_unique_per_workspace(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        service.create_segment(conn, actor, "a", parse_text("country = US"))
    with pytest.raises(Conflict), engine.begin() as conn:
        service.create_segment(conn, actor, "a", parse_text("country = GB"))
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM segments")).scalar_one()
    assert n == 1
