"""The worker's share of campaigns: plan launched campaigns a few seconds at a time.

Launching from the API only moves the campaign out of draft; this periodic job (run by every
``clarion worker``, see :mod:`clarion.delivery.hooks`) plans it. Each call takes a campaign's
plan lease, plans from its checkpoint for at most :data:`STEP_S` seconds and returns, so the
worker's other jobs keep their rhythm; the next call carries on. Several workers share the
campaigns (one lease each), and a killed worker's plan is resumed by another from its last
checkpoint once the lease expires; rows already written are skipped by the unique
(campaign, contact) key, so nothing is planned twice.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.planner import pending_plans, plan_step
from clarion.db.engine import read_only
from clarion.db.types import utcnow
from clarion.delivery.hooks import periodic
from clarion.errors import Conflict

log = logging.getLogger("clarion.worker")

#: How long one call plans before handing the thread back to the worker.
STEP_S = 3.0


@periodic("campaigns.plan", every_s=1.0)
def plan_launched(engine: Engine, worker_id: str) -> int:
    """Plan launched campaigns for up to STEP_S seconds; return how many messages were queued."""
    deadline = time.monotonic() + STEP_S
    with read_only(engine) as conn:  # on SQLite, take the write lock only when a plan is due
        due = pending_plans(conn, now=utcnow(), owner=worker_id)
    queued = 0
    for workspace_id, campaign_id in due:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            step = plan_step(
                engine,
                Actor.system(workspace_id, "worker"),
                campaign_id,
                owner=worker_id,
                budget_s=left,
            )
        except Conflict:  # another worker took it, or it was cancelled meanwhile
            continue
        queued += step.planned
        if step.done:
            log.info("campaign %s planned: %s", campaign_id, step.report.to_dict())
    return queued
