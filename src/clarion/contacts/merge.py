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

import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.contacts.bulk import array_text, copy_rows, driver_rows, json_text, next_ids
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
# On PostgreSQL the JSONB comes back as text for orjson: psycopg's loader is the standard
# library's json (a fifth of the main process's profile of a re-import).
_SELECT_SQL_PG = _SELECT_SQL.replace("attributes", "attributes::text AS attributes")
_stored_profile = operator.itemgetter(*PROFILE)
_profile_of = operator.attrgetter(*PROFILE)
_phone_of = operator.attrgetter("phone")
_email_of = operator.attrgetter("email")


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
    conn: sa.Connection, columns: str, where: str, workspace_id: int | None, values: Sequence[Any]
) -> list[Any]:
    """Return ``SELECT columns FROM contacts WHERE [workspace_id = ? AND] where IN values`` rows.

    Written at the driver level: for thousands of keys SQLAlchemy's rendering of an IN list
    (a named parameter per value) costs more than the query itself. On PostgreSQL the keys are
    one array parameter of an unprepared statement (see ``bulk.driver_rows`` for why).
    """
    pg = conn.dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    scope = f"workspace_id = {mark} AND " if workspace_id is not None else ""
    head = (workspace_id,) if workspace_id is not None else ()
    if pg:
        kind = "bigint" if where == "id" else "text"
        sql = f"SELECT {columns} FROM contacts WHERE {scope}{where} = ANY(%s::{kind}[])"
        return driver_rows(conn, sql, (*head, array_text(values)))
    marks = ",".join("?" * len(values))
    sql = f"SELECT {columns} FROM contacts WHERE {scope}{where} IN ({marks})"
    return driver_rows(conn, sql, (*head, *values))


def keep_statistics(conn: sa.Connection) -> None:
    """ANALYZE ``contacts`` on PostgreSQL when it has more than doubled since its statistics.

    An import grows the table from nothing to a million rows faster than autovacuum re-analyzes
    it; with statistics that say "a few rows", the planner looked keys up by scanning the whole
    workspace through another index (seconds per lookup, quadratic over an import). Doubling
    keeps the number of ANALYZEs logarithmic (about seven for a million rows, ~0.2 s each).
    """
    row = driver_rows(
        conn,
        "SELECT c.reltuples, s.n_live_tup FROM pg_class c "
        "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'contacts'::regclass",
        (),
    )
    if row and row[0][1] is not None and row[0][1] > 2 * max(float(row[0][0]), 5000.0):
        # Only the columns the lookups filter on: the planner's problem was their statistics,
        # and sampling the other columns too cost about twice as much.
        conn.exec_driver_sql("ANALYZE contacts (workspace_id, phone, email, external_id, id)")


def _existing(
    conn: sa.Connection, workspace_id: int, records: Sequence[CleanContact]
) -> tuple[dict[int, dict[str, Any]], list[dict[str, int]]]:
    """Return stored contacts sharing a key with the batch, and key -> id maps per key kind."""
    if conn.dialect.name == "postgresql":
        keep_statistics(conn)
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
        # By primary key alone: these ids came from the workspace's own keys above, and a
        # workspace condition here let PostgreSQL pick a (workspace_id, key) index to scan.
        pg = conn.dialect.name == "postgresql"
        for row in _lookup(conn, _SELECT_SQL_PG if pg else _SELECT_SQL, "id", None, ids):
            stored = dict(zip(_SELECT_NAMES, row, strict=True))
            if isinstance(stored["attributes"], str | bytes):  # JSON text on SQLite
                stored["attributes"] = _json_object(stored["attributes"])
            rows[row[0]] = stored
    return rows, maps


def _json_object(text: str | bytes) -> Any:
    """Parse stored JSON with orjson, or the standard library for what orjson refuses.

    orjson rejects integers beyond 64 bits, which a JSONB attribute may hold.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _match_by_keys(
    records: Sequence[CleanContact],
    members: list[int],
    ext: str | None,
    maps: list[dict[str, int]],
    stored: dict[int, dict[str, Any]],
) -> int | None:
    """Return the stored contact a group matches by phone, else by email (or None)."""
    for attr, found in ((_phone_of, maps[1]), (_email_of, maps[2])):
        if not found:
            continue
        for i in members:
            value = attr(records[i])
            cid = found.get(value) if value is not None else None
            if cid is not None and (ext is None or stored[cid]["external_id"] in (None, ext)):
                return cid
    return None


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
    phones, emails = maps[1], maps[2]
    plans: list[tuple[int | None, list[int]]] = []  # new people first, then stored targets
    by_target: dict[int, list[list[int]]] = {}
    for members, ext in zip(groups.values(), group_ext, strict=True):
        target = maps[0].get(ext) if ext is not None else None
        if target is None and (phones or emails):
            # Most groups are one record with no stored key: skip the search for those.
            one = records[members[0]] if len(members) == 1 else None
            if one is None or one.phone in phones or one.email in emails:
                target = _match_by_keys(records, members, ext, maps, stored)
        if target is None:
            plans.append((None, members))
        else:
            by_target.setdefault(target, []).append(members)
    for target, member_lists in by_target.items():
        plans.append((target, sorted(i for m in member_lists for i in m)))

    ids: list[int] = [0] * len(records)
    outcomes = ["merged"] * len(records)
    conflicts = 0
    inserts: list[tuple[tuple[Any, ...], dict[str, Any]]] = []  # (profile values, attributes)
    insert_members: list[list[int]] = []
    updates: list[dict[str, Any]] = []
    for target, members in plans:
        if target is None and len(members) == 1:
            # The common case, a new person in one record: its values as they are, unless a
            # key of it is taken (handled below).
            i = members[0]
            r = records[i]
            if not (
                (r.phone is not None and (r.phone in phones or (i, "phone") in dropped))
                or (r.email is not None and (r.email in emails or (i, "email") in dropped))
            ):
                inserts.append((_profile_of(r), r.attributes))
                insert_members.append(members)
                outcomes[i] = "created"
                continue
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
            inserts.append((tuple(fields[f] for f in PROFILE), attrs))
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
        if attrs == base["attributes"] and _stored_profile(values) == _stored_profile(base):
            outcomes[first] = "unchanged"
            continue
        row = {f: values[f] for f in PROFILE}
        row.update(_id=target, attributes=attrs, updated_at=now)
        updates.append(row)
        outcomes[first] = "updated"

    new_ids: list[int] = []
    if inserts:
        new_ids = _insert(conn, workspace_id, inserts, source, now)
        for members, new_id in zip(insert_members, new_ids, strict=True):
            for i in members:
                ids[i] = int(new_id)
    if updates:
        # Keys named like columns become the SET clause of the executemany.
        conn.execute(contacts.update().where(contacts.c.id == sa.bindparam("_id")), updates)
    add_tags_and_identities(conn, workspace_id, records, ids, now, fresh=set(new_ids))
    return MergeResult(ids, outcomes, conflicts)


#: Columns of a new contact, in the order ``_insert`` writes them.
_INSERT_COLUMNS = ("workspace_id", *PROFILE, "attributes", "source", "created_at", "updated_at")


def _insert(
    conn: sa.Connection,
    workspace_id: int,
    new: list[tuple[tuple[Any, ...], dict[str, Any]]],
    source: str,
    now: datetime,
) -> list[int]:
    """Insert new contacts (profile values in PROFILE order, attributes) and return their ids."""
    # Rows go to the driver as tuples: SQLAlchemy's per-row parameter processing costs more
    # than the insert itself at this volume. The values are what the column types would bind:
    # JSON text for attributes, and on SQLite the naive-UTC text sqlite3 makes of a datetime.
    pg = conn.dialect.name == "postgresql"
    stamp: Any = now if pg else now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    rows = [
        (workspace_id, *profile, json_text(attrs), source, stamp, stamp) for profile, attrs in new
    ]
    if pg:
        # Ids come from the sequence first, so the rows can be COPYed with them.
        ids = next_ids(conn, contacts, len(rows))
        copy_rows(
            conn,
            contacts,
            ["id", *_INSERT_COLUMNS],
            [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)],
        )
        return ids
    sql = (
        f"INSERT INTO contacts ({', '.join(_INSERT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
    )
    # SQLite gives a new row the largest rowid plus one, and our transaction holds the write
    # lock (BEGIN IMMEDIATE), so the new ids are the next len(rows) integers; that is checked,
    # with the lookup by key below as the fallback should it ever not hold.
    before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts").scalar_one()
    conn.exec_driver_sql(sql, rows)
    after = conn.exec_driver_sql("SELECT max(id), count(*) FROM contacts WHERE id > ?", (before,))
    top, added = after.one()
    if added == len(rows) and top == before + len(rows):
        return list(range(before + 1, top + 1))
    at = {k: 1 + PROFILE.index(k) for k in _KEYS}
    wanted: dict[str, list[int]] = {k: [] for k in _KEYS}
    for pos, row in enumerate(rows):
        key = next(k for k in _KEYS if row[at[k]] is not None)
        wanted[key].append(pos)
    ids = [0] * len(rows)
    for key, positions in wanted.items():
        if not positions:
            continue
        wanted_values = [rows[p][at[key]] for p in positions]
        found = {v: cid for v, cid in _lookup(conn, f"{key}, id", key, workspace_id, wanted_values)}
        for p in positions:
            ids[p] = int(found[rows[p][at[key]]])
    return ids


def add_tags_and_identities(
    conn: sa.Connection,
    workspace_id: int,
    records: Sequence[CleanContact],
    ids: list[int],
    now: datetime,
    *,
    fresh: set[int] | None = None,
) -> None:
    """Add the records' tags and identities to their contacts (``ids`` aligned); never remove.

    ``fresh`` are contacts created in this transaction: they cannot have tags yet, so on
    PostgreSQL their tags are COPYed instead of inserted with ON CONFLICT.
    """
    tags = {(ids[i], t) for i, r in enumerate(records) for t in r.tags}
    idents = {(ns, v): ids[i] for i, r in enumerate(records) for ns, v in r.identities.items()}
    if conn.dialect.name == "postgresql":
        if fresh and tags:
            new_tags = sorted(t for t in tags if t[0] in fresh)
            if new_tags:
                copy_rows(conn, contact_tags, ["contact_id", "tag"], new_tags)
                tags.difference_update(new_tags)
        _add_pg(conn, workspace_id, tags, idents, now)
        return
    if tags:
        conn.exec_driver_sql(
            "INSERT INTO contact_tags (contact_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
            sorted(tags),
        )
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


def _add_pg(
    conn: sa.Connection,
    workspace_id: int,
    tags: set[tuple[int, str]],
    idents: dict[tuple[str, str], int],
    now: datetime,
) -> None:
    """Insert-or-ignore tags and identities on PostgreSQL: one statement each, arrays unnested."""
    if tags:
        contact_ids, names = zip(*sorted(tags), strict=True)
        driver_rows(
            conn,
            "INSERT INTO contact_tags (contact_id, tag) "
            "SELECT * FROM unnest(%s::bigint[], %s::text[]) ON CONFLICT DO NOTHING",
            (array_text(contact_ids), array_text(names)),
        )
    if idents:
        keys = sorted(idents)
        driver_rows(
            conn,
            "INSERT INTO contact_identities "
            "(workspace_id, contact_id, namespace, value, verified, created_at) "
            "SELECT %s, u.c, u.n, u.v, false, %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(c, n, v) "
            "ON CONFLICT DO NOTHING",
            (
                workspace_id,
                now,
                array_text([idents[k] for k in keys]),
                array_text([k[0] for k in keys]),
                array_text([k[1] for k in keys]),
            ),
        )
