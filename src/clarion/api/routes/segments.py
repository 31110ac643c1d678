"""Segments API under /v1/segments: CRUD, count, sample, breakdown, explain, snapshots.

Reading needs ``segments:read``; creating, changing, deleting and snapshotting ``segments:write``.
Rules are sent as JSON (``rules``) or in the compact text form (``text``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.segments import query, service
from clarion.segments.text import parse_text

router = APIRouter(prefix="/v1/segments", tags=["segments"])
Reader = Annotated[Actor, Depends(require("segments:read"))]
Writer = Annotated[Actor, Depends(require("segments:write"))]


class RulesIn(BaseModel):
    """Rules as a JSON tree or as compact text (one of the two)."""

    rules: dict[str, Any] | None = None
    text: str | None = Field(None, max_length=10_000)

    def document(self, required: bool = True) -> dict[str, Any] | None:
        """Return the JSON rules, parsing ``text`` when that is what was sent."""
        if self.rules is not None and self.text is not None:
            raise ValidationFailed("send 'rules' or 'text', not both", field="rules")
        if self.text is not None:
            return parse_text(self.text)
        if self.rules is None and required:
            raise ValidationFailed("'rules' (JSON) or 'text' is required", field="rules")
        return self.rules


class SegmentCreate(RulesIn):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None


class SegmentUpdate(RulesIn):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None


class PreviewIn(RulesIn):
    limit: int = Field(20, ge=1, le=1000)


@router.get("")
def list_route(actor: Reader, conn: ConnDep) -> list[dict[str, Any]]:
    """List the workspace's segments."""
    return service.list_segments(conn, actor.workspace_id)


@router.post("", status_code=201)
def create_route(body: SegmentCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Validate and save a segment (422 with the path of the faulty rule)."""
    rules = body.document()
    assert rules is not None
    sid = service.create_segment(conn, actor, body.name, rules, description=body.description)
    return service.get_segment(conn, actor.workspace_id, sid)


@router.post("/preview")
def preview_route(body: PreviewIn, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Count and sample rules without saving them."""
    rules = body.document()
    assert rules is not None
    return {
        "count": query.count(conn, actor.workspace_id, rules),
        "sample": query.sample(conn, actor.workspace_id, rules, limit=body.limit),
    }


@router.get("/{segment_id}")
def get_route(segment_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return one segment with its rules as JSON and text."""
    return service.get_segment(conn, actor.workspace_id, segment_id)


@router.patch("/{segment_id}")
def update_route(
    segment_id: int, body: SegmentUpdate, actor: Writer, conn: ConnDep
) -> dict[str, Any]:
    """Change a segment's name, description or rules."""
    service.update_segment(
        conn,
        actor,
        segment_id,
        name=body.name,
        rules=body.document(required=False),
        description=body.description,
    )
    return service.get_segment(conn, actor.workspace_id, segment_id)


@router.delete("/{segment_id}", status_code=204)
def delete_route(segment_id: int, actor: Writer, conn: ConnDep) -> Response:
    """Delete a segment and its snapshots (409 while another segment uses it)."""
    service.delete_segment(conn, actor, segment_id)
    return Response(status_code=204)


@router.get("/{segment_id}/count")
def count_route(
    segment_id: int, actor: Reader, conn: ConnDep, at: datetime | None = None
) -> dict[str, Any]:
    """Count the members now (or at ``at``, an ISO time with offset)."""
    return {
        "segment_id": segment_id,
        "count": query.count(conn, actor.workspace_id, segment_id, at=at),
    }


@router.get("/{segment_id}/sample")
def sample_route(
    segment_id: int,
    actor: Reader,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[dict[str, Any]]:
    """Return some members (lowest ids first)."""
    return query.sample(conn, actor.workspace_id, segment_id, limit=limit)


@router.get("/{segment_id}/breakdown")
def breakdown_route(
    segment_id: int,
    actor: Reader,
    conn: ConnDep,
    by: str = "country",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Count the members per value of a field (``country``, ``attributes.plan``, ...)."""
    return query.breakdown(conn, actor.workspace_id, segment_id, by, limit=limit)


@router.get("/{segment_id}/explain/{contact_id}")
def explain_route(segment_id: int, contact_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Say whether a contact is in the segment and which conditions held."""
    return query.explain_membership(conn, actor.workspace_id, segment_id, contact_id)


@router.post("/{segment_id}/snapshots", status_code=201)
def snapshot_route(segment_id: int, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Freeze the current members into a snapshot."""
    return service.take_snapshot(conn, actor, segment_id)


@router.get("/{segment_id}/snapshots")
def snapshots_route(segment_id: int, actor: Reader, conn: ConnDep) -> list[dict[str, Any]]:
    """List a segment's snapshots, newest first."""
    return service.list_snapshots(conn, actor.workspace_id, segment_id)


@router.get("/{segment_id}/snapshots/{snapshot_id}/members")
def snapshot_members_route(
    segment_id: int,
    snapshot_id: int,
    actor: Reader,
    conn: ConnDep,
    after_id: int = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Page through a snapshot's member ids (pass the last id as ``after_id``)."""
    members = query.snapshot_members(
        conn, actor.workspace_id, snapshot_id, segment_id=segment_id
    ).subquery()
    ids = list(
        conn.execute(
            sa.select(members.c.contact_id)
            .where(members.c.contact_id > after_id)
            .order_by(members.c.contact_id)
            .limit(limit)
        ).scalars()
    )
    return {"contact_ids": ids, "next_after_id": ids[-1] if len(ids) == limit else None}
