"""The campaign report: funnel, breakdowns, variant statistics, holdout lift, SRM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.analytics.report import build_report
from clarion.audit.service import Actor
from clarion.campaigns.tables import campaign_exclusions, campaign_variants
from clarion.consent.tables import consent_ledger
from tests.tracking import factories as f

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
TWO = [
    {"name": "A", "body": "Acme: sale today. Reply STOP to opt out", "split_pct": 50},
    {"name": "B", "body": "Acme: 20% off today. Reply STOP to opt out", "split_pct": 50},
]


def variant_ids(engine: Engine, cid: int) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(campaign_variants.c.name, campaign_variants.c.id).where(
                    campaign_variants.c.campaign_id == cid
                )
            ).all()
        )


def build(engine: Engine, actor: Actor, make: Any) -> tuple[int, dict[str, list[int]]]:
    """A two-variant campaign with a holdout, in known states; return it and its groups."""
    ws = actor.workspace_id
    people = make.contacts([f"+120255501{i:02d}" for i in range(40)])
    route = make.route("main", price_per_part=0.01)
    cid = make.campaign(variants=TWO, holdout_pct=20)
    v = variant_ids(engine, cid)
    a, b, hold, excl = people[:15], people[15:30], people[30:38], people[38:]
    for i, c in enumerate(a):  # A: 15 sent, 12 delivered, 3 failed
        st = "delivered" if i < 12 else "failed"
        code = None if st == "delivered" else "0x0000000b"
        f.message(engine, ws, cid, c, at=T + i * H / 20, status=st, variant_id=v["A"],
                  route_id=route, provider_code=code)  # fmt: skip
    for c in b:  # B: 15 delivered
        f.message(engine, ws, cid, c, at=T + 2 * H, variant_id=v["B"], route_id=route)
    for c in hold:
        f.message(engine, ws, cid, c, at=T, status="holdout", holdout=True)
    with engine.begin() as conn:
        conn.execute(
            campaign_exclusions.insert(),
            [{"campaign_id": cid, "contact_id": c, "reason": "quiet_hours", "at": T} for c in excl],
        )
        conn.execute(
            consent_ledger.insert().values(
                workspace_id=ws, contact_id=b[0], channel="sms", purpose="marketing",
                status="opted_out", source="keyword", occurred_at=T + 3 * H,
                recorded_at=T + 3 * H, actor="test",
            )
        )  # fmt: skip
    for c in a[:4] + b[:8]:  # clicks by people; plus a preview that is no click
        f.click(engine, ws, cid, c, T + 3 * H)
    f.click(engine, ws, cid, a[5], T + 3 * H, filtered="bot:slackbot")
    for c in a[:2] + b[:5]:  # orders after the click
        f.order(engine, ws, c, T + 4 * H, 50.0)
    f.order(engine, ws, hold[0], T + 4 * H, 30.0)  # the holdout buys too, unattributed
    return cid, {"A": a, "B": b, "holdout": hold}


def test_report_funnel_and_breakdowns(engine: Engine, actor: Actor, make: Any) -> None:
    # given a campaign in known states
    cid, _ = build(engine, actor, make)
    # when its report is built
    with engine.begin() as conn:
        rep = build_report(conn, actor.workspace_id, cid)
    # then the funnel counts what happened
    fn = rep.funnel
    assert (fn["targeted"], fn["excluded"], fn["holdout"], fn["planned"]) == (40, 2, 8, 30)
    assert (fn["sent"], fn["delivered"], fn["failed"]) == (30, 27, 3)
    assert (fn["clicked"], fn["converted"], fn["opted_out"]) == (12, 7, 1)
    assert fn["cost"] == 0.30 and fn["revenue"] == 350.0
    assert fn["roi"] == round((350.0 - 0.30) / 0.30, 4)
    assert rep.excluded == {"quiet_hours": 2}
    assert rep.failed == {"failed: 0x0000000b": 3}
    # and the variants, routes, carriers and hours add up
    a, b = rep.variants
    assert (a.name, a.sent, a.delivered, a.clicked, a.converted, a.revenue) == (
        "A",
        15,
        12,
        4,
        2,
        100.0,
    )
    assert (b.name, b.delivered, b.clicked, b.converted, b.opted_out) == ("B", 15, 8, 5, 1)
    assert rep.by_route == {"main": {"sent": 30, "delivered": 27, "failed": 3, "cost": 0.30}}
    assert sum(n for _, n in rep.deliveries_by_hour) == 27 == sum(rep.by_hour_of_day)
    assert rep.by_hour_of_day[12] == 12 and rep.by_hour_of_day[14] == 15
    assert rep.by_country == {"US": {"sent": 30, "delivered": 27}}
    # and the Wilson interval brackets each rate
    r = b.rates["click"]
    assert r["low"] < r["rate"] == 8 / 15 < r["high"]


def test_report_statistics_lift_and_srm(engine: Engine, actor: Actor, make: Any) -> None:
    # given the same campaign
    cid, _ = build(engine, actor, make)
    with engine.begin() as conn:
        rep = build_report(conn, actor.workspace_id, cid)
    # then with 15 recipients per variant nothing is significant: no winner is named
    assert rep.winner is None and rep.winner_metric == "conversion"
    assert len(rep.comparisons) == 1 and rep.comparisons[0]["p_adjusted"] > 0.05
    # and the lift compares every planned recipient with the holdout group
    lift = rep.lift
    assert lift is not None and lift["available"]
    assert lift["treatment"] == {"n": 30, "converted": 7, "revenue": 350.0}
    assert lift["holdout"] == {"n": 8, "converted": 1, "revenue": 30.0}
    inc = lift["incremental_conversions"]
    assert inc["low"] < inc["estimate"] == 30 * (7 / 30 - 1 / 8) < inc["high"]
    # and the 15/15/8 split fits 40/40/20 well enough: no sample-ratio mismatch
    assert rep.srm["observed"] == {"A": 15, "B": 15, "holdout": 8}
    assert not rep.srm["mismatch"]


def test_a_draft_campaign_reports_zeros_without_error(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a campaign that was never planned
    cid = make.campaign(variants=TWO)
    # when its report is built
    with engine.begin() as conn:
        rep = build_report(conn, actor.workspace_id, cid)
    # then every figure is zero, there is no winner and no lift to speak of
    assert rep.funnel["targeted"] == rep.funnel["sent"] == 0 and rep.funnel["roi"] == 0.0
    assert rep.winner is None and rep.lift is None and not rep.srm["mismatch"]


def test_the_omnibus_test_matches_the_pairwise_inputs(
    engine: Engine, actor: Actor, make: Any
) -> None:
    from statsmodels.stats.proportion import proportions_chisquare

    # given the campaign; when reported
    cid, _ = build(engine, actor, make)
    with engine.begin() as conn:
        rep = build_report(conn, actor.workspace_id, cid, correction="bh")
    # then the chi-square across variants is statsmodels' on the same counts (2 of 12, 5 of 15)
    ref = proportions_chisquare([2, 5], [12, 15])
    assert rep.omnibus["statistic"] == pytest.approx(ref[0]) and rep.correction == "bh"
