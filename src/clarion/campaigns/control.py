"""Launch, pause, resume and cancel campaigns (the marketer's controls).

Launching plans the audience (chunked, committed per chunk) after moving the campaign out of
draft, so workers can start on the first chunks while the rest is planned. Cancelling recalls
every message not yet handed to a provider in the same transaction as the state change: no
worker can claim one after the cancel commits, because claims require a sending campaign.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.campaigns.planner import PlanReport, plan_campaign
from clarion.campaigns.service import get_campaign, transition
from clarion.db.types import utcnow
from clarion.delivery.dispatcher import recall
from clarion.delivery.tables import messages


def launch(
    engine: Engine, actor: Actor, campaign_id: int, *, now: datetime | None = None
) -> PlanReport:
    """Start a draft: ``running`` for "now", ``scheduled`` otherwise; then plan its audience."""
    with engine.begin() as conn:
        camp = get_campaign(conn, actor.workspace_id, campaign_id, lock=True)
        to = "running" if camp.schedule.get("kind", "now") == "now" else "scheduled"
        transition(conn, actor, campaign_id, to, expect=("draft",))
    return plan_campaign(engine, actor, campaign_id, now=now)


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
    }
