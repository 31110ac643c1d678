"""Merge clean records into ``contacts``: one set-based pass per chunk.

Merge precedence (also in docs/import.md):

1. **Linking.** Records of one batch that share any key (external id, E.164 phone or lower-cased
   email) describe one person and are merged into one group, in input order; but two different
   external ids are never one person (the later record's shared phone/email is dropped).
2. **Matching.** A group is matched to an existing contact by external id first, then phone, then
   email (``external_id > phone > email``); a contact with a different external id never
   matches. If its keys point at several existing contacts, the highest-precedence match wins
   and the other contacts are left untouched; a key that already belongs to another contact is
   not moved (the row's value for it is ignored and counted as a ``key_conflict``), and an
   external id once set is never rewritten. Groups that match the same contact are merged.
3. **Values.** Starting from the existing contact (if any), each record of the group in input
   order overwrites a field when it has a non-empty value; empty cells never erase anything.
   Custom attributes are merged key by key the same way; tags and identities are only added.
4. **No churn.** A contact whose merged values equal its stored ones is not written at all, so
   ``updated_at`` moves only on real change and re-running an import changes nothing.

Database work per batch: one ``SELECT ... IN`` per key kind, one bulk INSERT (RETURNING ids),
one executemany UPDATE, one bulk insert-or-ignore each for tags and identities.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.contacts.bulk import executemany
from clarion.contacts.cleaning import CleanContact
from clarion.contacts.tables import contact_identities, contact_tags, contacts

#: Profile columns a record can set, in table order.
PROFILE = (
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "phone_type",
    "phone_region",
    "phone_carrier",
    "phone_timezone",
    "email",
    "locale",
    "country",
    "timezone",
)
_PHONE_FACTS = ("phone_type", "phone_region", "phone_carrier", "phone_timezone")
_PLAIN = tuple(f for f in PROFILE if f not in _PHONE_FACTS and f not in ("phone", "email"))
_KEYS = ("external_id", "phone", "email")
_SELECT_COLS = [contacts.c.id, *(contacts.c[f] for f in PROFILE), contacts.c.attributes]
_SELECT_NAMES = [c.name for c in _SELECT_COLS]
_SELECT_SQL = ", ".join(_SELECT_NAMES)
_profile_of = operator.attrgetter(*PROFILE)


@dataclass
class MergeResult:
    """What happened to each record of a batch (aligned with the input)."""

    ids: list[int]  # the contact each record was merged into
    outcomes: list[str]  # created, updated, unchanged, or merged (folded into an earlier record)
    key_conflicts: int


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """Return an INSERT for ``table`` that skips rows violating a unique key, on either database."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _link(
    records: Sequence[CleanContact],
) -> tuple[dict[int, list[int]], list[str | None], set[tuple[int, str]]]:
    """Group records that share a key; return groups, external id per group, dropped keys.

    Records are linked through any shared key, except that two records with different external
    ids are never the same person: the later one's shared phone or email is dropped instead
    (returned as ``(position, key)``), so that each of them keeps its own contact.
    """
    parent = list(range(len(records)))
    ext = [r.external_id for r in records]  # the external id of each group, at its root
    dropped: set[tuple[int, str]] = set()
    owners: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    for i, r in enumerate(records):
        for key, owner, value in zip(_KEYS, owners, (r.external_id, r.phone, r.email), strict=True):
            if value is None:
                continue
            j = owner.setdefault(value, i)
            if j == i:
                continue
            a, b = _find(parent, i), _find(parent, j)
            if a == b:
                continue
            ea, eb = ext[a], ext[b]
            if ea is not None and eb is not None and ea != eb:
                dropped.add((i, key))
                continue
            root, child = (a, b) if a < b else (b, a)
            parent[child] = root
            ext[root] = ea if ea is not None else eb
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(_find(parent, i), []).append(i)
    return groups, [ext[root] for root in groups], dropped


def _lookup(
    conn: sa.Connection, columns: str, where: str, workspace_id: int, values: Sequence[Any]
) -> list[Any]:
    """Return ``SELECT columns FROM contacts WHERE workspace_id = ? AND where IN values`` rows.

    Written at the driver level: for thousands of keys SQLAlchemy's rendering of an IN list
    (a named parameter per value) costs more than the query itself.
    """
    if conn.dialect.name == "postgresql":
        sql = f"SELECT {columns} FROM contacts WHERE workspace_id = %s AND {where} = ANY(%s)"
        return list(conn.exec_driver_sql(sql, (workspace_id, list(values))))
    marks = ",".join("?" * len(values))
    sql = f"SELECT {columns} FROM contacts WHERE workspace_id = ? AND {where} IN ({marks})"
    return list(conn.exec_driver_sql(sql, (workspace_id, *values)))


def _existing(
    conn: sa.Connection, workspace_id: int, records: Sequence[CleanContact]
) -> tuple[dict[int, dict[str, Any]], list[dict[str, int]]]:
    """Return stored contacts sharing a key with the batch, and key -> id maps per key kind."""
    maps: list[dict[str, int]] = []
    for key in _KEYS:
        values = list({v for r in records if (v := getattr(r, key)) is not None})
        found: dict[str, int] = {}
        if values:
            found = {v: cid for v, cid in _lookup(conn, f"{key}, id", key, workspace_id, values)}
        maps.append(found)
    ids = sorted({cid for found in maps for cid in found.values()})
    rows: dict[int, dict[str, Any]] = {}
    if ids:
        for row in _lookup(conn, _SELECT_SQL, "id", workspace_id, ids):
            stored = dict(zip(_SELECT_NAMES, row, strict=True))
            if isinstance(stored["attributes"], str | bytes):  # JSON text on SQLite
                stored["attributes"] = orjson.loads(stored["attributes"])
            rows[row[0]] = stored
    return rows, maps


def merge_contacts(
    conn: sa.Connection,
    workspace_id: int,
    records: Sequence[CleanContact],
    *,
    source: str,
    now: datetime,
) -> MergeResult:
    """Merge ``records`` into the workspace's contacts (see the module doc for precedence)."""
    if not records:
        return MergeResult([], [], 0)
    groups, group_ext, dropped = _link(records)
    stored, maps = _existing(conn, workspace_id, records)

    # Match each group to a stored contact, external id > phone > email; merge same targets.
    # A stored contact with another external id is a different person, never a match.
    by_target: dict[int | None, list[list[int]]] = {}
    for members, ext in zip(groups.values(), group_ext, strict=True):
        target = maps[0].get(ext) if ext is not None else None
        for key, found in zip(_KEYS[1:], maps[1:], strict=True):
            if target is not None:
                break
            for i in members:
                value = getattr(records[i], key)
                cid = found.get(value) if value is not None else None
                if cid is not None and (ext is None or stored[cid]["external_id"] in (None, ext)):
                    target = cid
                    break
        by_target.setdefault(target, []).append(members)

    plans: list[tuple[int | None, list[int]]] = [(None, m) for m in by_target.pop(None, [])]
    for target, member_lists in by_target.items():
        plans.append((target, sorted(i for m in member_lists for i in m)))

    ids: list[int] = [0] * len(records)
    outcomes = ["merged"] * len(records)
    conflicts = 0
    inserts: list[dict[str, Any]] = []
    insert_members: list[list[int]] = []
    updates: list[dict[str, Any]] = []
    for target, members in plans:
        if target is None:
            # A new person. Usually no stored contact owns any of its keys; if one does (it
            # has another external id) or the key was dropped by linking, that key is skipped.
            fields: dict[str, Any] = dict.fromkeys(PROFILE)
            attrs: dict[str, Any] = {}
            for i in members:
                r = records[i]
                skip = set()
                for key, found in zip(_KEYS[1:], maps[1:], strict=True):
                    value = getattr(r, key)
                    if value is not None and (value in found or (i, key) in dropped):
                        skip.add(key)
                        conflicts += 1
                for f, value in zip(PROFILE, _profile_of(r), strict=True):
                    if value is None or f in skip:
                        continue
                    if f in _PHONE_FACTS and (r.phone is None or "phone" in skip):
                        continue
                    fields[f] = value
                attrs.update(r.attributes)
            fields.update(
                workspace_id=workspace_id,
                attributes=attrs,
                source=source,
                created_at=now,
                updated_at=now,
            )
            inserts.append(fields)
            insert_members.append(members)
            outcomes[members[0]] = "created"
            continue
        base = stored[target]
        values: dict[str, Any] = dict(base)
        attrs = dict(base["attributes"])
        for i in members:
            r = records[i]
            for key, found in zip(_KEYS, maps, strict=True):
                value = getattr(r, key)
                if value is None:
                    continue
                owner = found.get(value)
                if (owner is not None and owner != target) or (i, key) in dropped:
                    conflicts += 1
                    continue
                if key == "external_id" and values["external_id"] not in (None, value):
                    conflicts += 1  # never rewrite a contact's external id
                    continue
                values[key] = value
                if key == "phone":
                    for f in _PHONE_FACTS:
                        values[f] = getattr(r, f)
            for f in _PLAIN:
                if f != "external_id" and (value := getattr(r, f)) is not None:
                    values[f] = value
            if r.attributes:
                attrs.update(r.attributes)
        first = members[0]
        for i in members:
            ids[i] = target
        if attrs == base["attributes"] and all(values[f] == base[f] for f in PROFILE):
            outcomes[first] = "unchanged"
            continue
        row = {f: values[f] for f in PROFILE}
        row.update(_id=target, attributes=attrs, updated_at=now)
        updates.append(row)
        outcomes[first] = "updated"

    if inserts:
        new_ids = _insert(conn, workspace_id, inserts)
        for members, new_id in zip(insert_members, new_ids, strict=True):
            for i in members:
                ids[i] = int(new_id)
    if updates:
        # Keys named like columns become the SET clause of the executemany.
        conn.execute(contacts.update().where(contacts.c.id == sa.bindparam("_id")), updates)
    add_tags_and_identities(conn, workspace_id, records, ids, now)
    return MergeResult(ids, outcomes, conflicts)


def _insert(conn: sa.Connection, workspace_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new contacts in bulk and return their ids in input order."""
    # One driver-level executemany (SQLAlchemy's RETURNING path processes every parameter of
    # every row in Python, which costs far more than the insert), then the new ids.
    if conn.dialect.name != "sqlite":
        executemany(conn, contacts.insert(), contacts, rows)
    else:
        # SQLite gives a new row the largest rowid plus one, and our transaction holds the
        # write lock (BEGIN IMMEDIATE), so the new ids are the next len(rows) integers; that is
        # checked, with the lookup by key below as the fallback should it ever not hold.
        before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts").scalar_one()
        executemany(conn, contacts.insert(), contacts, rows)
        after = conn.exec_driver_sql(
            "SELECT max(id), count(*) FROM contacts WHERE id > ?", (before,)
        )
        top, added = after.one()
        if added == len(rows) and top == before + len(rows):
            return list(range(before + 1, top + 1))
    wanted: dict[str, list[int]] = {k: [] for k in _KEYS}
    for pos, row in enumerate(rows):
        key = next(k for k in _KEYS if row[k] is not None)
        wanted[key].append(pos)
    ids = [0] * len(rows)
    for key, positions in wanted.items():
        if not positions:
            continue
        wanted_values = [rows[p][key] for p in positions]
        found = {v: cid for v, cid in _lookup(conn, f"{key}, id", key, workspace_id, wanted_values)}
        for p in positions:
            ids[p] = int(found[rows[p][key]])
    return ids


def add_tags_and_identities(
    conn: sa.Connection,
    workspace_id: int,
    records: Sequence[CleanContact],
    ids: list[int],
    now: datetime,
) -> None:
    """Add the records' tags and identities to their contacts (``ids`` aligned); never remove."""
    tags = {(ids[i], t) for i, r in enumerate(records) for t in r.tags}
    if tags:
        rows = [{"contact_id": c, "tag": t} for c, t in sorted(tags)]
        executemany(conn, insert_ignore(conn, contact_tags), contact_tags, rows)
    idents = {(ns, v): ids[i] for i, r in enumerate(records) for ns, v in r.identities.items()}
    if idents:
        conn.execute(
            insert_ignore(conn, contact_identities),
            [
                {
                    "workspace_id": workspace_id,
                    "contact_id": c,
                    "namespace": ns,
                    "value": v,
                    "verified": False,
                    "created_at": now,
                }
                for (ns, v), c in sorted(idents.items())
            ],
        )
