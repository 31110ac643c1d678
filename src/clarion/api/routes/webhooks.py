"""Webhooks API under /v1/webhooks: endpoints, the callback signing key, deliveries, replay.

Managing endpoints and secrets takes ``webhooks:write``; reading deliveries takes
``messages:read``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from clarion.api.deps import EngineDep, require
from clarion.audit.service import Actor
from clarion.db.engine import read_only
from clarion.webhooks import service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Actor, Depends(require("webhooks:write"))]
Reader = Annotated[Actor, Depends(require("messages:read"))]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=lambda: ["*"])
    description: str | None = Field(None, max_length=200)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = None
    active: bool | None = None
    rotate_secret: bool = False


class ReplayBody(BaseModel):
    """Either delivery ids, or a status (default dead) with an optional endpoint and time."""

    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(default_factory=list, max_length=10_000)
    endpoint_id: int | None = None
    status: str = "dead"
    since: datetime | None = None


@router.post("/endpoints", status_code=201)
def create_route(body: EndpointCreate, actor: Manager, engine: EngineDep) -> dict[str, Any]:
    """Create an endpoint; the answer holds its secret, shown this once."""
    with engine.begin() as conn:
        return service.create_endpoint(
            conn, actor, body.url, body.events, description=body.description
        )


@router.get("/endpoints")
def list_route(actor: Manager, engine: EngineDep) -> list[dict[str, Any]]:
    """Return the workspace's endpoints (without secrets)."""
    with read_only(engine) as conn:
        return service.list_endpoints(conn, actor.workspace_id)


@router.patch("/endpoints/{endpoint_id}")
def update_route(
    endpoint_id: int, body: EndpointUpdate, actor: Manager, engine: EngineDep
) -> dict[str, Any]:
    """Change an endpoint's URL, events or state, or rotate its secret."""
    with engine.begin() as conn:
        return service.update_endpoint(
            conn,
            actor,
            endpoint_id,
            url=body.url,
            events=body.events,
            active=body.active,
            rotate_secret=body.rotate_secret,
        )


@router.delete("/endpoints/{endpoint_id}", status_code=204)
def delete_route(endpoint_id: int, actor: Manager, engine: EngineDep) -> Response:
    """Delete an endpoint and its deliveries."""
    with engine.begin() as conn:
        service.delete_endpoint(conn, actor, endpoint_id)
    return Response(status_code=204)


@router.get("/callback-secret")
def callback_secret_route(actor: Manager, engine: EngineDep) -> dict[str, str]:
    """Return the key that signs deliveries to per-message ``callback_url``s."""
    with engine.begin() as conn:
        return {"secret": service.callback_secret(conn, actor.workspace_id)}


@router.get("/deliveries")
def deliveries_route(
    actor: Reader,
    engine: EngineDep,
    status: str | None = None,
    endpoint_id: int | None = None,
    message_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Return deliveries, newest first (e.g. ``?status=dead`` for the dead letters)."""
    with read_only(engine) as conn:
        return service.list_deliveries(
            conn,
            actor.workspace_id,
            status=status,
            endpoint_id=endpoint_id,
            message_id=message_id,
            limit=limit,
        )


@router.post("/deliveries/replay")
def replay_route(body: ReplayBody, actor: Manager, engine: EngineDep) -> dict[str, int]:
    """Queue deliveries again (fresh try count; the receiver sees the same event ids)."""
    with engine.begin() as conn:
        n = service.replay(
            conn,
            actor,
            ids=body.ids,
            endpoint_id=body.endpoint_id,
            status=body.status,
            since=body.since,
        )
    return {"replayed": n}
