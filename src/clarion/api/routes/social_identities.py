"""Social identities, link codes, the feedback inbox and campaign social goals (issue #11).

Thin routes over :mod:`clarion.social.identities`, :mod:`clarion.social.service` and
:mod:`clarion.social.promotion`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.social import identities, promotion, service

router = APIRouter(prefix="/v1", tags=["social"])
ContactsReader = Annotated[Actor, Depends(require("contacts:read"))]
ContactsWriter = Annotated[Actor, Depends(require("contacts:write"))]
Reader = Annotated[Actor, Depends(require("messages:read"))]
Sender = Annotated[Actor, Depends(require("messages:send"))]
CampaignWriter = Annotated[Actor, Depends(require("campaigns:write"))]
CampaignReader = Annotated[Actor, Depends(require("campaigns:read"))]


class LinkIn(BaseModel):
    contact_id: int
    platform: str = Field(max_length=20)
    handle: str = Field(max_length=201)
    #: signup (a handle the person gave, unverified) or manual (checked by the team).
    method: str = "manual"
    user_id: str | None = Field(None, max_length=200)


class CodeIn(BaseModel):
    contact_id: int
    platform: str | None = Field(None, max_length=20)


class StatusIn(BaseModel):
    status: str


class GoalIn(BaseModel):
    actions: list[str] = Field(min_length=1, max_length=6)
    click_window_s: int | None = Field(None, ge=60)


class JoinCallIn(BaseModel):
    keyword: str = Field(min_length=1, max_length=100)
    number: str = Field(min_length=3, max_length=20)
    text: str = Field("", max_length=5000)
    language: str = "en"


@router.get("/social/identities")
def list_identities(
    actor: ContactsReader,
    conn: ConnDep,
    contact_id: int | None = None,
    platform: str | None = None,
) -> list[dict[str, Any]]:
    """List linked social handles (of one contact, or one platform)."""
    return identities.list_identities(
        conn, actor.workspace_id, contact_id=contact_id, platform=platform
    )


@router.post("/social/identities", status_code=201)
def link(body: LinkIn, actor: ContactsWriter, conn: ConnDep) -> dict[str, Any]:
    """Link a handle to a contact (409 if another contact holds it)."""
    if body.method not in ("signup", "manual"):
        from clarion.errors import ValidationFailed

        raise ValidationFailed(
            "method is signup or manual (codes link themselves)",
            field="method",
            value=body.method,
        )
    return identities.link(
        conn,
        actor,
        body.contact_id,
        body.platform,
        body.handle,
        method=body.method,
        user_id=body.user_id,
    )


@router.delete("/social/identities/{platform}/{handle}")
def unlink(platform: str, handle: str, actor: ContactsWriter, conn: ConnDep) -> dict[str, Any]:
    """Remove a handle's link."""
    owner = identities.unlink(conn, actor, platform, handle)
    return {"contact_id": owner, "platform": platform, "handle": handle, "unlinked": True}


@router.post("/social/link-codes", status_code=201)
def link_code(body: CodeIn, actor: Sender, conn: ConnDep) -> dict[str, Any]:
    """Text a contact a one-time code to post back from their social account."""
    return identities.request_code(conn, actor, body.contact_id, platform=body.platform)


@router.get("/social/feedback")
def feedback(
    actor: Reader,
    conn: ConnDep,
    channel: str | None = None,
    sentiment: str | None = None,
    status: str | None = None,
    campaign_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """SMS replies and social comments in one list, newest first, with sentiment."""
    return service.list_feedback(
        conn,
        actor.workspace_id,
        channel=channel,
        sentiment=sentiment,
        status=status,
        campaign_id=campaign_id,
        limit=limit,
    )


@router.post("/social/feedback/{item_id}/status")
def feedback_status(item_id: str, body: StatusIn, actor: Sender, conn: ConnDep) -> dict[str, Any]:
    """Close or reopen a social comment."""
    service.set_feedback_status(conn, actor, item_id, body.status)
    return {"id": item_id, "status": body.status}


@router.put("/campaigns/{campaign_id}/social-goal")
def social_goal(
    campaign_id: int, body: GoalIn, actor: CampaignWriter, conn: ConnDep
) -> dict[str, Any]:
    """Make social actions (follow, comment, share...) goals the campaign is credited for."""
    return promotion.set_social_goal(
        conn, actor, campaign_id, body.actions, click_window_s=body.click_window_s
    )


@router.get("/campaigns/{campaign_id}/social-engagement")
def social_engagement(campaign_id: int, actor: CampaignReader, conn: ConnDep) -> dict[str, Any]:
    """Social actions attributed to a campaign, comment sentiment and sign-ups."""
    return promotion.engagement(conn, actor.workspace_id, campaign_id)


@router.post("/social/join-call")
def join_call(body: JoinCallIn, actor: CampaignReader, conn: ConnDep) -> dict[str, str]:
    """Return a post's text with "Text JOIN to 12345 ..." (the keyword must be JOIN-type)."""
    return {
        "text": promotion.join_post_text(
            conn, actor.workspace_id, body.text, body.keyword, body.number, body.language
        )
    }
