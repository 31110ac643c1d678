"""Campaigns and routes: create, estimate, test-send, launch, pause, resume, cancel, progress.

Thin over ``clarion.campaigns`` and ``clarion.delivery.routes``. Launch plans the audience in the
request (chunked and committed per chunk), so a very large audience answers when planned.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from clarion.api.deps import ConnDep, EngineDep, require
from clarion.audit.service import Actor
from clarion.campaigns import control, service
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.planner import estimate
from clarion.campaigns.testsend import test_send
from clarion.delivery.routes import RouteCreate, create_route, list_routes, set_route_active

router = APIRouter(prefix="/v1", tags=["campaigns"])

Reader = Annotated[Actor, Depends(require("campaigns:read"))]
Writer = Annotated[Actor, Depends(require("campaigns:write"))]
Admin = Annotated[Actor, Depends(require("admin"))]


class TestSend(BaseModel):
    to: list[str] = Field(min_length=1, max_length=10)


class Reason(BaseModel):
    reason: str | None = Field(None, max_length=300)


@router.post("/campaigns", status_code=201)
def create(spec: CampaignCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Create a draft campaign."""
    cid = service.create_campaign(conn, actor, spec)
    return service.get_campaign(conn, actor.workspace_id, cid).to_dict()


@router.get("/campaigns")
def list_(actor: Reader, conn: ConnDep) -> list[dict[str, Any]]:
    """List the workspace's campaigns, newest first."""
    return service.list_campaigns(conn, actor.workspace_id)


@router.get("/campaigns/{campaign_id}")
def get(campaign_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return one campaign with its variants."""
    return service.get_campaign(conn, actor.workspace_id, campaign_id).to_dict()


@router.put("/campaigns/{campaign_id}")
def update(campaign_id: int, spec: CampaignCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Replace a draft's definition."""
    service.update_campaign(conn, actor, campaign_id, spec)
    return service.get_campaign(conn, actor.workspace_id, campaign_id).to_dict()


@router.post("/campaigns/{campaign_id}/estimate")
def estimate_(campaign_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return audience size, exclusions by reason, parts and cost per route (writes nothing)."""
    return estimate(conn, actor.workspace_id, campaign_id).to_dict()


@router.post("/campaigns/{campaign_id}/test-send")
async def test_send_(
    campaign_id: int, body: TestSend, actor: Writer, engine: EngineDep
) -> list[dict[str, Any]]:
    """Send every variant to the given numbers now (not to the audience)."""
    return await test_send(engine, actor, campaign_id, body.to)


@router.post("/campaigns/{campaign_id}/launch", status_code=202)
def launch(campaign_id: int, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Launch a draft and return at once: a worker plans its audience and workers send it
    (follow ``plan`` and ``messages`` in the progress)."""
    return control.request_launch(conn, actor, campaign_id)


@router.post("/campaigns/{campaign_id}/pause")
def pause(campaign_id: int, body: Reason, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Stop sending; queued messages wait."""
    control.pause(conn, actor, campaign_id, body.reason)
    return control.progress(conn, actor.workspace_id, campaign_id)


@router.post("/campaigns/{campaign_id}/resume")
def resume(campaign_id: int, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Send again from where the campaign stopped."""
    control.resume(conn, actor, campaign_id)
    return control.progress(conn, actor.workspace_id, campaign_id)


@router.post("/campaigns/{campaign_id}/cancel")
def cancel(campaign_id: int, body: Reason, actor: Writer, conn: ConnDep) -> dict[str, int]:
    """Cancel and recall every message not yet submitted; return recalled and already sent."""
    return control.cancel(conn, actor, campaign_id, body.reason)


@router.get("/campaigns/{campaign_id}/progress")
def progress(campaign_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return the campaign's state and its messages by status."""
    return control.progress(conn, actor.workspace_id, campaign_id)


@router.get("/routes")
def routes(actor: Reader, conn: ConnDep) -> list[dict[str, Any]]:
    """List the workspace's routes in failover order."""
    return list_routes(conn, actor.workspace_id)


@router.post("/routes", status_code=201)
def add_route(spec: RouteCreate, actor: Admin, conn: ConnDep) -> dict[str, int]:
    """Create a route (admin keys only: routes decide where money goes)."""
    return {"id": create_route(conn, actor, spec)}


@router.post("/routes/{route_id}/disable")
def disable_route(route_id: int, actor: Admin, conn: ConnDep) -> dict[str, bool]:
    """Take a route out of planning and failover."""
    set_route_active(conn, actor, route_id, False)
    return {"active": False}
