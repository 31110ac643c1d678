"""Enrol contacts from new events: a cursor over the events table by id.

PostgreSQL hands out ids when rows are inserted, not when they commit, so an event with a lower
id can become visible after one with a higher id (two concurrent transactions). A cursor that
jumped to the highest id seen would skip it for ever. So every pass reads *all* events after
the stored position (new ones are enrolled at once), but the position only moves up to the
newest event received more than :data:`GRACE` ago: anything below it was inserted before a
transaction that old, and is assumed committed. Events in the grace window are read again next
pass and find their runs already started (``trigger_key`` = ``e:<event id>``), so nothing is
enrolled twice. One worker at a time holds the cursor row (``FOR UPDATE SKIP LOCKED``; SQLite
serialises writers anyway), so re-entry rules are judged without races.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.automations.conditions import matches
from clarion.automations.runs import Candidate, Live, live_journeys, start_runs
from clarion.automations.service import end_runs
from clarion.automations.tables import journey_cursors, journey_runs
from clarion.db.engine import is_postgres, read_only
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.events.tables import events

CURSOR = "events"
#: How long an uncommitted event may lag behind a committed one with a higher id.
GRACE = timedelta(seconds=15)
BATCH = 2000


def ensure_cursor(conn: sa.Connection) -> None:
    """Create the event cursor at the newest event, if there is none (journeys start now)."""
    found = conn.execute(
        sa.select(journey_cursors.c.position).where(journey_cursors.c.name == CURSOR)
    ).first()
    if found is None:
        top = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
        conn.execute(
            journey_cursors.insert().values(
                name=CURSOR, position=int(top or 0), updated_at=utcnow()
            )
        )


def _lock_cursor(conn: sa.Connection) -> int | None:
    q = sa.select(journey_cursors.c.position).where(journey_cursors.c.name == CURSOR)
    if is_postgres(conn):
        q = q.with_for_update(skip_locked=True)
    pos = conn.execute(q).scalar()
    return None if pos is None else int(pos)


def _safe_position(conn: sa.Connection, after: int, upto: int, now: datetime) -> int:
    """Return the newest event id in (after, upto] received before the grace window."""
    found = conn.execute(
        sa.select(events.c.id)
        .where(events.c.id > after, events.c.id <= upto, events.c.received_at < now - GRACE)
        .order_by(events.c.id.desc())
        .limit(1)
    ).scalar()
    return after if found is None else int(found)


def _candidates(
    rows: Sequence[Sequence[Any]],
    by_key: dict[tuple[int, str], list[Live]],
    now: datetime,
) -> list[Candidate]:
    out: list[Candidate] = []
    for ev_id, ws, contact_id, name, props, occurred_at, received_at in rows:
        for j in by_key.get((int(ws), str(name)), ()):
            trig = j.definition.trigger
            if received_at < j.activated_at or now - occurred_at > trig.max_age:
                continue
            if trig.where and not matches(props or {}, trig.where):
                continue
            out.append(
                Candidate(
                    j,
                    int(contact_id),
                    f"e:{ev_id}",
                    min(occurred_at, now),
                    int(ev_id),
                    {
                        "event": {
                            "id": int(ev_id),
                            "name": name,
                            "properties": props or {},
                            "occurred_at": occurred_at.isoformat(),
                        }
                    },
                )
            )
    return out


def _goal_exits(
    conn: sa.Connection,
    rows: Sequence[Sequence[Any]],
    goals: dict[tuple[int, str], list[Live]],
    now: datetime,
) -> int:
    """End the active runs whose goal event just arrived (the advance step checks too, for
    events this pass has not seen yet), so a finished run shows as finished at once."""
    hits = [(r, j) for r in rows for j in goals.get((int(r[1]), str(r[3])), ())]
    if not hits:
        return 0
    found = conn.execute(
        sa.select(
            journey_runs.c.id,
            journey_runs.c.journey_id,
            journey_runs.c.contact_id,
            journey_runs.c.entered_at,
            journey_runs.c.trigger_event_id,
        ).where(
            journey_runs.c.state == "active",
            in_values(conn, journey_runs.c.journey_id, sorted({j.id for _, j in hits})),
            in_values(conn, journey_runs.c.contact_id, sorted({int(r[2]) for r, _ in hits})),
        )
    ).all()
    active: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for run in found:
        active[(int(run.journey_id), int(run.contact_id))].append(run)
    ended: dict[int, tuple[int, str, int]] = {}
    for (ev_id, _, contact_id, name, props, occurred_at, _), j in hits:
        goal = j.definition.goal
        assert goal is not None
        if goal.where and not matches(props or {}, goal.where):
            continue
        for run in active.get((j.id, int(contact_id)), ()):
            if run.entered_at <= occurred_at and run.trigger_event_id != ev_id:
                ended.setdefault(int(run.id), (j.id, str(name), int(ev_id)))
    by_goal: dict[tuple[int, str, int], list[int]] = defaultdict(list)
    for run_id, key in ended.items():
        by_goal[key].append(run_id)
    for (journey_id, name, ev_id), run_ids in by_goal.items():
        end_runs(
            conn,
            journey_id,
            "goal",
            f"goal {name}",
            now=now,
            run_ids=run_ids,
            detail={"event": name, "event_id": ev_id},
        )
    return len(ended)


def enrol_from_events(engine: Engine, *, now: datetime | None = None, batch: int = BATCH) -> int:
    """Start runs for the events that arrived since the last pass; return how many started."""
    now = now or utcnow()
    with read_only(engine) as probe:  # nothing to do without a cursor moving past new events
        pos = probe.execute(
            sa.select(journey_cursors.c.position).where(journey_cursors.c.name == CURSOR)
        ).scalar()
        top = probe.execute(sa.select(sa.func.max(events.c.id))).scalar()
    if pos is not None and (top is None or int(top) <= int(pos)):
        return 0
    started = 0
    after: int | None = None
    while True:
        with engine.begin() as conn:
            pos = _lock_cursor(conn)
            if pos is None:
                ensure_cursor(conn)  # first pass, or another worker holds it
                return started
            after = pos if after is None else max(after, pos)
            top = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
            if top is None or int(top) <= after:
                return started
            upto = int(top)
            # the real clock, not a test's or `tick --at`'s: the grace is about real commits
            safe = _safe_position(conn, pos, upto, min(now, utcnow()))
            by_key: dict[tuple[int, str], list[Live]] = defaultdict(list)
            goals: dict[tuple[int, str], list[Live]] = defaultdict(list)
            for j in live_journeys(conn, None):
                if j.definition.trigger.event is not None:
                    by_key[(j.workspace_id, j.definition.trigger.event)].append(j)
                if j.definition.goal is not None:
                    goals[(j.workspace_id, j.definition.goal.event)].append(j)
            rows = []
            if by_key or goals:
                names = sorted({name for _, name in [*by_key, *goals]})
                rows = list(
                    conn.execute(
                        sa.select(
                            events.c.id,
                            events.c.workspace_id,
                            events.c.contact_id,
                            events.c.name,
                            events.c.properties,
                            events.c.occurred_at,
                            events.c.received_at,
                        )
                        .where(events.c.id > after, events.c.id <= upto, events.c.name.in_(names))
                        .order_by(events.c.id)
                        .limit(batch)
                    ).all()
                )
            full = len(rows) == batch
            if full:
                upto = int(rows[-1][0])
                safe = min(safe, upto)
            _goal_exits(conn, rows, goals, now)
            started += start_runs(conn, _candidates(rows, by_key, now), now=now)
            if safe > pos:
                conn.execute(
                    journey_cursors.update()
                    .where(journey_cursors.c.name == CURSOR)
                    .values(position=safe, updated_at=now)
                )
            after = upto
        if not full:
            return started
