"""Write side of segments: create, change, delete, and freeze snapshots.

These functions are the only writers of the segments tables; each records its change in the
audit log. Rules are validated by compiling them, so a saved segment always compiles: unknown
fields, wrong operators, bad dates, unknown referenced segments and cycles are refused here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.segments.query import audience_query, compiler_for
from clarion.segments.rules import parse, referenced_segments
from clarion.segments.tables import segment_snapshot_members, segment_snapshots, segments
from clarion.segments.text import to_text


def validate_rules(
    conn: sa.Connection, workspace_id: int, rules: Any, *, segment_id: int | None = None
) -> dict[str, Any]:
    """Return ``rules`` if they parse and compile in the workspace, else raise ValidationFailed.

    ``segment_id`` is the segment being changed, so a rule that reaches it again is a cycle.
    """
    if not isinstance(rules, Mapping):
        raise ValidationFailed("rules are a JSON object", field="rules", value=rules)
    node = parse(dict(rules))
    stack = [segment_id] if segment_id is not None else []
    compiler_for(conn, workspace_id, stack=stack).compile(node)
    return dict(rules)


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationFailed("a segment name is 1-200 characters", field="name", value=name)
    return name.strip()


def _taken(conn: sa.Connection, workspace_id: int, name: str, but: int | None = None) -> None:
    q = sa.select(segments.c.id).where(
        segments.c.workspace_id == workspace_id, segments.c.name == name
    )
    if but is not None:
        q = q.where(segments.c.id != but)
    if conn.execute(q).first() is not None:
        raise Conflict(f"a segment named {name!r} exists", field="name", value=name)


def create_segment(
    conn: sa.Connection,
    actor: Actor,
    name: str,
    rules: Mapping[str, Any],
    *,
    description: str | None = None,
) -> int:
    """Create a dynamic segment in the actor's workspace and return its id."""
    ws = actor.workspace_id
    name = _name(name)
    doc = validate_rules(conn, ws, rules)
    _taken(conn, ws, name)
    now = utcnow()
    sid = conn.execute(
        segments.insert()
        .values(
            workspace_id=ws,
            name=name,
            description=description,
            rules=doc,
            created_at=now,
            updated_at=now,
        )
        .returning(segments.c.id)
    ).scalar_one()
    record(conn, actor, "segment.create", "segment", sid, {"name": name, "rules": doc})
    return int(sid)


def update_segment(
    conn: sa.Connection,
    actor: Actor,
    segment_id: int,
    *,
    name: str | None = None,
    rules: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> None:
    """Change a segment's name, rules or description (rules re-validated, cycles refused)."""
    ws = actor.workspace_id
    get_segment(conn, ws, segment_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if name is not None:
        values["name"] = _name(name)
        _taken(conn, ws, values["name"], but=segment_id)
    if rules is not None:
        values["rules"] = validate_rules(conn, ws, rules, segment_id=segment_id)
    if description is not None:
        values["description"] = description
    conn.execute(segments.update().where(segments.c.id == segment_id).values(**values))
    changed = {k: v for k, v in values.items() if k != "updated_at"}
    record(conn, actor, "segment.update", "segment", segment_id, changed)


def delete_segment(conn: sa.Connection, actor: Actor, segment_id: int) -> None:
    """Delete a segment and its snapshots; refuse while another segment refers to it."""
    ws = actor.workspace_id
    get_segment(conn, ws, segment_id)
    others = conn.execute(
        sa.select(segments.c.id, segments.c.rules).where(
            segments.c.workspace_id == ws, segments.c.id != segment_id
        )
    ).all()
    users = sorted(int(o.id) for o in others if segment_id in referenced_segments(parse(o.rules)))
    if users:
        raise Conflict(
            f"segment {segment_id} is used by segment(s) {users}",
            field="segment_id",
            value=segment_id,
            used_by=users,
        )
    snaps = sa.select(segment_snapshots.c.id).where(segment_snapshots.c.segment_id == segment_id)
    conn.execute(
        segment_snapshot_members.delete().where(segment_snapshot_members.c.snapshot_id.in_(snaps))
    )
    conn.execute(segment_snapshots.delete().where(segment_snapshots.c.segment_id == segment_id))
    conn.execute(segments.delete().where(segments.c.id == segment_id))
    record(conn, actor, "segment.delete", "segment", segment_id)


def get_segment(conn: sa.Connection, workspace_id: int, segment_id: int) -> dict[str, Any]:
    """Return a segment with its rules in both forms, or raise NotFound."""
    row = conn.execute(
        sa.select(segments).where(
            segments.c.id == segment_id, segments.c.workspace_id == workspace_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id", value=segment_id)
    return _public(row)


def _public(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "name": row.name,
        "description": row.description,
        "rules": row.rules,
        "text": to_text(parse(row.rules)),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def list_segments(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's segments by name."""
    rows = conn.execute(
        sa.select(segments).where(segments.c.workspace_id == workspace_id).order_by(segments.c.name)
    ).all()
    return [_public(r) for r in rows]


def take_snapshot(
    conn: sa.Connection, actor: Actor, segment_id: int, *, at: datetime | None = None
) -> dict[str, Any]:
    """Freeze the segment's members now (or at ``at``) in one INSERT ... SELECT; return it."""
    ws = actor.workspace_id
    seg = get_segment(conn, ws, segment_id)
    taken_at = at or utcnow()
    snap_id = int(
        conn.execute(
            segment_snapshots.insert()
            .values(
                workspace_id=ws,
                segment_id=segment_id,
                rules=seg["rules"],
                taken_at=taken_at,
                member_count=0,
                actor=actor.label,
            )
            .returning(segment_snapshots.c.id)
        ).scalar_one()
    )
    members = audience_query(conn, ws, [segment_id], at=taken_at).subquery()
    conn.execute(
        segment_snapshot_members.insert().from_select(
            ["snapshot_id", "contact_id"],
            sa.select(sa.literal(snap_id, sa.BigInteger), members.c.contact_id),
        )
    )
    n = conn.execute(
        sa.select(sa.func.count()).where(segment_snapshot_members.c.snapshot_id == snap_id)
    ).scalar_one()
    conn.execute(
        segment_snapshots.update()
        .where(segment_snapshots.c.id == snap_id)
        .values(member_count=int(n))
    )
    record(conn, actor, "segment.snapshot", "segment", segment_id, {"snapshot_id": snap_id})
    return {"id": snap_id, "segment_id": segment_id, "taken_at": taken_at, "member_count": int(n)}


def list_snapshots(conn: sa.Connection, workspace_id: int, segment_id: int) -> list[dict[str, Any]]:
    """Return a segment's snapshots, newest first."""
    get_segment(conn, workspace_id, segment_id)
    rows = conn.execute(
        sa.select(
            segment_snapshots.c.id,
            segment_snapshots.c.segment_id,
            segment_snapshots.c.taken_at,
            segment_snapshots.c.member_count,
            segment_snapshots.c.actor,
        )
        .where(segment_snapshots.c.segment_id == segment_id)
        .order_by(segment_snapshots.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]
