"""Start runs: the journeys that take entries now, re-entry rules, and the bulk insert.

Every trigger (event, date, segment) ends here. Re-entry is decided against the contact's
existing runs fetched for the whole batch in one query, and the insert skips any run whose
``(journey, contact, trigger_key)`` exists, so enrolment can be repeated safely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.automations.models import Entry, JourneyDefinition
from clarion.automations.service import load_definitions
from clarion.automations.tables import journey_run_steps, journey_runs, journeys
from clarion.db.sql import in_values

_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Live:
    """An active journey with its current definition."""

    id: int
    workspace_id: int
    version: int
    definition: JourneyDefinition
    activated_at: datetime
    segment_baseline_at: datetime | None = None


def live_journeys(conn: sa.Connection, kind: str | None) -> list[Live]:
    """Return the active journeys whose trigger is of ``kind`` (event, date, segment; None:
    all)."""
    q = sa.select(
        journeys.c.id,
        journeys.c.workspace_id,
        journeys.c.version,
        journeys.c.activated_at,
        journeys.c.segment_baseline_at,
    ).where(journeys.c.status == "active")
    if kind is not None:
        q = q.where(journeys.c.trigger_kind == kind)
    rows = conn.execute(q).all()
    defs = load_definitions(conn, {(int(r.id), int(r.version)) for r in rows})
    return [
        Live(
            int(r.id),
            int(r.workspace_id),
            int(r.version),
            defs[(int(r.id), int(r.version))],
            r.activated_at,
            r.segment_baseline_at,
        )
        for r in rows
    ]


@dataclass(slots=True)
class Candidate:
    """A contact that may enter a journey now."""

    journey: Live
    contact_id: int
    trigger_key: str
    entered_at: datetime
    trigger_event_id: int | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Prior:
    state: str
    entered_at: datetime
    trigger_key: str


def _admitted(entry: Entry, prior: Sequence[_Prior], c: Candidate) -> bool:
    if any(p.trigger_key == c.trigger_key for p in prior):
        return False  # this very trigger already started a run
    if entry.reentry == "once" and prior:
        return False
    if entry.period is not None and any(p.entered_at > c.entered_at - entry.period for p in prior):
        return False
    return entry.concurrent or not any(p.state == "active" for p in prior)


def _prior_runs(
    conn: sa.Connection, candidates: Sequence[Candidate]
) -> dict[tuple[int, int], list[_Prior]]:
    out: dict[tuple[int, int], list[_Prior]] = defaultdict(list)
    journey_ids = sorted({c.journey.id for c in candidates})
    contact_ids = sorted({c.contact_id for c in candidates})
    for i in range(0, len(contact_ids), _CHUNK):
        rows = conn.execute(
            sa.select(
                journey_runs.c.journey_id,
                journey_runs.c.contact_id,
                journey_runs.c.state,
                journey_runs.c.entered_at,
                journey_runs.c.trigger_key,
            ).where(
                in_values(conn, journey_runs.c.journey_id, journey_ids),
                in_values(conn, journey_runs.c.contact_id, contact_ids[i : i + _CHUNK]),
            )
        ).all()
        for r in rows:
            out[(int(r.journey_id), int(r.contact_id))].append(
                _Prior(r.state, r.entered_at, r.trigger_key)
            )
    return out


def _insert(conn: sa.Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(journey_runs)


def start_runs(conn: sa.Connection, candidates: Iterable[Candidate], *, now: datetime) -> int:
    """Start a run for every candidate the entry rules admit; return how many started.

    Candidates are judged in order, each seeing the runs admitted before it, so two triggers of
    one contact in a batch obey "once" and "not concurrent" as if they came one by one.
    """
    todo = list(candidates)
    if not todo:
        return 0
    prior = _prior_runs(conn, todo)
    rows: list[dict[str, Any]] = []
    for c in todo:
        key = (c.journey.id, c.contact_id)
        if not _admitted(c.journey.definition.entry, prior[key], c):
            continue
        prior[key].append(_Prior("active", c.entered_at, c.trigger_key))
        rows.append(
            {
                "workspace_id": c.journey.workspace_id,
                "journey_id": c.journey.id,
                "version": c.journey.version,
                "contact_id": c.contact_id,
                "state": "active",
                "current_step": c.journey.definition.steps[0].id,
                # the first step is due at entry: a wait counts from the trigger, not from
                # whenever a worker got round to it
                "next_at": c.entered_at,
                "entered_at": c.entered_at,
                "trigger_key": c.trigger_key,
                "trigger_event_id": c.trigger_event_id,
                "context": c.context,
                "errors": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    started = 0
    for i in range(0, len(rows), _CHUNK):
        stmt = (
            _insert(conn)
            .on_conflict_do_nothing(index_elements=["journey_id", "contact_id", "trigger_key"])
            .returning(
                journey_runs.c.id,
                journey_runs.c.journey_id,
                journey_runs.c.contact_id,
                journey_runs.c.trigger_key,
            )
        )
        new = conn.execute(stmt, rows[i : i + _CHUNK]).all()
        if new:
            conn.execute(
                journey_run_steps.insert(),
                [
                    {
                        "run_id": int(r.id),
                        "journey_id": int(r.journey_id),
                        "contact_id": int(r.contact_id),
                        "step_id": "(entry)",
                        "kind": "enter",
                        "outcome": "entered",
                        "detail": {"trigger": r.trigger_key},
                        "at": now,
                    }
                    for r in new
                ],
            )
        started += len(new)
    return started
