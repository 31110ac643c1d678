"""The worker's loop runs with the cyclic collector's thresholds raised, restored after."""

from __future__ import annotations

import asyncio
import gc

from sqlalchemy.engine import Engine

from clarion.delivery.worker import Worker
from clarion.gcpolicy import YOUNG


def test_the_worker_loop_collects_less_often_and_restores_the_collector(
    engine: Engine, workspace_id: int
) -> None:
    # given a worker whose steps note the collector's thresholds, and then stop it
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    stop = asyncio.Event()
    worker = Worker(engine)

    async def step(*, lane: bool = True) -> int:
        seen.append(gc.get_threshold())
        stop.set()
        return 0

    worker.step = step  # type: ignore[method-assign]
    # when it runs
    asyncio.run(worker.run(stop))
    # then its loop ran with young collections rarer, and the thresholds came back after
    assert seen and seen[0][0] == YOUNG
    assert gc.get_threshold() == before
