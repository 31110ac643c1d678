"""Planning in the worker: launch returns at once, the job plans, a dead planner's plan resumes
from its checkpoint, a cancel stops it; and the campaign's own frequency cap."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns import planner
from clarion.campaigns.control import cancel, progress, request_launch
from clarion.campaigns.jobs import plan_launched
from clarion.campaigns.models import FrequencyCap
from clarion.campaigns.planner import plan_campaign, plan_step
from clarion.campaigns.tables import campaign_exclusions, campaigns
from clarion.compliance import SendLogRow, log_sends
from clarion.db.types import utcnow
from clarion.delivery import hooks
from clarion.delivery.tables import messages
from clarion.errors import Conflict


def _launch(engine: Engine, actor: Actor, cid: int) -> dict[str, Any]:
    with engine.begin() as conn:
        return request_launch(conn, actor, cid)


def _by_status(engine: Engine, cid: int) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.campaign_id == cid)
            .group_by(messages.c.status)
        )
        return Counter({str(s): int(n) for s, n in rows})


def _die_after(monkeypatch: pytest.MonkeyPatch, chunks: int, then: Any = None) -> None:
    """Make the planner's process 'die' (raise) once ``chunks`` chunks are committed, or run
    ``then`` at that point and carry on."""
    real = planner._Writer._write
    done = [0]

    def write(self: Any, *args: Any) -> bool:
        if done[0] == chunks:
            if then is None:
                raise SystemExit("killed")
            then()
        done[0] += 1
        return real(self, *args)

    monkeypatch.setattr(planner._Writer, "_write", write)


def test_the_planning_job_is_registered_with_the_worker() -> None:
    assert "campaigns.plan" in {job.name for job in hooks.jobs()}


def test_a_launch_returns_at_once_and_the_worker_job_plans_it(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a draft for seven consenting contacts
    make.contacts([f"+1202555{i:04d}" for i in range(7)])
    make.route("main")
    cid = make.campaign()
    # when it is launched, nothing is planned yet
    launched = _launch(engine, actor, cid)
    assert (launched["plan"]["state"], launched["total"]) == ("pending", 0)
    # and when a worker's job runs, the whole audience is queued and the plan is done
    assert plan_launched(engine, "worker-1") == 7
    with engine.connect() as conn:
        prog = progress(conn, actor.workspace_id, cid)
    assert prog["messages"] == {"queued": 7}
    assert prog["plan"]["state"] == "planned" and prog["plan"]["report"]["planned"] == 7
    # and a second run of the job finds nothing to do
    assert plan_launched(engine, "worker-2") == 0


def test_a_dead_planners_plan_is_resumed_from_its_checkpoint_by_another_worker(
    engine: Engine, actor: Actor, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a launched campaign for ten contacts, planned two per chunk by worker 1
    ids = make.contacts([f"+1202555{i:04d}" for i in range(10)])
    make.route("main")
    cid = make.campaign()
    _launch(engine, actor, cid)
    # when worker 1 dies after committing two chunks
    _die_after(monkeypatch, 2)
    with pytest.raises(SystemExit):
        plan_step(engine, Actor.system(actor.workspace_id, "worker"), cid, owner="w1", chunk_size=2)
    monkeypatch.undo()
    assert _by_status(engine, cid) == Counter({"queued": 4})
    # then its live lease keeps other workers off the plan
    assert plan_launched(engine, "w2") == 0
    with pytest.raises(Conflict):
        plan_campaign(engine, actor, cid)
    # and once the lease has run out, another worker resumes from the checkpoint
    with engine.begin() as conn:
        conn.execute(
            campaigns.update()
            .where(campaigns.c.id == cid)
            .values(plan_lease_until=utcnow() - timedelta(seconds=1))
        )
    assert plan_launched(engine, "w2") == 6
    # so every contact has exactly one message and the report counts each contact once
    with engine.connect() as conn:
        planned = sorted(
            conn.execute(
                sa.select(messages.c.contact_id).where(messages.c.campaign_id == cid)
            ).scalars()
        )
        plan = progress(conn, actor.workspace_id, cid)["plan"]
    assert planned == ids
    assert plan["state"] == "planned"
    assert (plan["report"]["audience"], plan["report"]["planned"]) == (10, 10)
    assert plan["report"]["already_planned"] == 0


def test_a_cancel_during_planning_stops_the_plan_and_recalls_what_it_wrote(
    engine: Engine, actor: Actor, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a launched campaign for ten contacts planned two per chunk
    make.contacts([f"+1202555{i:04d}" for i in range(10)])
    make.route("main")
    cid = make.campaign()
    _launch(engine, actor, cid)

    def cancel_now() -> None:
        with engine.begin() as conn:
            cancel(conn, actor, cid, "changed our mind")

    # when the campaign is cancelled after the planner committed two chunks
    _die_after(monkeypatch, 2, then=cancel_now)
    step = plan_step(engine, actor, cid, owner="w1", chunk_size=2)
    # then the plan stopped there: what it wrote is recalled and nothing more was written
    assert not step.done and step.report.planned == 4
    assert _by_status(engine, cid) == Counter({"cancelled": 4})
    # and no worker picks the plan up again
    monkeypatch.undo()
    assert plan_launched(engine, "w2") == 0


def test_the_campaigns_frequency_cap_adds_to_the_jurisdictions(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given two contacts, one of whom got a marketing text two hours ago
    texted, fresh = make.contacts(["+12025550101", "+12025550102"])
    with engine.begin() as conn:
        log_sends(
            conn,
            [
                SendLogRow(
                    workspace_id=actor.workspace_id,
                    contact_id=texted,
                    channel="sms",
                    purpose="marketing",
                    sent_at=utcnow() - timedelta(hours=2),
                )
            ],
        )
    make.route("main")
    capped = make.campaign(frequency_cap={"count": 1, "days": 1})
    uncapped = make.campaign(name="No cap")
    # when both campaigns are planned
    capped_report = plan_campaign(engine, actor, capped)
    uncapped_report = plan_campaign(engine, actor, uncapped)
    # then the capped campaign leaves out the contact texted within its window, saying why
    assert capped_report.planned == 1 and capped_report.excluded == Counter({"frequency_cap": 1})
    with engine.connect() as conn:
        detail = conn.execute(
            sa.select(campaign_exclusions.c.contact_id, campaign_exclusions.c.detail).where(
                campaign_exclusions.c.campaign_id == capped
            )
        ).one()
    assert detail.contact_id == texted and "last 24 h (at most 1)" in detail.detail
    assert _by_status(engine, capped) == Counter({"queued": 1})
    # and the same audience without the override gets both messages
    assert uncapped_report.planned == 2 and fresh != texted


def test_a_frequency_cap_needs_a_count_and_one_window() -> None:
    with pytest.raises(ValidationError, match="either 'hours' or 'days'"):
        FrequencyCap.model_validate({"count": 1})
    with pytest.raises(ValidationError, match="either 'hours' or 'days'"):
        FrequencyCap.model_validate({"count": 1, "hours": 2, "days": 1})
    assert FrequencyCap.model_validate({"count": 2, "days": 7}).stored() == {
        "count": 2,
        "hours": 168,
    }
