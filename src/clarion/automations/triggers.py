"""The triggers that are not events: a yearly date attribute, and entering a segment.

Date (a birthday): contacts whose ``attributes.<name>`` (``YYYY-MM-DD``) falls ``days_before``
days after their own local today are found with one query on the month-day of the value (the
few dates that are "today" somewhere on Earth), then checked in Python in each contact's zone;
a run starts once the local ``at`` time has come. ``trigger_key`` = ``d:<year>``: once a year.

Segment: the members a journey saw last time are kept (``journey_segment_members``); entering
is "a member now and not then", computed in SQL. The first look only records the baseline:
turning a journey on does not greet everybody already in the segment.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.automations.runs import Candidate, Live, live_journeys, start_runs
from clarion.automations.tables import journey_segment_members, journeys
from clarion.automations.timing import at_local, recipient_zone, yearly
from clarion.compliance.quiet_hours import zone
from clarion.contacts.tables import contacts
from clarion.db.engine import is_postgres
from clarion.db.types import utcnow
from clarion.workspaces.tables import workspaces


def _month_days(now: datetime, days_before: int) -> list[str]:
    """Return the MM-DD of every anniversary that could be due somewhere on Earth now."""
    out: set[str] = set()
    for hours in (-12, 0, 14):  # UTC-12 .. UTC+14 spans at most three calendar dates
        target = (now + timedelta(hours=hours)).date() + timedelta(days=days_before)
        out.add(target.strftime("%m-%d"))
        if target.month == 2 and target.day == 28:
            out.add("02-29")  # kept on the 28th in a year without a 29th
    return sorted(out)


def _date_value(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _date_candidates(conn: sa.Connection, j: Live, now: datetime) -> list[Candidate]:
    spec = j.definition.trigger.date
    assert spec is not None
    value = contacts.c.attributes[spec.attribute].as_string()
    rows = conn.execute(
        sa.select(
            contacts.c.id,
            contacts.c.timezone,
            contacts.c.phone_timezone,
            contacts.c.phone,
            value.label("value"),
        ).where(
            contacts.c.workspace_id == j.workspace_id,
            sa.func.substr(value, 6, 5).in_(_month_days(now, spec.days_before)),
        )
    ).all()
    ws_tz = conn.execute(
        sa.select(workspaces.c.timezone).where(workspaces.c.id == j.workspace_id)
    ).scalar()
    out: list[Candidate] = []
    for r in rows:
        day = _date_value(r.value)
        if day is None:
            continue
        tz = recipient_zone(r._asdict(), ws_tz or "UTC")
        today = now.astimezone(zone(tz)).date()
        anniversary = yearly(day, (today + timedelta(days=spec.days_before)).year)
        if anniversary - timedelta(days=spec.days_before) != today:
            continue
        fire = at_local(today, spec.at, tz)
        if fire > now:
            continue  # later today, on a later pass
        out.append(
            Candidate(
                j,
                int(r.id),
                f"d:{anniversary.year}",
                fire,
                None,
                {
                    "date": {
                        "attribute": spec.attribute,
                        "value": r.value,
                        "anniversary": anniversary.isoformat(),
                    }
                },
            )
        )
    return out


def enrol_from_dates(engine: Engine, *, now: datetime | None = None) -> int:
    """Start the runs of date-triggered journeys that are due; return how many started."""
    now = now or utcnow()
    started = 0
    with engine.begin() as conn:
        for j in live_journeys(conn, "date"):
            started += start_runs(conn, _date_candidates(conn, j, now), now=now)
    return started


def _segment_id(conn: sa.Connection, j: Live) -> int | None:
    from clarion.segments.tables import segments

    ref = j.definition.trigger.segment
    col = segments.c.id if isinstance(ref, int) else segments.c.name
    found = conn.execute(
        sa.select(segments.c.id).where(segments.c.workspace_id == j.workspace_id, col == ref)
    ).scalar()
    return None if found is None else int(found)


def _lock_journey(conn: sa.Connection, journey_id: int) -> bool:
    q = sa.select(journeys.c.id).where(journeys.c.id == journey_id, journeys.c.status == "active")
    if is_postgres(conn):
        q = q.with_for_update(skip_locked=True)
    return conn.execute(q).first() is not None


def _segment_pass(conn: sa.Connection, j: Live, now: datetime) -> int:
    from clarion.segments.query import audience_query

    seg = _segment_id(conn, j)
    if seg is None or not _lock_journey(conn, j.id):
        return 0
    members = audience_query(conn, j.workspace_id, [seg], at=now).subquery()
    seen = sa.select(journey_segment_members.c.contact_id).where(
        journey_segment_members.c.journey_id == j.id
    )
    entering = [
        int(c)
        for c in conn.execute(
            sa.select(members.c.contact_id).where(members.c.contact_id.not_in(seen))
        ).scalars()
    ]
    conn.execute(
        journey_segment_members.delete().where(
            journey_segment_members.c.journey_id == j.id,
            journey_segment_members.c.contact_id.not_in(sa.select(members.c.contact_id)),
        )
    )
    if entering:
        conn.execute(
            journey_segment_members.insert(),
            [{"journey_id": j.id, "contact_id": c} for c in entering],
        )
    if j.segment_baseline_at is None:
        conn.execute(journeys.update().where(journeys.c.id == j.id).values(segment_baseline_at=now))
        return 0
    key = f"s:{now.strftime('%Y%m%dT%H%M%S')}"
    ctx = {"segment": {"id": seg}}
    return start_runs(conn, [Candidate(j, c, key, now, None, ctx) for c in entering], now=now)


def enrol_from_segments(engine: Engine, *, now: datetime | None = None) -> int:
    """Start runs for contacts that entered a journey's segment since the last look."""
    now = now or utcnow()
    started = 0
    with engine.connect() as probe:
        live = live_journeys(probe, "segment")
    for j in live:
        with engine.begin() as conn:
            started += _segment_pass(conn, j, now)
    return started
