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
one executemany UPDATE, one bulk insert-or-ignore each for tags and identities. Importers merge
``insert_first``: groups that are plainly new people are inserted first with ``ON CONFLICT DO
NOTHING`` (the unique indexes do the lookups), and only the rest take the way above; on
PostgreSQL, the new people none of whose keys the import has met yet are COPYed straight in,
without the conflict check (``contacts.known``), falling back to it if a key was taken.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.contacts.bulk import (
    array_text,
    copy_lines,
    copy_text,
    driver_rows,
    json_text,
    next_ids,
)
from clarion.contacts.cleaning import CleanContact
from clarion.contacts.known import KnownKeys
from clarion.contacts.tables import contact_identities, contacts

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
_ext_of = operator.attrgetter("external_id")
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
    insert_first: bool = False,
    known: KnownKeys | None = None,
) -> MergeResult:
    """Merge ``records`` into the workspace's contacts (see the module doc for precedence).

    With ``insert_first``, the groups that would be new people if none of their keys were
    stored are inserted first, each skipped by the database if one of its keys is taken
    (``ON CONFLICT DO NOTHING``, whose unique-index check is the lookup); only the skipped
    ones, and groups that are not plainly one new person, go through the lookups below. The
    outcome is the same; an import of mostly new people saves three index lookups per record.
    ``known`` (PostgreSQL) holds the keys of the records merged before these, and is given
    theirs: groups with none of them are COPYed in without the conflict check (``known``).
    """
    if not records:
        return MergeResult([], [], 0)
    groups, group_ext, dropped = _link(records)
    if not insert_first:
        ids, outcomes, conflicts, fresh = _merge_linked(
            conn, workspace_id, records, groups, group_ext, dropped, source, now
        )
    else:
        ids = [0] * len(records)
        outcomes = ["merged"] * len(records)
        fresh = []
        rest = _insert_first(
            conn, workspace_id, records, groups, dropped, source, now, ids, outcomes, fresh, known
        )
        conflicts = 0
        if rest:
            # The rest share no key with the groups just inserted, except keys linking
            # dropped: those are now stored, and counted as the same conflict by the lookups.
            part = [records[i] for i in rest]
            part_ids, part_outcomes, conflicts, part_fresh = _merge_linked(
                conn, workspace_id, part, *_link(part), source, now
            )
            for i, cid, outcome in zip(rest, part_ids, part_outcomes, strict=True):
                ids[i] = cid
                outcomes[i] = outcome
            fresh.extend(part_fresh)
    add_tags_and_identities(conn, workspace_id, records, ids, now, fresh=set(fresh))
    if known is not None:
        known.add([v for r in records for v in (r.external_id, r.phone, r.email) if v is not None])
    return MergeResult(ids, outcomes, conflicts)


def _insert_first(
    conn: sa.Connection,
    workspace_id: int,
    records: Sequence[CleanContact],
    groups: dict[int, list[int]],
    dropped: set[tuple[int, str]],
    source: str,
    now: datetime,
    ids: list[int],
    outcomes: list[str],
    fresh: list[int],
    known: KnownKeys | None = None,
) -> list[int]:
    """Insert the groups that are plainly new people unless a key is taken; return the rest.

    A group qualifies when no key of it was dropped by linking and its records agree on each
    key (one external id, one phone, one email at most): then it is created, with the values
    the lookup path would give it, exactly when no stored contact holds any of its keys, and
    that is what the insert's unique indexes decide. ``ids``, ``outcomes`` and ``fresh`` are
    filled in for the groups inserted; positions of all other records are returned, sorted.
    """
    dropped_at = {i for i, _ in dropped}
    new: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    new_members: list[list[int]] = []
    rest: list[int] = []
    for members in groups.values():
        if len(members) == 1:
            i = members[0]
            if i in dropped_at:
                rest.append(i)
                continue
            r = records[i]
            new.append((_profile_of(r), r.attributes))
        elif any(i in dropped_at for i in members) or not _agree_on_keys(records, members):
            rest.extend(members)
            continue
        else:
            new.append(_new_person(records, members, {}))
        new_members.append(members)
    got = _insert_unless_taken(conn, workspace_id, new, source, now, known) if new else []
    for members, cid in zip(new_members, got, strict=True):
        if cid is None:
            rest.extend(members)
            continue
        for i in members:
            ids[i] = cid
        outcomes[members[0]] = "created"
        fresh.append(cid)
    rest.sort()
    return rest


def _agree_on_keys(records: Sequence[CleanContact], members: list[int]) -> bool:
    """Return whether the records hold at most one value of each key kind between them."""
    for attr in (_ext_of, _phone_of, _email_of):
        values = {v for i in members if (v := attr(records[i])) is not None}
        if len(values) > 1:
            return False
    return True


def _new_person(
    records: Sequence[CleanContact], members: list[int], skips: dict[int, set[str]]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return the profile values and attributes of a new contact made of ``members``.

    Later records overwrite earlier ones where they have a value; ``skips`` names the keys
    (phone, email) of a record that are not used, with a skipped phone's facts.
    """
    fields: dict[str, Any] = dict.fromkeys(PROFILE)
    attrs: dict[str, Any] = {}
    for i in members:
        r = records[i]
        skip = skips.get(i, ())
        for f, value in zip(PROFILE, _profile_of(r), strict=True):
            if value is None or f in skip:
                continue
            if f in _PHONE_FACTS and (r.phone is None or "phone" in skip):
                continue
            fields[f] = value
        attrs.update(r.attributes)
    return tuple(fields[f] for f in PROFILE), attrs


def _merge_linked(
    conn: sa.Connection,
    workspace_id: int,
    records: Sequence[CleanContact],
    groups: dict[int, list[int]],
    group_ext: list[str | None],
    dropped: set[tuple[int, str]],
    source: str,
    now: datetime,
) -> tuple[list[int], list[str], int, list[int]]:
    """Merge linked records by looking their keys up; return ids, outcomes, conflicts, new ids.

    Tags and identities are left to the caller.
    """
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
            skips: dict[int, set[str]] = {}
            for i in members:
                r = records[i]
                for key, found in zip(_KEYS[1:], maps[1:], strict=True):
                    value = getattr(r, key)
                    if value is not None and (value in found or (i, key) in dropped):
                        skips.setdefault(i, set()).add(key)
                        conflicts += 1
            inserts.append(_new_person(records, members, skips))
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
        new_ids = [int(cid) for cid in _insert(conn, workspace_id, inserts, source, now)]
        for members, new_id in zip(insert_members, new_ids, strict=True):
            for i in members:
                ids[i] = new_id
    if updates:
        # Keys named like columns become the SET clause of the executemany.
        conn.execute(contacts.update().where(contacts.c.id == sa.bindparam("_id")), updates)
    return ids, outcomes, conflicts, new_ids


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
    # Rows go to the driver as tuples (or COPY text): SQLAlchemy's per-row parameter
    # processing costs more than the insert itself at this volume. The values are what the
    # column types would bind: JSON text for attributes, and on SQLite the naive-UTC text
    # sqlite3 makes of a datetime.
    pg = conn.dialect.name == "postgresql"
    if pg:
        # Ids come from the sequence first, so the rows can be COPYed with them.
        ids = next_ids(conn, contacts, len(new))
        head, stamp = str(workspace_id), now.isoformat()
        lines = copy_lines(
            [
                (str(cid), head, *profile, json_text(attrs))
                for cid, (profile, attrs) in zip(ids, new, strict=True)
            ],
            (source, stamp, stamp),
        )
        copy_text(conn, "contacts", ["id", *_INSERT_COLUMNS], lines)
        return ids
    stamp = _sqlite_stamp(now)
    rows = [
        (workspace_id, *profile, json_text(attrs), source, stamp, stamp) for profile, attrs in new
    ]
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


def _sqlite_stamp(now: datetime) -> str:
    return now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


#: The staging table of ``_insert_unless_taken`` on PostgreSQL: one per session, always empty
#: between batches (emptied after each insert; a failed transaction rolls its rows back).
_STAGE = "pg_temp.clarion_contacts_stage"
_STAGE_COLUMNS = ("id", *PROFILE, "attributes")
_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE.split('.')[1]} (id bigint, "
    + ", ".join(f"{f} text" for f in PROFILE)
    + ", attributes text)"
)
_STAGE_INSERT = (
    f"INSERT INTO contacts (id, {', '.join(_INSERT_COLUMNS)}) "
    f"SELECT s.id, %s, {', '.join('s.' + f for f in PROFILE)}, s.attributes::jsonb, %s, %s, %s "
    f"FROM {_STAGE} AS s ORDER BY s.id ON CONFLICT DO NOTHING RETURNING id"
)


def _insert_unless_taken(
    conn: sa.Connection,
    workspace_id: int,
    new: list[tuple[tuple[Any, ...], dict[str, Any]]],
    source: str,
    now: datetime,
    known: KnownKeys | None = None,
) -> list[int | None]:
    """Insert new contacts whose keys are all free; return their ids (None: a key is taken).

    The database skips a row that would break a unique key (``ON CONFLICT DO NOTHING``): its
    unique-index check is the lookup. On PostgreSQL the rows are COPYed into a temporary
    table (no indexes, no WAL) and inserted from there by one statement, except the rows
    with no key in ``known``, which are first tried by a plain COPY (see ``known``); on SQLite
    they get the next ids (the transaction holds the write lock) and the ids present
    afterwards are the rows inserted.
    """
    if conn.dialect.name == "postgresql":
        ids = next_ids(conn, contacts, len(new))
        inserted: set[int] = set()
        staged: list[int] = list(range(len(new)))
        if known is not None and known.try_plain():
            plain = _unknown(known, new)
            if not plain.any() or _copy_plain(conn, workspace_id, new, ids, plain, source, now):
                inserted = {ids[j] for j in np.flatnonzero(plain)}
                known.copied += len(inserted)
                # The others have a key met earlier in the import: mostly repeats, which the
                # lookups find anyway (the stage's insert would only skip them).
                staged = []
            else:
                known.plain_failed()
        if staged:
            conn.exec_driver_sql(_STAGE_DDL)
            lines = copy_lines([(str(ids[j]), *new[j][0], json_text(new[j][1])) for j in staged])
            copy_text(conn, _STAGE, _STAGE_COLUMNS, lines)
            got = driver_rows(conn, _STAGE_INSERT, (workspace_id, source, now, now))
            # TRUNCATE, not DELETE: a temporary table is never vacuumed, and deleted rows
            # stayed in it for every later statement to scan (measured: 5.4 s against 1.6 s of
            # server CPU over 200 batches of 5,000, growing with the square of the import).
            conn.exec_driver_sql(f"TRUNCATE {_STAGE}")
            inserted.update(int(row[0]) for row in got)
    else:
        before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts").scalar_one()
        ids = list(range(before + 1, before + 1 + len(new)))
        stamp = _sqlite_stamp(now)
        sql = (
            f"INSERT INTO contacts (id, {', '.join(_INSERT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * (1 + len(_INSERT_COLUMNS)))}) ON CONFLICT DO NOTHING"
        )
        conn.exec_driver_sql(
            sql,
            [
                (cid, workspace_id, *profile, json_text(attrs), source, stamp, stamp)
                for cid, (profile, attrs) in zip(ids, new, strict=True)
            ],
        )
        found = driver_rows(conn, "SELECT id FROM contacts WHERE id > ?", (before,))
        inserted = {int(row[0]) for row in found}
    return [cid if cid in inserted else None for cid in ids]


#: Positions of the keys in a profile tuple (PROFILE order).
_KEY_AT = tuple(PROFILE.index(k) for k in _KEYS)


def _unknown(known: KnownKeys, new: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> Any:
    """Return a boolean array: whether each new person has no key that ``known`` may hold."""
    values: list[str] = []
    owner: list[int] = []
    for j, (profile, _attrs) in enumerate(new):
        for at in _KEY_AT:
            if (value := profile[at]) is not None:
                values.append(value)
                owner.append(j)
    plain = np.ones(len(new), dtype=bool)
    plain[np.asarray(owner, dtype=np.intp)[known.may_contain(values)]] = False
    return plain


def _copy_plain(
    conn: sa.Connection,
    workspace_id: int,
    new: list[tuple[tuple[Any, ...], dict[str, Any]]],
    ids: list[int],
    plain: Any,
    source: str,
    now: datetime,
) -> bool:
    """COPY the ``plain`` new people straight into ``contacts`` in a savepoint.

    Return False, with the savepoint rolled back, when one of their keys was taken after all
    (stored before the import began, or by another writer meanwhile).
    """
    head, stamp = str(workspace_id), now.isoformat()
    lines = copy_lines(
        [(str(ids[j]), head, *new[j][0], json_text(new[j][1])) for j in np.flatnonzero(plain)],
        (source, stamp, stamp),
    )
    try:
        with conn.begin_nested():
            copy_text(conn, "contacts", ["id", *_INSERT_COLUMNS], lines)
    except sa.exc.IntegrityError as exc:
        if not isinstance(exc.orig, psycopg.errors.UniqueViolation):
            raise
        return False
    return True


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
                lines = copy_lines([(str(cid), tag) for cid, tag in new_tags])
                copy_text(conn, "contact_tags", ["contact_id", "tag"], lines)
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
