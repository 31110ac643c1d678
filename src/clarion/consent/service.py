"""Record and read consent: an append-only ledger and the state derived from it.

The ledger is the evidence (who said what, when, through which source, with what proof); it is
never updated or deleted. ``consent_state`` holds, per (contact, channel, purpose), the ledger
entry with the latest ``occurred_at`` (ties: the later-recorded entry), maintained in the same
transaction as the append so readers see one row; ``rebuild_state`` recomputes it from the
ledger alone, which is also how the incremental rule is checked in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.audit.service import Actor, record
from clarion.consent.tables import consent_ledger, consent_state
from clarion.contacts.tables import contacts
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.errors import NotFound, ValidationFailed

CHANNELS = frozenset({"sms", "email", "social"})
PURPOSES = frozenset({"marketing", "transactional"})
STATUSES = frozenset({"opted_in", "opted_out", "pending"})

_IN_CHUNK = 5000


@dataclass
class ConsentIn:
    """One consent statement to append to the ledger."""

    contact_id: int
    channel: str  # sms | email | social
    purpose: str  # marketing | transactional
    status: str  # opted_in | opted_out | pending
    source: str  # form, import, keyword, api, ...
    proof: str | None = None  # the form text, the reply received, ...
    occurred_at: datetime | None = None  # when the person said so; default now
    soft_opt_in: bool = False


def validate_consent(entry: ConsentIn, index: int = 0) -> None:
    """Raise ValidationFailed naming the field if ``entry`` is not a known statement."""
    for name, allowed in (("channel", CHANNELS), ("purpose", PURPOSES), ("status", STATUSES)):
        value = getattr(entry, name)
        if value not in allowed:
            raise ValidationFailed(
                f"unknown {name} {value!r}",
                field=name,
                value=value,
                row=index,
                allowed=sorted(allowed),
            )
    if not entry.source or len(entry.source) > 100:
        raise ValidationFailed("a source of 1-100 characters is needed", field="source", row=index)
    if entry.occurred_at is not None and entry.occurred_at.tzinfo is None:
        raise ValidationFailed(
            "occurred_at needs a time zone", field="occurred_at", value=str(entry.occurred_at)
        )


def _in_chunks(values: Sequence[int]) -> list[Sequence[int]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


def _current(
    conn: sa.Connection, contact_ids: Sequence[int]
) -> dict[tuple[int, str, str], tuple[str, bool, datetime]]:
    state: dict[tuple[int, str, str], tuple[str, bool, datetime]] = {}
    for part in _in_chunks(sorted(set(contact_ids))):
        q = sa.select(
            consent_state.c.contact_id,
            consent_state.c.channel,
            consent_state.c.purpose,
            consent_state.c.status,
            consent_state.c.soft_opt_in,
            consent_state.c.since,
        ).where(in_values(conn, consent_state.c.contact_id, part))
        for r in conn.execute(q):
            state[(r.contact_id, r.channel, r.purpose)] = (r.status, r.soft_opt_in, r.since)
    return state


def _already_recorded(
    conn: sa.Connection, contact_ids: Sequence[int]
) -> set[tuple[int, str, str, str, datetime]]:
    """Return (contact, channel, purpose, status, occurred_at) of these contacts' ledger entries."""
    seen: set[tuple[int, str, str, str, datetime]] = set()
    for part in _in_chunks(sorted(set(contact_ids))):
        q = sa.select(
            consent_ledger.c.contact_id,
            consent_ledger.c.channel,
            consent_ledger.c.purpose,
            consent_ledger.c.status,
            consent_ledger.c.occurred_at,
        ).where(in_values(conn, consent_ledger.c.contact_id, part))
        seen.update((r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(q))
    return seen


def record_consent(
    conn: sa.Connection,
    actor: Actor,
    entries: Sequence[ConsentIn],
    *,
    only_changes: bool = False,
) -> int:
    """Append ``entries`` to the ledger in bulk, move the state forward; return rows appended.

    With ``only_changes`` an entry is not appended when it repeats the current status, or when the
    ledger already holds the same statement (same key, status and time): imports use it so that
    re-running a file adds nothing, even when a later STOP has changed the state since.
    """
    if not entries:
        return 0
    for i, e in enumerate(entries):
        validate_consent(e, i)
    ws = actor.workspace_id
    ids = sorted({e.contact_id for e in entries})
    known: set[int] = set()
    for part in _in_chunks(ids):
        known.update(
            conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.workspace_id == ws, in_values(conn, contacts.c.id, part)
                )
            ).scalars()
        )
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFound(f"no contact {missing[0]}", field="contact_id", value=missing[0])

    now = utcnow()
    current = _current(conn, ids) if only_changes else {}
    recorded = _already_recorded(conn, ids) if only_changes else set()
    rows: list[dict[str, Any]] = []
    for e in sorted(entries, key=lambda e: e.occurred_at or now):
        at = e.occurred_at or now
        key = (e.contact_id, e.channel, e.purpose)
        if only_changes:
            seen = current.get(key)
            if seen is not None and (seen[0], seen[1]) == (e.status, e.soft_opt_in):
                continue
            if (e.contact_id, e.channel, e.purpose, e.status, at) in recorded:
                continue
            if seen is None or at >= seen[2]:
                current[key] = (e.status, e.soft_opt_in, at)
        rows.append(
            {
                "workspace_id": ws,
                "contact_id": e.contact_id,
                "channel": e.channel,
                "purpose": e.purpose,
                "status": e.status,
                "source": e.source,
                "proof": e.proof,
                "soft_opt_in": e.soft_opt_in,
                "occurred_at": at,
                "recorded_at": now,
                "actor": actor.label,
            }
        )
    if not rows:
        return 0
    stmt = consent_ledger.insert().returning(consent_ledger.c.id, sort_by_parameter_order=True)
    ledger_ids = conn.execute(stmt, rows).scalars().all()
    _advance_state(conn, rows, [int(i) for i in ledger_ids])
    record(
        conn,
        actor,
        "consent.record",
        "consent",
        None,
        {"appended": len(rows), "contacts": len({r["contact_id"] for r in rows})},
    )
    return len(rows)


def _advance_state(conn: sa.Connection, rows: list[dict[str, Any]], ledger_ids: list[int]) -> None:
    """Upsert the newest entry per key, only where it is not older than the stored state."""
    newest: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row, lid in zip(rows, ledger_ids, strict=True):
        key = (row["contact_id"], row["channel"], row["purpose"])
        kept = newest.get(key)
        if kept is None or (row["occurred_at"], lid) >= (kept["since"], kept["ledger_id"]):
            newest[key] = {
                "contact_id": row["contact_id"],
                "channel": row["channel"],
                "purpose": row["purpose"],
                "workspace_id": row["workspace_id"],
                "status": row["status"],
                "soft_opt_in": row["soft_opt_in"],
                "ledger_id": lid,
                "since": row["occurred_at"],
            }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    ins = dialect.insert(consent_state)
    stmt = ins.on_conflict_do_update(
        index_elements=["contact_id", "channel", "purpose"],
        set_={
            "status": ins.excluded.status,
            "soft_opt_in": ins.excluded.soft_opt_in,
            "ledger_id": ins.excluded.ledger_id,
            "since": ins.excluded.since,
        },
        where=consent_state.c.since <= ins.excluded.since,
    )
    conn.execute(stmt, list(newest.values()))


def current_consent(
    conn: sa.Connection, workspace_id: int, contact_id: int
) -> list[dict[str, Any]]:
    """Return the contact's current consent per channel and purpose, with its evidence."""
    q = (
        sa.select(
            consent_state.c.channel,
            consent_state.c.purpose,
            consent_state.c.status,
            consent_state.c.soft_opt_in,
            consent_state.c.since,
            consent_ledger.c.source,
            consent_ledger.c.proof,
            consent_state.c.ledger_id,
        )
        .join(consent_ledger, consent_ledger.c.id == consent_state.c.ledger_id)
        .where(
            consent_state.c.workspace_id == workspace_id,
            consent_state.c.contact_id == contact_id,
        )
        .order_by(consent_state.c.channel, consent_state.c.purpose)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def consent_history(
    conn: sa.Connection, workspace_id: int, contact_id: int
) -> list[dict[str, Any]]:
    """Return every ledger entry of the contact, oldest first."""
    q = (
        sa.select(consent_ledger)
        .where(
            consent_ledger.c.workspace_id == workspace_id,
            consent_ledger.c.contact_id == contact_id,
        )
        .order_by(consent_ledger.c.occurred_at, consent_ledger.c.id)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def rebuild_state(conn: sa.Connection, workspace_id: int) -> int:
    """Recompute the workspace's consent_state from the ledger alone; return the rows written."""
    ranked = (
        sa.select(
            consent_ledger.c.id,
            sa.func.row_number()
            .over(
                partition_by=(
                    consent_ledger.c.contact_id,
                    consent_ledger.c.channel,
                    consent_ledger.c.purpose,
                ),
                order_by=(consent_ledger.c.occurred_at.desc(), consent_ledger.c.id.desc()),
            )
            .label("rn"),
        )
        .where(consent_ledger.c.workspace_id == workspace_id)
        .subquery()
    )
    latest = (
        sa.select(
            consent_ledger.c.contact_id,
            consent_ledger.c.channel,
            consent_ledger.c.purpose,
            consent_ledger.c.workspace_id,
            consent_ledger.c.status,
            consent_ledger.c.soft_opt_in,
            consent_ledger.c.id,
            consent_ledger.c.occurred_at,
        )
        .join(ranked, ranked.c.id == consent_ledger.c.id)
        .where(ranked.c.rn == 1)
    )
    conn.execute(consent_state.delete().where(consent_state.c.workspace_id == workspace_id))
    conn.execute(
        consent_state.insert().from_select(
            [
                "contact_id",
                "channel",
                "purpose",
                "workspace_id",
                "status",
                "soft_opt_in",
                "ledger_id",
                "since",
            ],
            latest,
        )
    )
    # rowcount of INSERT ... SELECT is not reported by every driver; count instead.
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(consent_state)
        .where(consent_state.c.workspace_id == workspace_id)
    ).scalar_one()
    return int(count)
