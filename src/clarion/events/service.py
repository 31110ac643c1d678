"""Event ingestion: Segment-style ``track`` and ``identify``, set-based and idempotent.

A batch is validated in Python, its contacts resolved (and created) in one pass through the
contacts service, then written with one bulk ``INSERT``. Events carrying a ``message_id`` are
de-duplicated by the database (``ON CONFLICT (workspace_id, message_id) DO NOTHING``), so a
client that retries a batch after a timeout never doubles its events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.events.bulk import insert_dedup, insert_plain
from clarion.events.models import ContactRef, IngestResult, Reject, TrackIn
from clarion.events.refs import resolve_refs
from clarion.events.sql import chunks
from clarion.events.tables import events as events_table

__all__ = [
    "ContactRef",
    "IngestResult",
    "Reject",
    "TrackIn",
    "identify",
    "track",
]

_CHUNK = 5000  # rows per statement: bounds array and parameter sizes on both databases
MAX_NAME = 100
MAX_MESSAGE_ID = 200
MAX_SOURCE = 50
#: The event name under which ``identify`` calls are kept, so they are de-duplicated and dated.
IDENTIFY_EVENT = "identify"


def _check(i: int, ev: TrackIn) -> Reject | None:
    """Return why event ``i`` cannot be stored, or None if it can."""
    name = ev.name.strip() if isinstance(ev.name, str) else ""
    if not name:
        return Reject(i, "name", ev.name, "an event needs a name")
    if len(name) > MAX_NAME:
        return Reject(i, "name", ev.name, f"longer than {MAX_NAME} characters")
    if ev.occurred_at is not None and ev.occurred_at.tzinfo is None:
        return Reject(i, "occurred_at", ev.occurred_at.isoformat(), "a time needs its UTC offset")
    if ev.message_id is not None and not (0 < len(ev.message_id) <= MAX_MESSAGE_ID):
        return Reject(i, "message_id", ev.message_id, f"1 to {MAX_MESSAGE_ID} characters")
    if not isinstance(ev.properties, dict):
        return Reject(i, "properties", ev.properties, "properties must be an object")
    if not ev.source or len(ev.source) > MAX_SOURCE:
        return Reject(i, "source", ev.source, f"1 to {MAX_SOURCE} characters")
    return None


def _row(ev: TrackIn, workspace_id: int, contact_id: int, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "contact_id": contact_id,
        "name": ev.name.strip(),
        "properties": ev.properties,
        "occurred_at": ev.occurred_at or now,
        "received_at": now,
        "message_id": ev.message_id,
        "source": ev.source,
    }


def insert_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> tuple[list[int | None], int]:
    """Insert event rows in bulk; return their ids (None for duplicates) and the duplicate count.

    Rows with a ``message_id`` go through ``ON CONFLICT DO NOTHING`` and are matched back by it;
    rows without one cannot collide and get their ids in input order (see ``bulk``).
    A ``message_id`` seen twice in the same batch counts once; the repeat is a duplicate.
    """
    ids: list[int | None] = [None] * len(rows)
    first_by_mid: dict[str, int] = {}
    with_mid: list[dict[str, Any]] = []
    plain_pos: list[int] = []
    for pos, row in enumerate(rows):
        mid = row["message_id"]
        if mid is None:
            plain_pos.append(pos)
        elif mid not in first_by_mid:
            first_by_mid[mid] = pos
            with_mid.append(row)
    for part in chunks(len(plain_pos), _CHUNK):
        got = insert_plain(conn, [rows[plain_pos[k]] for k in part])
        for k, new_id in zip(part, got, strict=True):
            ids[plain_pos[k]] = new_id
    for part in chunks(len(with_mid), _CHUNK):
        for new_id, mid in insert_dedup(conn, [with_mid[k] for k in part]):
            ids[first_by_mid[mid]] = new_id
    accepted = sum(1 for i in ids if i is not None)
    return ids, len(rows) - accepted


def track(
    conn: sa.Connection,
    actor: Actor,
    events: Sequence[TrackIn],
    *,
    create_contacts: bool = True,
) -> IngestResult:
    """Store a batch of events; refuse the invalid ones, skip the already-seen ones.

    An event naming an unknown external id, phone or email creates that contact unless
    ``create_contacts`` is False. The result's ``ids`` follow the input order: the new event's id,
    or None for a duplicate or a refused event.
    """
    now = utcnow()
    rejects: dict[int, Reject] = {}
    valid: list[int] = []
    for i, ev in enumerate(events):
        problem = _check(i, ev)
        if problem is None:
            valid.append(i)
        else:
            rejects[i] = problem
    source = events[valid[0]].source if valid else "api"
    contact_ids, ref_rejects = resolve_refs(
        conn, actor, [events[i].contact for i in valid], create=create_contacts, source=source
    )
    rows: list[dict[str, Any]] = []
    row_pos: list[int] = []
    for j, i in enumerate(valid):
        cid = contact_ids[j]
        if cid is None:
            r = ref_rejects[j]
            rejects[i] = Reject(i, r.field, r.value, r.reason)
            continue
        rows.append(_row(events[i], actor.workspace_id, cid, now))
        row_pos.append(i)
    new_ids, duplicates = insert_events(conn, rows)
    ids: list[int | None] = [None] * len(events)
    for i, new_id in zip(row_pos, new_ids, strict=True):
        ids[i] = new_id
    accepted = len(rows) - duplicates
    if accepted:
        names = Counter(r["name"] for r, i in zip(rows, new_ids, strict=True) if i is not None)
        record(
            conn,
            actor,
            "events.track",
            "events",
            None,
            {
                "accepted": accepted,
                "duplicates": duplicates,
                "rejected": len(rejects),
                "names": dict(names.most_common(20)),
            },
        )
    return IngestResult(accepted, duplicates, [rejects[i] for i in sorted(rejects)], ids)


def _event_contact(conn: sa.Connection, workspace_id: int, message_id: str) -> int | None:
    found = conn.execute(
        sa.select(events_table.c.contact_id).where(
            events_table.c.workspace_id == workspace_id, events_table.c.message_id == message_id
        )
    ).scalar()
    return None if found is None else int(found)


def identify(
    conn: sa.Connection,
    actor: Actor,
    contact: ContactRef,
    traits: dict[str, Any],
    *,
    message_id: str | None = None,
    occurred_at: datetime | None = None,
    source: str = "api",
) -> int:
    """Create or update the profile named by ``contact`` with ``traits``; return its id.

    Profile traits (names, phone, email, locale, country, timezone, external id) update those
    fields; ``tags`` (a list) and ``identities`` (namespace to handle) are passed on; every other
    trait becomes a custom attribute. The call is kept as an ``identify`` event, so a repeated
    ``message_id`` is recognised and changes nothing.
    """
    from clarion.events.identify import upsert_profile

    if message_id is not None:
        if not (0 < len(message_id) <= MAX_MESSAGE_ID):
            raise ValidationFailed(
                f"message_id must be 1 to {MAX_MESSAGE_ID} characters",
                field="message_id",
                value=message_id,
            )
        seen = _event_contact(conn, actor.workspace_id, message_id)
        if seen is not None:
            return seen
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise ValidationFailed(
            "a time needs its UTC offset", field="occurred_at", value=occurred_at.isoformat()
        )
    contact_id = upsert_profile(conn, actor, contact, traits, source=source)
    now = utcnow()
    row = _row(
        TrackIn(contact, IDENTIFY_EVENT, traits, occurred_at, message_id, source),
        actor.workspace_id,
        contact_id,
        now,
    )
    insert_events(conn, [row])
    record(conn, actor, "events.identify", "contact", contact_id, {"traits": sorted(traits)})
    return contact_id
