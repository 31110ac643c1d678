"""What a campaign did: the funnel, breakdowns, variant statistics and holdout lift.

Every figure comes from a GROUP BY in the database, one pass per question, so a million-message
campaign is a dozen aggregate queries, not a million Python objects. The statistics then work
on those counts (:mod:`clarion.analytics.stats`).

Definitions (also in docs/reports.md):
- *targeted*: contacts the plan considered (outbox rows, holdout included, plus exclusions);
- *sent*: messages submitted to a provider; *delivered*: with a delivery receipt;
- *clicked*: recipients with at least one click that was not a preview or prefetch;
- *converted*: recipients with an attributed conversion (:mod:`clarion.tracking.attribution`);
- *opted out*: recipients who opted out of the campaign's channel within the click window
  after their message was sent;
- *lift*: conversions (any order, attributed or not) within the click window after the planned
  send time, treatment (every planned recipient) against the holdout group.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from clarion.analytics import stats
from clarion.analytics.sqltime import epoch_sql, floor_sql
from clarion.campaigns.service import Campaign, get_campaign
from clarion.db.types import UTCDateTime, utcnow
from clarion.social.promotion import engagement as social_engagement
from clarion.tracking.attribution import attribute
from clarion.tracking.settings import campaign_rules
from clarion.workspaces.tables import workspaces

HOUR = 3600
SENT_STATUSES = ("submitted", "delivered", "failed", "expired", "uncertain")
FAILED_STATUSES = ("failed", "expired", "uncertain")


@dataclass
class VariantStats:
    """One variant's (or the holdout's) counts and rates."""

    name: str
    variant_id: int | None
    planned: int = 0
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    converted: int = 0
    revenue: float = 0.0
    cost: float = 0.0
    opted_out: int = 0
    rates: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class CampaignReport:
    """Everything ``clarion report campaign`` prints and draws."""

    campaign_id: int
    name: str
    status: str
    channel: str
    generated_at: datetime
    timezone: str
    funnel: dict[str, float]
    excluded: dict[str, int]
    failed: dict[str, int]
    variants: list[VariantStats]
    comparisons: list[dict[str, Any]]
    #: Chi-square test that every variant has the same rate (before any pairwise test).
    omnibus: dict[str, float]
    correction: str
    winner: str | None
    winner_metric: str
    srm: dict[str, Any]
    lift: dict[str, Any] | None
    by_route: dict[str, dict[str, float]]
    by_carrier: dict[str, dict[str, int]]
    by_country: dict[str, dict[str, int]]
    deliveries_by_hour: list[tuple[datetime, int]]
    by_hour_of_day: list[int]
    attribution: dict[str, Any]
    #: Social actions attributed to the campaign, comment sentiment, sign-ups by its keyword.
    social: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        out = asdict(self)
        out["deliveries_by_hour"] = [(t.isoformat(), n) for t, n in self.deliveries_by_hour]
        return out


def _rows(conn: sa.Connection, sql: str, **params: Any) -> list[Any]:
    stmt = sa.text(sql)
    for name, value in params.items():
        if isinstance(value, datetime):
            stmt = stmt.bindparams(sa.bindparam(name, type_=UTCDateTime()))
    return list(conn.execute(stmt, params))


def build_report(
    conn: sa.Connection,
    workspace_id: int,
    campaign_id: int,
    *,
    attribute_first: bool = True,
    alpha: float = stats.ALPHA,
    correction: str = "holm",
) -> CampaignReport:
    """Return the report of one campaign; with ``attribute_first`` (re)attribute the
    conversions of the campaign's period first, so the figures are current."""
    camp = get_campaign(conn, workspace_id, campaign_id)
    rules = campaign_rules(conn, workspace_id, campaign_id)
    tz_name = conn.execute(
        sa.select(workspaces.c.timezone).where(workspaces.c.id == workspace_id)
    ).scalar_one()
    tz = ZoneInfo(tz_name or "UTC")

    names = {v.id: v.name for v in camp.variants}
    groups: dict[int | None, VariantStats] = {
        v.id: VariantStats(v.name, v.id) for v in camp.variants
    }
    holdout = VariantStats("holdout", None)
    status_counts: Counter[str] = Counter()
    by_route: dict[str, dict[str, float]] = defaultdict(
        lambda: {"sent": 0, "delivered": 0, "failed": 0, "cost": 0.0}
    )
    route_names: dict[Any, str] = dict(
        conn.execute(
            sa.text("SELECT id, name FROM routes WHERE workspace_id = :ws"), {"ws": workspace_id}
        ).all()
    )
    failed: Counter[str] = Counter()
    per_hour: Counter[float] = Counter()
    first: Any = None
    last: Any = None
    # 1. one pass over the campaign's outbox: status, group, route, failure code, delivery hour
    for r in _rows(
        conn,
        f"""SELECT status, holdout, variant_id, route_id,
                  CASE WHEN status IN ('failed', 'expired', 'uncertain')
                       THEN coalesce(provider_code, 'no code') END AS code,
                  {floor_sql(conn, "delivered_at", HOUR)} AS bucket,
                  count(*) AS n, coalesce(sum(cost), 0) AS cost,
                  count(delivered_at) AS delivered, min(send_at) AS first, max(send_at) AS last
           FROM messages WHERE campaign_id = :cid
           GROUP BY status, holdout, variant_id, route_id, 5, 6""",
        cid=campaign_id,
    ):
        n = int(r.n)
        first = r.first if first is None else min(first, r.first)
        last = r.last if last is None else max(last, r.last)
        status_counts[r.status] += n
        g = holdout if r.holdout else groups.setdefault(r.variant_id, VariantStats("?", None))
        g.planned += n
        if r.holdout:
            continue
        if r.code is not None:
            failed[f"{r.status}: {r.code}"] += n
        if r.bucket is not None:
            per_hour[float(r.bucket)] += int(r.delivered)
        sent = n if r.status in SENT_STATUSES else 0
        g.sent += sent
        g.delivered += int(r.delivered)
        g.cost += float(r.cost) if sent else 0.0
        if sent:
            slot = by_route[route_names.get(r.route_id, str(r.route_id))]
            slot["sent"] += sent
            slot["delivered"] += int(r.delivered)
            slot["failed"] += n if r.status in FAILED_STATUSES else 0
            slot["cost"] += float(r.cost)
    attributed: dict[str, int] = {}
    if attribute_first and first is not None:
        conv = UTCDateTime()
        lo, hi = (
            conv.process_result_value(first, conn.dialect),
            conv.process_result_value(last, conn.dialect),
        )
        assert lo is not None and hi is not None
        until = hi + timedelta(seconds=rules.click_window_s + rules.delivery_window_s)
        attributed = attribute(conn, workspace_id, lo, until)
    # 2. exclusions and failures by reason
    excluded = {
        str(r.reason): int(r.n)
        for r in _rows(
            conn,
            "SELECT reason, count(*) AS n FROM campaign_exclusions WHERE campaign_id = :cid"
            " GROUP BY reason ORDER BY count(*) DESC",
            cid=campaign_id,
        )
    }
    excluded_people = int(
        conn.execute(
            sa.text(
                "SELECT count(DISTINCT contact_id) FROM campaign_exclusions"
                " WHERE campaign_id = :cid"
            ),
            {"cid": campaign_id},
        ).scalar_one()
    )
    # 3. clicks (people, not previews) and conversions per variant
    for r in _rows(
        conn,
        """SELECT m.variant_id, count(DISTINCT c.contact_id) AS people
           FROM link_clicks c
           JOIN messages m ON m.campaign_id = c.campaign_id AND m.contact_id = c.contact_id
           WHERE c.campaign_id = :cid AND c.filtered IS NULL GROUP BY m.variant_id""",
        cid=campaign_id,
    ):
        groups.setdefault(r.variant_id, VariantStats("?", r.variant_id)).clicked += int(r.people)
    attribution: dict[str, Any] = {"rules": rules.to_dict(), "by_rule": {}}
    for r in _rows(
        conn,
        """SELECT variant_id, attributed_by, count(*) AS n, count(DISTINCT contact_id) AS people,
                  coalesce(sum(revenue), 0) AS revenue
           FROM conversions WHERE campaign_id = :cid GROUP BY variant_id, attributed_by""",
        cid=campaign_id,
    ):
        g = groups.setdefault(r.variant_id, VariantStats("?", r.variant_id))
        g.converted += int(r.people)
        g.revenue += float(r.revenue)
        slot = attribution["by_rule"].setdefault(
            r.attributed_by, {"conversions": 0, "revenue": 0.0}
        )
        slot["conversions"] += int(r.n)
        slot["revenue"] += float(r.revenue)
    attribution["attributed_now"] = attributed
    # 4. opt-outs after the message, within the click window
    for r in _rows(
        conn,
        f"""SELECT m.variant_id, count(DISTINCT m.contact_id) AS n
            FROM messages m JOIN consent_ledger l ON l.contact_id = m.contact_id
            WHERE m.campaign_id = :cid AND m.submitted_at IS NOT NULL
              AND l.channel = :channel AND l.status = 'opted_out'
              AND l.occurred_at >= m.submitted_at
              AND {epoch_sql(conn, "l.occurred_at")} - {epoch_sql(conn, "m.submitted_at")}
                  <= :window
            GROUP BY m.variant_id""",
        cid=campaign_id,
        channel=camp.channel,
        window=rules.click_window_s,
    ):
        groups.setdefault(r.variant_id, VariantStats("?", r.variant_id)).opted_out += int(r.n)
    # 5. deliveries by hour, route, carrier and country
    hourly = [(datetime.fromtimestamp(t, UTC), n) for t, n in sorted(per_hour.items())]
    by_hour_of_day = [0] * 24
    for t, n in hourly:
        by_hour_of_day[t.astimezone(tz).hour] += n
    by_carrier: dict[str, dict[str, int]] = {}
    by_country: dict[str, dict[str, int]] = defaultdict(lambda: {"sent": 0, "delivered": 0})
    for r in _rows(
        conn,
        """SELECT coalesce(c.phone_carrier, '') AS carrier,
                  coalesce(c.phone_region, c.country, '') AS country,
                  count(m.submitted_at) AS sent, count(m.delivered_at) AS delivered
           FROM messages m JOIN contacts c ON c.id = m.contact_id
           WHERE m.campaign_id = :cid AND NOT m.holdout
           GROUP BY 1, 2""",
        cid=campaign_id,
    ):
        carrier_slot = by_carrier.setdefault(r.carrier or "(unknown)", {"sent": 0, "delivered": 0})
        carrier_slot["sent"] += int(r.sent)
        carrier_slot["delivered"] += int(r.delivered)
        country_slot = by_country[r.country or "(unknown)"]
        country_slot["sent"] += int(r.sent)
        country_slot["delivered"] += int(r.delivered)

    variants = [groups[v.id] for v in camp.variants] + [
        g for k, g in groups.items() if k not in names
    ]
    for g in variants:
        g.rates = {
            "delivery": asdict(stats.wilson(g.delivered, g.sent, alpha)),
            "click": asdict(stats.wilson(g.clicked, g.delivered, alpha)),
            "conversion": asdict(stats.wilson(g.converted, g.delivered, alpha)),
        }
    metric = "click" if camp.goal_metric == "clicks" else "conversion"

    def success(g: VariantStats) -> int:
        return g.clicked if metric == "click" else g.converted

    tested = {g.name: (success(g), g.delivered) for g in variants if g.variant_id in names}
    comps, winner = stats.compare_variants(tested, alpha=alpha, correction=correction)
    chi2, chi_p = stats.chi_square([k for k, _ in tested.values()], [n for _, n in tested.values()])
    srm = _srm(camp, holdout, variants)
    treated = sum(g.planned for g in variants) - status_counts["cancelled"]
    lift = (
        _lift(conn, camp, rules.click_window_s, alpha, treated, holdout.planned)
        if holdout.planned
        else None
    )
    sent = sum(g.sent for g in variants)
    cost = sum(g.cost for g in variants)
    revenue = sum(g.revenue for g in variants)
    funnel = {
        "targeted": sum(status_counts.values()) + excluded_people,
        "excluded": excluded_people,
        "holdout": holdout.planned,
        "planned": sum(g.planned for g in variants),
        "sent": sent,
        "delivered": sum(g.delivered for g in variants),
        "failed": sum(failed.values()),
        "clicked": sum(g.clicked for g in variants),
        "converted": sum(g.converted for g in variants),
        "opted_out": sum(g.opted_out for g in variants),
        "cost": round(cost, 4),
        "revenue": round(revenue, 2),
        "roi": round((revenue - cost) / cost, 4) if cost else 0.0,
    }
    return CampaignReport(
        campaign_id=camp.id,
        name=camp.name,
        status=camp.status,
        channel=camp.channel,
        generated_at=utcnow(),
        timezone=str(tz),
        funnel=funnel,
        excluded=excluded,
        failed=dict(failed.most_common()),
        variants=variants,
        comparisons=[asdict(c) for c in comps],
        omnibus={"statistic": chi2, "p": chi_p},
        correction=correction,
        winner=winner,
        winner_metric=metric,
        srm=srm,
        lift=lift,
        by_route={k: {**v, "cost": round(v["cost"], 4)} for k, v in by_route.items()},
        by_carrier=by_carrier,
        by_country=dict(by_country),
        deliveries_by_hour=hourly,
        by_hour_of_day=by_hour_of_day,
        attribution=attribution,
        social=social_engagement(conn, workspace_id, campaign_id),
    )


def _srm(camp: Campaign, holdout: VariantStats, variants: list[VariantStats]) -> dict[str, Any]:
    """Compare the planned group sizes with the split the campaign asked for."""
    share_rest = 1 - camp.holdout_bp / 10_000
    planned = {v.name: v.split_bp / 10_000 * share_rest for v in camp.variants}
    observed = {g.name: g.planned for g in variants if g.name in planned}
    if camp.holdout_bp:
        planned["holdout"] = camp.holdout_bp / 10_000
        observed["holdout"] = holdout.planned
    keys = list(planned)
    res = stats.sample_ratio_mismatch(
        [observed.get(k, 0) for k in keys], [planned[k] for k in keys]
    )
    return {
        "observed": observed,
        "planned_share": planned,
        "statistic": res.statistic,
        "p": res.p,
        "mismatch": res.mismatch,
    }


def _lift(
    conn: sa.Connection, camp: Campaign, window_s: int, alpha: float, nt: int, nh: int
) -> dict[str, Any]:
    """Incremental conversions and revenue of the treatment (``nt`` recipients) over the
    holdout (``nh``); the buyers are found from the orders side, without a pass over the
    outbox."""
    ep = epoch_sql
    sql = f"""
SELECT holdout, count(*) AS k, sum(rev) AS rev, sum(rev * rev) AS rev2
FROM (
  SELECT m.id, m.holdout, sum(o.total) AS rev
  FROM orders o JOIN messages m ON m.campaign_id = :cid AND m.contact_id = o.contact_id
  WHERE o.workspace_id = :ws AND o.status NOT IN ('cancelled', 'refunded')
    AND m.status <> 'cancelled' AND o.placed_at >= m.send_at
    AND {ep(conn, "o.placed_at")} - {ep(conn, "m.send_at")} <= :w
  GROUP BY m.id, m.holdout
) x
GROUP BY holdout
"""
    rows = {
        bool(r.holdout): r for r in _rows(conn, sql, cid=camp.id, ws=camp.workspace_id, w=window_s)
    }
    if nt <= 0 or nh <= 0:
        return {"available": False}
    t, h = rows.get(False), rows.get(True)
    kt, rt, rt2 = (int(t.k), float(t.rev), float(t.rev2)) if t else (0, 0.0, 0.0)
    kh, rh, rh2 = (int(h.k), float(h.rev), float(h.rev2)) if h else (0, 0.0, 0.0)
    conv = stats.proportion_difference(kt, nt, kh, nh, alpha)
    mt, vt = stats.summary(rt, rt2, nt)
    mh, vh = stats.summary(rh, rh2, nh)
    rev = stats.welch_difference(mt, vt, nt, mh, vh, nh, alpha)
    return {
        "available": True,
        "window_s": window_s,
        "treatment": {"n": nt, "converted": kt, "revenue": rt},
        "holdout": {"n": nh, "converted": kh, "revenue": rh},
        "conversion_rate_diff": asdict(conv),
        "incremental_conversions": {
            "estimate": conv.estimate * nt,
            "low": conv.low * nt,
            "high": conv.high * nt,
        },
        "revenue_per_recipient_diff": asdict(rev),
        "incremental_revenue": {
            "estimate": rev.estimate * nt,
            "low": rev.low * nt,
            "high": rev.high * nt,
        },
        "significant": conv.p < alpha,
    }
