"""The worker drives other features' periodic jobs and inbound handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from clarion.channels.base import Inbound
from clarion.delivery import hooks
from clarion.delivery.worker import Worker


def test_worker_hands_inbound_to_handlers_and_runs_due_jobs(engine: Engine) -> None:
    seen: list[tuple[int | None, list[str]]] = []
    runs: list[str] = []

    @hooks.on_inbound("test-recorder")
    def record(_: Engine, ws: int | None, batch: Sequence[Inbound]) -> None:
        seen.append((ws, [m.text for m in batch]))

    @hooks.periodic("test-ticker", every_s=3600)
    def tick(_: Engine, worker_id: str) -> int:
        runs.append(worker_id)
        return 2

    try:
        # given a worker whose channel reported two replies
        worker = Worker(engine, workspace_id=7, worker_id="w1")
        now = datetime.now(UTC)
        worker.on_report(Inbound(sender="4915112345678", to="12345", text="STOP", received_at=now))
        worker.on_report(Inbound(sender="4915112345678", to="12345", text="hi", received_at=now))
        # when the hooks run twice within the job's period
        asyncio.run(worker.run_hooks())
        asyncio.run(worker.run_hooks())
        # then the handler saw both replies once, and the job ran once and was counted
        assert seen == [(7, ["STOP", "hi"])]
        assert runs == ["w1"]
        assert worker.stats["job:test-ticker"] == 2
        # and a forced run ignores the period
        asyncio.run(worker.run_hooks(force=True))
        assert runs == ["w1", "w1"]
    finally:
        hooks._JOBS.pop("test-ticker", None)
        hooks._INBOUND.pop("test-recorder", None)


def test_a_failing_job_does_not_stop_the_others(engine: Engine) -> None:
    runs: list[str] = []

    @hooks.periodic("test-a-broken", every_s=1)
    def broken(_: Engine, __: str) -> int:
        raise RuntimeError("boom")

    @hooks.periodic("test-b-fine", every_s=1)
    def fine(_: Engine, __: str) -> int:
        runs.append("fine")
        return 1

    try:
        worker = Worker(engine, workspace_id=1, worker_id="w2")
        asyncio.run(worker.run_hooks())
        assert runs == ["fine"]
    finally:
        hooks._JOBS.pop("test-a-broken", None)
        hooks._JOBS.pop("test-b-fine", None)
