"""Launch, pause, resume and cancel campaigns (the marketer's controls).

Launching moves the campaign out of draft and leaves the plan (audience to outbox) to a worker
(``clarion.campaigns.jobs``), so an API request returns at once however large the audience;
workers start sending the first chunks while the rest is planned. :func:`launch` plans in the
caller's process instead (``clarion campaign launch --wait``, the demo, tests), holding the
plan's lease from the launch transaction on so no worker plans it at the same time.
Cancelling recalls every message not yet handed to a provider in the same transaction as the
state change: no worker can claim one after the cancel commits, because claims require a
sending campaign, and a planner's next chunk is refused (see ``clarion.campaigns.outbox``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.campaigns.planner import PlanReport, new_owner, plan_campaign, take_plan
from clarion.campaigns.service import get_campaign, transition
from clarion.campaigns.tables import campaigns
from clarion.db.types import utcnow
from clarion.delivery.dispatcher import recall
from clarion.delivery.tables import messages


def request_launch(conn: sa.Connection, actor: Actor, campaign_id: int) -> dict[str, Any]:
    """Start a draft: ``running`` for "now", ``scheduled`` otherwise; a worker plans it.

    Return the campaign's progress (its plan shows as pending until a worker takes it).
    """
    camp = get_campaign(conn, actor.workspace_id, campaign_id, lock=True)
    to = "running" if camp.schedule.get("kind", "now") == "now" else "scheduled"
    transition(conn, actor, campaign_id, to, expect=("draft",))
    return progress(conn, actor.workspace_id, campaign_id)


def launch(
    engine: Engine, actor: Actor, campaign_id: int, *, now: datetime | None = None
) -> PlanReport:
    """Start a draft and plan its whole audience in this process; return the plan's report."""
    owner = new_owner()
    with engine.begin() as conn:
        request_launch(conn, actor, campaign_id)
        take_plan(conn, campaign_id, owner, now=utcnow(), restart=True)
    return plan_campaign(engine, actor, campaign_id, now=now, owner=owner)


def pause(conn: sa.Connection, actor: Actor, campaign_id: int, reason: str | None = None) -> None:
    """Stop sending; queued messages wait, in-flight ones finish."""
    transition(conn, actor, campaign_id, "paused", reason=reason, expect=("running", "scheduled"))


def resume(conn: sa.Connection, actor: Actor, campaign_id: int) -> None:
    """Send again from where the campaign stopped."""
    transition(conn, actor, campaign_id, "running", expect=("paused",))


def cancel(
    conn: sa.Connection, actor: Actor, campaign_id: int, reason: str | None = None
) -> dict[str, int]:
    """Cancel the campaign and recall every message not yet submitted; return the counts."""
    transition(conn, actor, campaign_id, "cancelled", reason=reason)
    counts = recall(conn, campaign_id, now=utcnow())
    record(conn, actor, "campaign.recall", "campaign", campaign_id, counts)
    return counts


def progress(conn: sa.Connection, workspace_id: int, campaign_id: int) -> dict[str, Any]:
    """Return the campaign's state and its messages by status (for status and live progress)."""
    camp = get_campaign(conn, workspace_id, campaign_id)
    by_status = {
        str(s): int(n)
        for s, n in conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.campaign_id == campaign_id)
            .group_by(messages.c.status)
        )
    }
    uncertain = conn.execute(
        sa.select(sa.func.count()).where(
            messages.c.campaign_id == campaign_id, messages.c.uncertain.is_(True)
        )
    ).scalar_one()
    sendable = sum(n for s, n in by_status.items() if s not in ("holdout",))
    done = sum(
        by_status.get(s, 0)
        for s in ("submitted", "delivered", "failed", "expired", "cancelled", "uncertain")
    )
    return {
        "id": camp.id,
        "name": camp.name,
        "status": camp.status,
        "status_reason": camp.status_reason,
        "messages": by_status,
        "total": sendable,
        "done": done,
        "uncertain": int(uncertain),
        "plan": plan_progress(conn, campaign_id),
    }


def plan_progress(conn: sa.Connection, campaign_id: int) -> dict[str, Any]:
    """Return where the campaign's plan stands: ``state`` (not_started, pending, planning,
    planned), the counts so far and the planner holding it."""
    row = conn.execute(
        sa.select(
            campaigns.c.status,
            campaigns.c.launched_at,
            campaigns.c.planned_at,
            campaigns.c.plan_report,
            campaigns.c.plan_owner,
        ).where(campaigns.c.id == campaign_id)
    ).one()
    if row.planned_at is not None:
        state = "planned"
    elif row.plan_owner is not None:
        state = "planning"
    elif row.launched_at is not None and row.status not in ("cancelled", "completed"):
        state = "pending"
    else:
        state = "not_started"
    report = PlanReport.from_state(row.plan_report).to_dict() if row.plan_report else None
    return {
        "state": state,
        "planned_at": row.planned_at,
        "planner": row.plan_owner,
        "report": report,
    }
