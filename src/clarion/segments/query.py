"""Read side of segments: the audience query, counts, samples, breakdowns, explanations.

Everything here builds on :func:`audience_query`, one SELECT yielding ``contact_id``, which
campaigns and automations embed in their own set-based statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.errors import NotFound, ValidationFailed
from clarion.segments.compiler import Bool, Compiler
from clarion.segments.rules import Group, Node, Not, parse, walk
from clarion.segments.tables import segment_snapshot_members, segment_snapshots, segments
from clarion.segments.text import to_text

#: A saved segment's id, or a rule tree (JSON) to evaluate without saving it.
SegmentRef = int | Mapping[str, Any]

SAMPLE_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "country",
    "phone_region",
    "timezone",
    "attributes",
)


def load_rules(conn: sa.Connection, workspace_id: int, segment_id: int) -> Any:
    """Return the stored rules of a segment of the workspace, or None if there is none."""
    return conn.execute(
        sa.select(segments.c.rules).where(
            segments.c.id == segment_id, segments.c.workspace_id == workspace_id
        )
    ).scalar()


def compiler_for(
    conn: sa.Connection, workspace_id: int, at: datetime | None = None, *, stack: Sequence[int] = ()
) -> Compiler:
    """Return a compiler for the workspace on ``conn``'s database, dates resolved at ``at``."""
    if at is not None and at.tzinfo is None:
        raise ValidationFailed("give the time with its offset (e.g. Z)", field="at", value=str(at))
    return Compiler(
        conn.dialect.name,
        workspace_id,
        at or utcnow(),
        lambda sid: load_rules(conn, workspace_id, sid),
        list(stack),
    )


def _rule_tree(
    conn: sa.Connection, workspace_id: int, segment: SegmentRef
) -> tuple[Node, list[int]]:
    if isinstance(segment, int):
        rules = load_rules(conn, workspace_id, segment)
        if rules is None:
            raise NotFound(f"no segment {segment}", field="segment_id", value=segment)
        return parse(rules), [segment]
    return parse(dict(segment)), []


def condition(
    conn: sa.Connection, workspace_id: int, segment: SegmentRef, at: datetime | None = None
) -> Bool:
    """Return the membership condition of ``segment`` over ``contacts`` (for embedding)."""
    node, stack = _rule_tree(conn, workspace_id, segment)
    return compiler_for(conn, workspace_id, at, stack=stack).compile(node)


def audience_query(
    conn: sa.Connection,
    workspace_id: int,
    segment_ids: Sequence[SegmentRef],
    *,
    exclude_segment_ids: Sequence[SegmentRef] = (),
    at: datetime | None = None,
) -> sa.Select[Any]:
    """Return SELECT ``contact_id`` of contacts in any of ``segment_ids`` and none of the
    excluded ones, evaluated at ``at`` (now by default). One statement, no rows fetched."""
    if not segment_ids:
        raise ValidationFailed("at least one segment is needed", field="segment_ids", value=[])
    at = at or utcnow()
    included = [condition(conn, workspace_id, s, at) for s in segment_ids]
    excluded = [condition(conn, workspace_id, s, at) for s in exclude_segment_ids]
    where: list[Bool] = [contacts.c.workspace_id == workspace_id, sa.or_(*included)]
    if excluded:
        where.append(sa.not_(sa.or_(*excluded)))
    return sa.select(contacts.c.id.label("contact_id")).where(*where)


def count(
    conn: sa.Connection, workspace_id: int, segment: SegmentRef, at: datetime | None = None
) -> int:
    """Return how many contacts are in ``segment`` now (or at ``at``)."""
    q = audience_query(conn, workspace_id, [segment], at=at).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(q)).scalar_one())


def sample(
    conn: sa.Connection,
    workspace_id: int,
    segment: SegmentRef,
    *,
    limit: int = 20,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return up to ``limit`` members (lowest ids first, so a preview is stable)."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit is between 1 and 1000", field="limit", value=limit)
    cond = condition(conn, workspace_id, segment, at)
    q = (
        sa.select(*(contacts.c[c] for c in SAMPLE_COLUMNS))
        .where(contacts.c.workspace_id == workspace_id, cond)
        .order_by(contacts.c.id)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def breakdown(
    conn: sa.Connection,
    workspace_id: int,
    segment: SegmentRef,
    by: str,
    *,
    limit: int = 50,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return the members counted per value of field ``by`` (largest groups first).

    ``by`` is a profile field (``country``, ``phone.carrier``, ...) or ``attributes.<name>``;
    members without a value are counted under ``None``.
    """
    comp = compiler_for(conn, workspace_id, at)
    key = comp.field_expr(by).label("value")
    cond = condition(conn, workspace_id, segment, comp.at)
    n = sa.func.count().label("count")
    q = (
        sa.select(key, n)
        .where(contacts.c.workspace_id == workspace_id, cond)
        .group_by(key)
        .order_by(n.desc(), key)
        .limit(limit)
    )
    return [{"value": r[0], "count": int(r[1])} for r in conn.execute(q)]


def explain_membership(
    conn: sa.Connection,
    workspace_id: int,
    segment: SegmentRef,
    contact_id: int,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Return whether the contact is in ``segment`` and, for every rule node, whether it held
    and the value it looked at (the field, the event count in the window, the order total).

    Every node is evaluated by the same compiled SQL as the count (one statement, one column
    per node), so the explanation cannot disagree with the membership it explains.
    """
    node, stack = _rule_tree(conn, workspace_id, segment)
    comp = compiler_for(conn, workspace_id, at, stack=stack)
    nodes = walk(node)
    cols = [sa.case((comp.compile(n), 1), else_=0).label(f"n{i}") for i, n in enumerate(nodes)]
    observed = {i: comp.observed(n) for i, n in enumerate(nodes)}
    cols += [v.label(f"v{i}") for i, v in observed.items() if v is not None]
    row = conn.execute(
        sa.select(*cols).where(contacts.c.id == contact_id, contacts.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound(f"no contact {contact_id}", field="contact_id", value=contact_id)
    values = row._mapping
    held = {id(n): bool(values[f"n{i}"]) for i, n in enumerate(nodes)}
    seen = {id(n): values[f"v{i}"] for i, n in enumerate(nodes) if observed[i] is not None}

    def tree(n: Node) -> dict[str, Any]:
        out: dict[str, Any] = {"path": n.path or "(root)", "rule": to_text(n), "held": held[id(n)]}
        if id(n) in seen:
            out["value"] = seen[id(n)]
        if isinstance(n, Group):
            out["children"] = [tree(c) for c in n.children]
        elif isinstance(n, Not):
            out["children"] = [tree(n.child)]
        return out

    return {
        "contact_id": contact_id,
        "member": held[id(node)],
        "at": comp.at,
        "explanation": tree(node),
    }


def snapshot_members(
    conn: sa.Connection, workspace_id: int, snapshot_id: int, *, segment_id: int | None = None
) -> sa.Select[Any]:
    """Return SELECT ``contact_id`` of a snapshot's frozen members (NotFound if none, or if
    it is not a snapshot of ``segment_id`` when that is given)."""
    q = sa.select(segment_snapshots.c.id).where(
        segment_snapshots.c.id == snapshot_id,
        segment_snapshots.c.workspace_id == workspace_id,
    )
    if segment_id is not None:
        q = q.where(segment_snapshots.c.segment_id == segment_id)
    found = conn.execute(q).scalar()
    if found is None:
        raise NotFound(f"no snapshot {snapshot_id}", field="snapshot_id", value=snapshot_id)
    return sa.select(segment_snapshot_members.c.contact_id).where(
        segment_snapshot_members.c.snapshot_id == snapshot_id
    )
