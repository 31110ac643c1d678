"""Turn the contact references of a whole batch into contact ids, in a few set-based steps.

An event, identify call or order names its person by id, external id, phone or email. A batch of
500 events must not cost 500 lookups, so every reference of the batch is resolved at once through
the contacts service, and the unknown ones are created in one bulk upsert when allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor
from clarion.contacts.phones import PhoneError, parse_phone
from clarion.contacts.service import (
    ContactIn,
    resolve_contacts,
    upsert_contacts,
    workspace_region,
)
from clarion.contacts.tables import contacts
from clarion.events.models import ContactRef, Reject

_CHUNK = 5000
_RACE_RETRIES = 3
NO_REF = "name the contact by contact_id, external_id, phone or email"


def _existing_ids(conn: sa.Connection, workspace_id: int, ids: Iterable[int]) -> set[int]:
    """Return which of ``ids`` are contacts of the workspace (a read, one query per chunk)."""
    wanted = sorted(set(ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            int(i)
            for i in conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.workspace_id == workspace_id, contacts.c.id.in_(chunk)
                )
            ).scalars()
        )
    return found


def normalise_keys(
    refs: Sequence[ContactRef], region: Callable[[], str | None]
) -> tuple[list[tuple[str, Any] | None], dict[int, Reject]]:
    """Return each reference's lookup key (phones in E.164, emails lower case) and refusals.

    ``region`` is called at most once, and only when a phone is written without ``+``.
    """
    keys: list[tuple[str, Any] | None] = []
    rejects: dict[int, Reject] = {}
    cached: list[str | None] = []
    for i, ref in enumerate(refs):
        k = ref.key()
        if k is None:
            rejects[i] = Reject(i, "contact", None, NO_REF)
        elif k[0] == "email":
            k = ("email", k[1].lower())
        elif k[0] == "phone":
            raw = k[1]
            if not raw.startswith(("+", "00")) and not cached:
                cached.append(region())
            parsed = parse_phone(raw, cached[0] if cached else None)
            if isinstance(parsed, PhoneError):
                rejects[i] = Reject(i, "contact.phone", raw, parsed.reason)
                k = None
            else:
                k = ("phone", parsed.e164)
        keys.append(k)
    return keys, rejects


def _lookup(
    conn: sa.Connection, workspace_id: int, keys: Iterable[tuple[str, Any]]
) -> dict[tuple[str, Any], int]:
    """Return the contact id of each external id / phone / email key that exists."""
    wanted: dict[str, set[str]] = {"external_id": set(), "phone": set(), "email": set()}
    for kind, value in keys:
        wanted[kind].add(value)
    if not any(wanted.values()):
        return {}
    found = resolve_contacts(
        conn,
        workspace_id,
        external_ids=sorted(wanted["external_id"]),
        phones=sorted(wanted["phone"]),
        emails=sorted(wanted["email"]),
    )
    return {(kind, value): int(cid) for (kind, value), cid in found.items()}


def _create(
    conn: sa.Connection, actor: Actor, missing: list[tuple[str, Any]], source: str
) -> tuple[dict[tuple[str, Any], int], dict[tuple[str, Any], str]]:
    """Create contacts for ``missing`` keys; return their ids and the refusals by key.

    Two requests may create the same new person at the same moment; on PostgreSQL the later
    one then fails on the unique key once the earlier one commits. The creation runs in a
    savepoint, so that failure is undone alone: the keys are looked up again (the other
    request's contacts are now visible) and only the still-missing ones are created.
    """
    created: dict[tuple[str, Any], int] = {}
    for attempt in range(_RACE_RETRIES + 1):
        try:
            with conn.begin_nested():
                records = [_new_contact(kind, value) for kind, value in missing]
                result = upsert_contacts(conn, actor, records, source=source)
        except sa.exc.IntegrityError:
            if attempt == _RACE_RETRIES:
                raise
            created.update(_lookup(conn, actor.workspace_id, missing))
            missing = [k for k in missing if k not in created]
            if not missing:
                return created, {}
            continue
        refused = {missing[r.index]: str(r.reason) for r in result.rejects}
        created.update(
            {k: int(cid) for k, cid in zip(missing, result.ids, strict=True) if cid is not None}
        )
        return created, refused
    raise AssertionError("unreachable")  # pragma: no cover


def _new_contact(kind: str, value: str) -> ContactIn:
    fields: dict[str, Any] = {kind: value}
    return ContactIn(**fields)


def resolve_refs(
    conn: sa.Connection,
    actor: Actor,
    refs: Sequence[ContactRef],
    *,
    create: bool,
    source: str = "api",
) -> tuple[list[int | None], dict[int, Reject]]:
    """Return the contact id of every reference (None where refused) and the refusals by index.

    With ``create`` a reference to an unknown external id, phone or email creates the contact;
    an unknown ``contact_id`` is always refused, since ids are ours to hand out.
    """
    ws = actor.workspace_id
    keys, rejects = normalise_keys(refs, lambda: workspace_region(conn, ws))
    known: dict[tuple[str, Any], int] = {}
    by_id = {k[1] for k in keys if k is not None and k[0] == "contact_id"}
    known.update({("contact_id", i): i for i in _existing_ids(conn, ws, by_id)})

    pending = {k for k in keys if k is not None and k[0] != "contact_id"}
    known.update(_lookup(conn, ws, pending))
    missing = sorted((k for k in pending if k not in known), key=lambda k: (k[0], str(k[1])))
    refused: dict[tuple[str, Any], str] = {}
    if missing and create:
        created, refused = _create(conn, actor, missing, source)
        known.update(created)

    ids: list[int | None] = []
    for i, k in enumerate(keys):
        if k is None or i in rejects:
            ids.append(None)
        elif k in known:
            ids.append(known[k])
        else:
            reason = refused.get(k) or (
                "no such contact in this workspace"
                if k[0] == "contact_id" or not create
                else "contact could not be created"
            )
            rejects[i] = Reject(i, f"contact.{k[0]}", k[1], reason)
            ids.append(None)
    return ids, rejects
