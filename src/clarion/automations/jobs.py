"""The journeys' periodic jobs, run by the delivery worker (see :mod:`clarion.delivery.hooks`).

Every second: enrol from new events, then advance due runs (an order confirmation should not
wait). Every minute: date triggers and segment entries, which scan more and change slowly.
:func:`tick` does all of it once with an explicit ``now``, for tests and ``clarion journey
tick``: moving the clock is how a test sees a one-hour wait end without sleeping.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from clarion.automations.advance import advance_due
from clarion.automations.enrol import enrol_from_events
from clarion.automations.triggers import enrol_from_dates, enrol_from_segments
from clarion.db.types import utcnow
from clarion.delivery import hooks


@hooks.periodic("journeys.events", every_s=1.0)
def run_events(engine: Engine, worker_id: str) -> int:
    """Enrol from new events and advance due runs."""
    now = utcnow()
    return enrol_from_events(engine, now=now) + advance_due(engine, now=now)


@hooks.periodic("journeys.schedules", every_s=60.0)
def run_schedules(engine: Engine, worker_id: str) -> int:
    """Enrol date-triggered and segment-triggered journeys."""
    now = utcnow()
    return enrol_from_dates(engine, now=now) + enrol_from_segments(engine, now=now)


def tick(engine: Engine, *, now: datetime | None = None) -> dict[str, int]:
    """Run every journey job once at ``now``; return what each did."""
    now = now or utcnow()
    out = {
        "enrolled_events": enrol_from_events(engine, now=now),
        "enrolled_dates": enrol_from_dates(engine, now=now),
        "enrolled_segments": enrol_from_segments(engine, now=now),
    }
    out["advanced"] = advance_due(engine, now=now)
    return out
