"""Attribution: last click within the click window, else delivery within the delivery window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.tracking.attribution import attribute
from clarion.tracking.settings import AttributionUpdate, set_campaign_rules
from clarion.tracking.tables import conversions
from tests.tracking import factories as f

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
PLAIN = [{"name": "A", "body": "Acme: the sale is on today. Reply STOP to opt out"}]


def _by_source(engine: Engine) -> dict[int, Any]:
    return {r.source_id: r for r in f.rows(engine, conversions)}


def test_last_click_then_delivery_then_nothing(engine: Engine, actor: Actor, make: Any) -> None:
    ws = actor.workspace_id
    a, b, c, d, e, g = make.contacts([f"+1202555010{i}" for i in range(6)])
    one = make.campaign(name="one", variants=PLAIN)
    two = make.campaign(name="two", variants=PLAIN)
    msgs = {k: f.message(engine, ws, one, k, at=T) for k in (a, b, c, d, e, g)}
    later = {k: f.message(engine, ws, two, k, at=T + 5 * H) for k in (d, e)}
    # given: a clicked campaign one and bought; b only received it and bought within a day;
    f.click(engine, ws, one, a, T + H)
    oa = f.order(engine, ws, a, T + 2 * H, 40.0)
    ob = f.order(engine, ws, b, T + 3 * H, 25.0)
    # c bought two days later (outside the delivery window, no click);
    oc = f.order(engine, ws, c, T + 48 * H, 10.0)
    # d clicked campaign one, then got campaign two delivered, then bought: the click wins;
    f.click(engine, ws, one, d, T + H)
    od = f.order(engine, ws, d, T + 6 * H, 60.0)
    # e clicked both campaigns: the last click wins;
    f.click(engine, ws, one, e, T + H)
    f.click(engine, ws, two, e, T + 6 * H)
    oe = f.order(engine, ws, e, T + 7 * H, 70.0)
    # g's "click" was a WhatsApp preview, and g's order was cancelled anyway
    f.click(engine, ws, one, g, T + H, filtered="bot:whatsapp")
    og = f.order(engine, ws, g, T + 2 * H, 5.0, status="cancelled")
    # when the period is attributed
    with engine.begin() as conn:
        counts = attribute(conn, ws, T - 24 * H, T + 72 * H)
    # then each order went to the right message by the right rule
    got = _by_source(engine)
    assert counts == {"click": 3, "delivery": 1}
    assert (got[oa].message_id, got[oa].attributed_by, got[oa].revenue) == (msgs[a], "click", 40.0)
    assert (got[ob].message_id, got[ob].attributed_by) == (msgs[b], "delivery")
    assert oc not in got and og not in got
    assert (got[od].campaign_id, got[od].attributed_by) == (one, "click")
    assert (got[oe].message_id, got[oe].campaign_id) == (later[e], two)
    # and attributing again replaces, never duplicates
    with engine.begin() as conn:
        again = attribute(conn, ws, T - 24 * H, T + 72 * H)
    assert again == counts and len(f.rows(engine, conversions)) == 4


def test_campaign_rules_and_goal_events(engine: Engine, actor: Actor, make: Any) -> None:
    ws = actor.workspace_id
    a, b = make.contacts(["+12025550101", "+12025550102"])
    cid = make.campaign(variants=PLAIN)
    ma = f.message(engine, ws, cid, a, at=T)
    f.message(engine, ws, cid, b, at=T)
    # given a campaign whose delivery window is 3 days and whose goal is a "signup" event
    with engine.begin() as conn:
        set_campaign_rules(
            conn,
            actor,
            cid,
            AttributionUpdate(delivery_window_s=3 * 86400, goal_events=["signup"]),
        )
    ob = f.order(engine, ws, b, T + 48 * H, 12.5)
    ev = f.event(engine, ws, a, "signup", T + 2 * H, revenue=9.5)
    other = f.event(engine, ws, a, "page_view", T + 2 * H)
    # when attributed
    with engine.begin() as conn:
        attribute(conn, ws, T - H, T + 96 * H)
    # then the two-day-late order counts by delivery, and the goal event with its revenue
    rows = f.rows(engine, conversions)
    got = {(r.source, r.source_id): r for r in rows}
    assert got[("order", ob)].attributed_by == "delivery"
    assert (got[("event", ev)].message_id, got[("event", ev)].revenue) == (ma, 9.5)
    assert ("event", other) not in got and len(rows) == 2
