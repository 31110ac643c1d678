"""Attribute orders and goal events to the message that earned them; one statement.

Rules (per campaign, falling back to the workspace's, see :mod:`clarion.tracking.settings`):

1. **Last click**: the most recent click (not a preview or prefetch) by the buyer on a campaign's
   short link, before the conversion and within that campaign's click window, wins.
2. Otherwise **delivery**: the most recent message delivered to the buyer before the conversion
   and within that campaign's delivery window wins ("view-through").
3. Otherwise the conversion is not attributed to any message.

Each order or goal event is attributed at most once (unique by source), across every campaign of
the workspace. Orders that were cancelled or refunded do not convert. Goal events convert only
for campaigns that list their name; their revenue is the event's numeric ``revenue`` property.
Re-running for a period replaces that period's attributions, so late clicks, receipts and
changed rules are taken into account.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clarion.analytics.sqltime import epoch_sql
from clarion.campaigns.tables import campaigns
from clarion.db.types import UTCDateTime
from clarion.tracking.settings import campaign_rules, get_tracking_settings
from clarion.tracking.tables import campaign_attribution, conversions


def _rules_cte(
    conn: sa.Connection, workspace_id: int, since: datetime, until: datetime
) -> tuple[str, str, dict[str, Any]]:
    """Return the SQL of the rules and goals CTEs for the campaigns that can have touched the
    period (launched before its end, not finished long before its start), and parameters."""
    c = campaigns.c
    ids = list(
        conn.execute(
            sa.select(c.id).where(
                c.workspace_id == workspace_id,
                sa.or_(c.launched_at.is_(None), c.launched_at < until),
                sa.or_(c.finished_at.is_(None), c.finished_at >= since - timedelta(days=91)),
            )
        ).scalars()
    )
    base = get_tracking_settings(conn, workspace_id)
    overridden = set(
        conn.execute(
            sa.select(campaign_attribution.c.campaign_id).where(
                campaign_attribution.c.workspace_id == workspace_id
            )
        ).scalars()
    )
    params: dict[str, Any] = {}
    rules, goals = [], []
    for i, cid in enumerate(ids):
        r = campaign_rules(conn, workspace_id, cid) if cid in overridden else base
        rules.append(f"(:c{i}, :cw{i}, :dw{i})")
        params.update({f"c{i}": cid, f"cw{i}": r.click_window_s, f"dw{i}": r.delivery_window_s})
        for j, name in enumerate(r.goal_events):
            goals.append(f"(:c{i}, :g{i}_{j})")
            params[f"g{i}_{j}"] = name
    empty_rules = (
        "SELECT CAST(NULL AS BIGINT), CAST(NULL AS INTEGER), CAST(NULL AS INTEGER) WHERE 1 = 0"
    )
    empty_goals = "SELECT CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR(100)) WHERE 1 = 0"
    rules_sql = f"VALUES {', '.join(rules)}" if rules else empty_rules
    goals_sql = f"VALUES {', '.join(goals)}" if goals else empty_goals
    return rules_sql, goals_sql, params


def _event_revenue(conn: sa.Connection) -> str:
    if conn.dialect.name == "sqlite":
        return (
            "CASE WHEN json_type(e.properties, '$.revenue') IN ('integer', 'real')"
            " THEN json_extract(e.properties, '$.revenue') ELSE 0 END"
        )
    return (
        "CASE WHEN jsonb_typeof(e.properties->'revenue') = 'number'"
        " THEN (e.properties->>'revenue')::numeric ELSE 0 END"
    )


def attribute(
    conn: sa.Connection, workspace_id: int, since: datetime, until: datetime
) -> dict[str, int]:
    """(Re)attribute the conversions that happened in ``[since, until)``; return counts by
    rule ("click", "delivery")."""
    rules_sql, goals_sql, params = _rules_cte(conn, workspace_id, since, until)
    conn.execute(
        conversions.delete().where(
            conversions.c.workspace_id == workspace_id,
            conversions.c.converted_at >= since,
            conversions.c.converted_at < until,
        )
    )

    def ep(column: str) -> str:
        return epoch_sql(conn, column)

    sql = f"""
WITH rules(campaign_id, click_w, deliv_w) AS ({rules_sql}),
goals(campaign_id, name) AS ({goals_sql}),
conv AS (
  SELECT 'order' AS source, o.id AS source_id, o.contact_id, o.placed_at AS at,
         o.total AS revenue, o.currency, CAST(NULL AS VARCHAR(100)) AS name
  FROM orders o
  WHERE o.workspace_id = :ws AND o.placed_at >= :since AND o.placed_at < :until
    AND o.status NOT IN ('cancelled', 'refunded')
  UNION ALL
  SELECT 'event', e.id, e.contact_id, e.occurred_at, {_event_revenue(conn)},
         CAST(NULL AS VARCHAR(3)), e.name
  FROM events e
  WHERE e.workspace_id = :ws AND e.occurred_at >= :since AND e.occurred_at < :until
    AND e.name IN (SELECT name FROM goals)
),
touches AS (
  SELECT cv.source, cv.source_id, cv.contact_id, cv.at, cv.revenue, cv.currency,
         0 AS kind, c.clicked_at AS touch_at, m.id AS message_id, m.campaign_id, m.variant_id
  FROM conv cv
  JOIN link_clicks c ON c.contact_id = cv.contact_id AND c.workspace_id = :ws
       AND c.filtered IS NULL AND c.clicked_at <= cv.at
  JOIN rules r ON r.campaign_id = c.campaign_id
  JOIN messages m ON m.campaign_id = c.campaign_id AND m.contact_id = c.contact_id
  WHERE {ep("cv.at")} - {ep("c.clicked_at")} <= r.click_w
    AND (cv.source = 'order' OR EXISTS (
         SELECT 1 FROM goals g WHERE g.campaign_id = m.campaign_id AND g.name = cv.name))
  UNION ALL
  SELECT cv.source, cv.source_id, cv.contact_id, cv.at, cv.revenue, cv.currency,
         1, m.delivered_at, m.id, m.campaign_id, m.variant_id
  FROM conv cv
  CROSS JOIN rules r
  JOIN messages m ON m.campaign_id = r.campaign_id AND m.contact_id = cv.contact_id
       AND m.delivered_at IS NOT NULL AND m.delivered_at <= cv.at
  WHERE {ep("cv.at")} - {ep("m.delivered_at")} <= r.deliv_w
    AND (cv.source = 'order' OR EXISTS (
         SELECT 1 FROM goals g WHERE g.campaign_id = m.campaign_id AND g.name = cv.name))
),
ranked AS (
  SELECT t.*, ROW_NUMBER() OVER (
    PARTITION BY t.source, t.source_id ORDER BY t.kind, t.touch_at DESC, t.message_id DESC
  ) AS rn
  FROM touches t
)
INSERT INTO conversions (workspace_id, source, source_id, campaign_id, message_id, contact_id,
                         variant_id, attributed_by, touch_at, converted_at, revenue, currency)
SELECT :ws, source, source_id, campaign_id, message_id, contact_id, variant_id,
       CASE kind WHEN 0 THEN 'click' ELSE 'delivery' END, touch_at, at, revenue, currency
FROM ranked WHERE rn = 1
"""
    stmt = sa.text(sql).bindparams(
        sa.bindparam("since", type_=UTCDateTime()), sa.bindparam("until", type_=UTCDateTime())
    )
    conn.execute(stmt, {**params, "ws": workspace_id, "since": since, "until": until})
    rows = conn.execute(
        sa.select(conversions.c.attributed_by, sa.func.count())
        .where(
            conversions.c.workspace_id == workspace_id,
            conversions.c.converted_at >= since,
            conversions.c.converted_at < until,
        )
        .group_by(conversions.c.attributed_by)
    ).all()
    return {str(k): int(n) for k, n in rows}
