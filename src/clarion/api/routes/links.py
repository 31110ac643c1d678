"""Short links: the public redirect ``/l/{code}`` (GET and HEAD, no API key) and link admin.

The redirect is a plain Starlette endpoint rather than a FastAPI route: it has no body to
validate and no dependency to inject, and skipping that machinery is a good part of reaching
thousands of redirects a second. Every request is recorded (previews and prefetches as
filtered) through the app's :class:`~clarion.tracking.clicks.ClickRecorder` before it is
answered; see :mod:`clarion.tracking.clicks` for why that is both fast and lossless.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.db.types import utcnow
from clarion.tracking.bots import classify
from clarion.tracking.clicks import ClickRecorder, Hit
from clarion.tracking.links import CODE_RE, create_link, get_link
from clarion.tracking.settings import (
    AttributionUpdate,
    TrackingSettingsUpdate,
    campaign_rules,
    get_tracking_settings,
    set_campaign_rules,
    update_tracking_settings,
)

router = APIRouter(tags=["links"])

Reader = Annotated[Actor, Depends(require("campaigns:read"))]
Writer = Annotated[Actor, Depends(require("campaigns:write"))]

_NO_STORE = {"cache-control": "private, no-store", "referrer-policy": "no-referrer"}


def _recorder(request: Request) -> ClickRecorder:
    state = request.app.state
    recorder: ClickRecorder | None = getattr(state, "click_recorder", None)
    if recorder is None:
        recorder = state.click_recorder = ClickRecorder(state.engine)
    return recorder


async def redirect(request: Request) -> Response:
    """Redirect a short code to its target and record the request (GET and HEAD)."""
    return await _answer(request, request.path_params["code"])


async def _answer(request: Request, code: str) -> Response:
    if not CODE_RE.fullmatch(code):
        return PlainTextResponse("no such link", status_code=404, headers=_NO_STORE)
    headers = request.headers
    ua = headers.get("user-agent")
    hit = Hit(
        code=code,
        method=request.method,
        user_agent=ua,
        ip=request.client.host if request.client else None,
        filtered=classify(request.method, ua, headers),
        at=utcnow(),
    )
    try:
        res = await _recorder(request).submit(hit)
    except Exception:
        return PlainTextResponse("try again", status_code=503, headers={"retry-after": "1"})
    if res.url is None:
        status = 410 if res.gone else 404
        text = "this link has expired" if res.gone else "no such link"
        return PlainTextResponse(text, status_code=status, headers=_NO_STORE)
    return RedirectResponse(res.url, status_code=302, headers=_NO_STORE)


router.add_route("/l/{code}", redirect, methods=["GET", "HEAD"], include_in_schema=False)


class ShortLinkFastPath:
    """ASGI middleware answering ``GET|HEAD /l/{code}`` before the API's router.

    The router tries every API route in turn, which cost more than the redirect itself; the
    app installs this (see ``middleware`` below) so a redirect costs one prefix test. Any other
    request passes through untouched; the route above serves apps built without it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith("/l/")
            and scope["method"] in ("GET", "HEAD")
        ):
            response = await _answer(Request(scope, receive), scope["path"][3:])
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


#: ASGI middleware the app factory installs for this module.
middleware = [ShortLinkFastPath]


class LinkCreate(BaseModel):
    url: str = Field(min_length=8, max_length=2000)
    campaign_id: int | None = None
    contact_id: int | None = None
    ttl_s: int | None = None


@router.post("/v1/links", status_code=201)
def create(spec: LinkCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Create one tracked short link."""
    return create_link(
        conn,
        actor,
        spec.url,
        campaign_id=spec.campaign_id,
        contact_id=spec.contact_id,
        ttl_s=spec.ttl_s,
    )


@router.get("/v1/links/{code}")
def show(code: str, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return a link with its click counts."""
    return get_link(conn, actor.workspace_id, code)


@router.get("/v1/tracking/settings")
def settings(actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return the workspace's link domain, link lifetime and attribution rules."""
    return get_tracking_settings(conn, actor.workspace_id).to_dict()


@router.patch("/v1/tracking/settings")
def change_settings(change: TrackingSettingsUpdate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Change the workspace's tracking settings (fields left out keep their value)."""
    return update_tracking_settings(conn, actor, change).to_dict()


@router.get("/v1/campaigns/{campaign_id}/attribution")
def attribution(campaign_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return the attribution rules in force for a campaign."""
    return campaign_rules(conn, actor.workspace_id, campaign_id).to_dict()


@router.put("/v1/campaigns/{campaign_id}/attribution")
def set_attribution(
    campaign_id: int, rules: AttributionUpdate, actor: Writer, conn: ConnDep
) -> dict[str, Any]:
    """Set a campaign's own attribution windows and goal events (null: workspace's)."""
    return set_campaign_rules(conn, actor, campaign_id, rules).to_dict()
