"""The worker's social ingest job: looks before it imports the ingest (and scipy)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.social import ingest as ingest_module
from clarion.social.jobs import INGEST_CURSOR, activity_waiting, ingest_job

from ._loop import account, activity


def test_the_job_looks_at_the_ingest_cursor_by_its_name() -> None:
    assert INGEST_CURSOR == ingest_module.CURSOR


def test_the_job_ingests_what_waits_and_looks_cheaply_when_nothing_does(
    engine: Engine, actor: Actor
) -> None:
    # given no activity at all
    assert not activity_waiting(engine)
    assert ingest_job(engine, "w1") == 0
    # when two activities are fetched
    acc = account(engine, actor.workspace_id)
    activity(engine, actor.workspace_id, acc, "follow", "@ann@social.example")
    activity(engine, actor.workspace_id, acc, "comment", "ann@social.example", text="Hi")
    assert activity_waiting(engine)
    # then the job ingests them once, and nothing waits afterwards
    assert ingest_job(engine, "w1") == 2
    assert not activity_waiting(engine)
    assert ingest_job(engine, "w1") == 0
