"""Contacts: bulk upsert with merge, read, resolve and delete.

``upsert_contacts`` is the one writer of profiles for the API and the importer alike: it cleans
each record (``cleaning``), merges the valid ones set-based (``merge``, where the precedence is
documented) and writes one audit entry per call with the counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.consent.service import current_consent
from clarion.contacts.cleaning import CleanContact, ContactIn, Reject, clean_contact
from clarion.contacts.known import KnownKeys
from clarion.contacts.merge import PROFILE, add_tags_and_identities, merge_contacts
from clarion.contacts.tables import contact_identities, contact_tags, contacts
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.workspaces.tables import workspaces

__all__ = [
    "ContactIn",
    "Reject",
    "UpsertResult",
    "delete_contact",
    "get_contact",
    "list_contacts",
    "resolve_contacts",
    "update_contact",
    "upsert_contacts",
    "workspace_region",
]

#: Records merged per set-based pass (keeps IN lists well under every database's limit).
BATCH = 5000


@dataclass
class UpsertResult:
    """Per-record contact ids and the counts of what happened."""

    ids: list[int | None]  # contact id per input record, None where rejected
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0  # records folded into an earlier record of the same call
    rejects: list[Reject] = field(default_factory=list)
    key_conflicts: int = 0


def workspace_region(conn: sa.Connection, workspace_id: int) -> str | None:
    """Return the workspace's default region for reading national numbers."""
    region = conn.execute(
        sa.select(workspaces.c.default_region).where(workspaces.c.id == workspace_id)
    ).scalar()
    return str(region) if region else None


def upsert_contacts(
    conn: sa.Connection,
    actor: Actor,
    records: Sequence[ContactIn],
    *,
    default_region: str | None = None,
    source: str = "api",
) -> UpsertResult:
    """Clean and merge ``records`` into the actor's workspace; invalid ones come back as rejects."""
    region = default_region or workspace_region(conn, actor.workspace_id)
    clean: list[CleanContact] = []
    result = UpsertResult(ids=[None] * len(records))
    for i, rec in enumerate(records):
        got = clean_contact(rec, i, region)
        if isinstance(got, list):
            result.rejects.extend(got)
        else:
            clean.append(got)
    counts, ids = apply_clean(conn, actor.workspace_id, clean, source=source)
    for cleaned, cid in zip(clean, ids, strict=True):
        result.ids[cleaned.position] = cid
    result.created, result.updated = counts["created"], counts["updated"]
    result.unchanged, result.merged = counts["unchanged"], counts["merged"]
    result.key_conflicts = counts["key_conflicts"]
    record(
        conn,
        actor,
        "contacts.upsert",
        "contact",
        result.ids[0] if len(records) == 1 else None,
        {
            "source": source,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "merged": result.merged,
            "rejected": len({r.index for r in result.rejects}),
        },
    )
    return result


@dataclass
class InsertFirst:
    """Whether a bulk writer tries inserting new people before looking their keys up.

    An import of mostly new people (the first one into a workspace) is cheaper inserting
    first: the unique indexes do the lookups (``merge_contacts(insert_first=True)``). A
    re-import of known people would attempt each insert in vain before the lookups, so the
    choice follows the previous batch: insert first while at least half of its people were new.
    On PostgreSQL, ``known`` remembers the import's keys so that plainly new people skip the
    conflict check (see ``contacts.known``); it is made on first use.
    """

    enabled: bool = True
    known: KnownKeys | None = None

    def update(self, outcomes: Sequence[str]) -> None:
        created = sum(1 for o in outcomes if o == "created")
        people = sum(1 for o in outcomes if o != "merged")
        self.enabled = 2 * created >= people


def apply_clean(
    conn: sa.Connection,
    workspace_id: int,
    clean: Sequence[CleanContact],
    *,
    source: str,
    insert_first: InsertFirst | None = None,
) -> tuple[Counter[str], list[int]]:
    """Merge already-cleaned records in batches; return outcome counts and ids (no audit)."""
    counts: Counter[str] = Counter()
    ids: list[int] = []
    now = utcnow()
    for start in range(0, len(clean), BATCH):
        part = clean[start : start + BATCH]
        first = insert_first is not None and insert_first.enabled
        known = None
        if insert_first is not None and conn.dialect.name == "postgresql":
            known = insert_first.known = insert_first.known or KnownKeys()
        res = merge_contacts(
            conn, workspace_id, part, source=source, now=now, insert_first=first, known=known
        )
        if insert_first is not None:
            insert_first.update(res.outcomes)
        counts.update(res.outcomes)
        if res.key_conflicts:
            counts["key_conflicts"] += res.key_conflicts
        ids.extend(res.ids)
    return counts, ids


def get_contact(conn: sa.Connection, workspace_id: int, contact_id: int) -> dict[str, Any]:
    """Return one contact with its tags, identities and current consent, or raise NotFound."""
    row = (
        conn.execute(
            sa.select(contacts).where(
                contacts.c.workspace_id == workspace_id, contacts.c.id == contact_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no contact {contact_id}", field="contact_id", value=contact_id)
    out = dict(row)
    out["tags"] = sorted(
        conn.execute(
            sa.select(contact_tags.c.tag).where(contact_tags.c.contact_id == contact_id)
        ).scalars()
    )
    out["identities"] = {
        r.namespace: r.value
        for r in conn.execute(
            sa.select(contact_identities.c.namespace, contact_identities.c.value)
            .where(contact_identities.c.contact_id == contact_id)
            .order_by(contact_identities.c.id)
        )
    }
    out["consent"] = current_consent(conn, workspace_id, contact_id)
    return out


def list_contacts(
    conn: sa.Connection, workspace_id: int, *, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Return a page of contacts ordered by id (keyset pagination: pass the last id seen)."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit", value=limit)
    q = (
        sa.select(contacts)
        .where(contacts.c.workspace_id == workspace_id, contacts.c.id > after_id)
        .order_by(contacts.c.id)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def resolve_contacts(
    conn: sa.Connection,
    workspace_id: int,
    *,
    external_ids: Sequence[str] = (),
    phones: Sequence[str] = (),
    emails: Sequence[str] = (),
) -> dict[tuple[str, str], int]:
    """Return ``(kind, value) -> contact id`` for the keys that exist (phones in E.164)."""
    found: dict[tuple[str, str], int] = {}
    for kind, values in (
        ("external_id", external_ids),
        ("phone", phones),
        ("email", [e.strip().lower() for e in emails]),
    ):
        distinct = sorted(set(values))
        col = contacts.c[kind]
        for start in range(0, len(distinct), BATCH):
            q = sa.select(contacts.c.id, col).where(
                contacts.c.workspace_id == workspace_id, col.in_(distinct[start : start + BATCH])
            )
            for cid, value in conn.execute(q):
                found[(kind, value)] = int(cid)
    return found


def delete_contact(conn: sa.Connection, actor: Actor, contact_id: int) -> None:
    """Delete a contact and everything hanging off it (tags, identities, consent, events)."""
    found = conn.execute(
        sa.select(*(contacts.c[f] for f in ("id", "phone", "email", "external_id"))).where(
            contacts.c.workspace_id == actor.workspace_id, contacts.c.id == contact_id
        )
    ).first()
    if found is None:
        raise NotFound(f"no contact {contact_id}", field="contact_id", value=contact_id)
    # This feature's children go explicitly; other features' rows cascade by foreign key.
    for table in _children():
        conn.execute(table.delete().where(table.c.contact_id == contact_id))
    conn.execute(contacts.delete().where(contacts.c.id == contact_id))
    record(conn, actor, "contact.delete", "contact", contact_id, {"had_phone": bool(found.phone)})


def _children() -> list[sa.Table]:
    from clarion.consent.tables import consent_ledger, consent_state

    return [consent_state, consent_ledger, contact_tags, contact_identities]


def profile_fields() -> tuple[str, ...]:
    """Return the profile columns a record may set."""
    return PROFILE


def update_contact(
    conn: sa.Connection,
    actor: Actor,
    contact_id: int,
    changes: ContactIn,
    *,
    default_region: str | None = None,
) -> dict[str, Any]:
    """Set the non-empty fields of ``changes`` on one contact; return it as ``get_contact`` does.

    A phone, email or external id that belongs to another contact is a Conflict (naming the
    field and the owner), never a silent merge: merging two people is a decision, not a side
    effect of editing one of them.
    """
    current = get_contact(conn, actor.workspace_id, contact_id)
    region = default_region or changes.country or current["country"]
    region = region or workspace_region(conn, actor.workspace_id)
    probe = ContactIn(**{**changes.__dict__})
    if probe.external_id is None and probe.phone is None and probe.email is None:
        probe.external_id = current["external_id"] or f"#{contact_id}"  # cleaning needs one key
    got = clean_contact(probe, 0, region)
    if isinstance(got, list):
        first = got[0]
        raise ValidationFailed(
            f"invalid {first.field}: {first.reason}",
            field=first.field,
            value=first.value,
            reason=first.reason,
        )
    owners = resolve_contacts(
        conn,
        actor.workspace_id,
        external_ids=[changes.external_id.strip()] if changes.external_id else [],
        phones=[got.phone] if got.phone else [],
        emails=[got.email] if got.email else [],
    )
    for (kind, value), owner in owners.items():
        if owner != contact_id:
            raise Conflict(
                f"{kind} {value} belongs to contact {owner}", field=kind, value=value, owner=owner
            )
    values: dict[str, Any] = {}
    for name in PROFILE:
        new = getattr(got, name)
        if name == "external_id" and not changes.external_id:
            continue
        if new is not None and new != current[name]:
            values[name] = new
    if got.phone is not None and got.phone != current["phone"]:
        for name in ("phone_type", "phone_region", "phone_carrier", "phone_timezone"):
            values[name] = getattr(got, name)
    attributes = {**current["attributes"], **got.attributes}
    if attributes != current["attributes"]:
        values["attributes"] = attributes
    if values:
        values["updated_at"] = utcnow()
        conn.execute(contacts.update().where(contacts.c.id == contact_id).values(**values))
    add_tags_and_identities(conn, actor.workspace_id, [got], [contact_id], utcnow())
    record(conn, actor, "contact.update", "contact", contact_id, {"fields": sorted(values.keys())})
    return get_contact(conn, actor.workspace_id, contact_id)
