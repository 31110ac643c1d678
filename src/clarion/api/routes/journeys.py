"""Journeys API under /v1/journeys: definitions (CRUD, versions), status, runs, a contact's path.

Journeys are marketing automation, so they use the campaign scopes: reading needs
``campaigns:read``; saving, pausing, resuming and archiving ``campaigns:write``. The body of a
create or update is the definition itself, the same document as a YAML file holds (see
docs/journeys.md). DELETE archives: runs and their paths are kept for inspection.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.automations import service
from clarion.errors import ValidationFailed

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])
Reader = Annotated[Actor, Depends(require("campaigns:read"))]
Writer = Annotated[Actor, Depends(require("campaigns:write"))]
Definition = Annotated[dict[str, Any], Body(description="the journey definition")]


@router.get("")
def list_route(actor: Reader, conn: ConnDep) -> list[dict[str, Any]]:
    """List the workspace's journeys with run counts by state."""
    return service.list_journeys(conn, actor.workspace_id)


@router.post("", status_code=201)
def create_route(
    doc: Definition,
    actor: Writer,
    conn: ConnDep,
    response: Response,
    status: Literal["active", "paused"] | None = None,
) -> dict[str, Any]:
    """Save a definition: 201 for a new journey, 200 for a new (or unchanged) version."""
    out = service.save_journey(conn, actor, doc, status=status)
    if not out["created"]:
        response.status_code = 200
    return out


@router.get("/{journey}")
def show_route(
    journey: str, actor: Reader, conn: ConnDep, version: int | None = None
) -> dict[str, Any]:
    """Return a journey (by id or name) with its current definition, or ``version``'s."""
    return service.get_journey(conn, actor.workspace_id, journey, version=version)


@router.put("/{journey}")
def update_route(journey: str, doc: Definition, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Save a new version of an existing journey (the definition's name must match)."""
    current = service.get_journey(conn, actor.workspace_id, journey)
    if doc.get("name", current["name"]) != current["name"]:
        raise ValidationFailed(
            "the definition's name differs from the journey's; create a new journey instead",
            field="name",
            value=doc.get("name"),
        )
    return service.save_journey(conn, actor, {**doc, "name": current["name"]})


@router.delete("/{journey}")
def delete_route(journey: str, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Archive the journey: nobody enters, active runs exit, history is kept."""
    return service.set_status(conn, actor, journey, "archived")


@router.post("/{journey}/{action}")
def status_route(
    journey: str,
    action: Literal["pause", "resume", "archive"],
    actor: Writer,
    conn: ConnDep,
) -> dict[str, Any]:
    """Pause, resume or archive a journey."""
    status = {"pause": "paused", "resume": "active", "archive": "archived"}[action]
    return service.set_status(conn, actor, journey, status)


@router.get("/{journey}/runs")
def runs_route(
    journey: str,
    actor: Reader,
    conn: ConnDep,
    state: str | None = None,
    contact_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> list[dict[str, Any]]:
    """List a journey's runs, newest first."""
    return service.list_runs(
        conn, actor.workspace_id, journey, state=state, contact_id=contact_id, limit=limit
    )


@router.get("/{journey}/contacts/{contact_id}/path")
def path_route(journey: str, contact_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return each of a contact's runs in the journey with every step it took."""
    return service.run_path(conn, actor.workspace_id, journey, contact_id)
