"""Compliance: explain a decision, screen text, suppression lists, workspace policy settings."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.compliance import suppression
from clarion.compliance.explain import SendSpec, campaign_spec, check_text, explain
from clarion.compliance.policies import resolve
from clarion.compliance.settings import TermIn, add_terms, policy_overrides, set_policy
from clarion.db.types import utcnow

router = APIRouter(prefix="/v1/compliance", tags=["compliance"])

Reader = Annotated[Actor, Depends(require("consent:read"))]
Writer = Annotated[Actor, Depends(require("consent:write"))]
Admin = Annotated[Actor, Depends(require("admin"))]
Purpose = Literal["marketing", "transactional"]
Channel = Literal["sms", "email", "social"]


class ExplainRequest(BaseModel):
    """A contact (id, phone or email), a text or template, and when it would be sent."""

    model_config = ConfigDict(extra="forbid")

    contact: int | str
    text: str | None = Field(None, min_length=1, max_length=5000)
    template: str | None = Field(None, description="a saved template's name instead of text")
    purpose: Purpose = "marketing"
    channel: Channel = "sms"
    at: AwareDatetime | None = None
    campaign_id: int | None = Field(None, description="explain this campaign's message")
    variant: str | None = Field(None, description="the campaign's variant (default: first)")


class ScreenRequest(BaseModel):
    """A text and the jurisdiction to screen it for (or a phone to choose it by)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000)
    jurisdiction: str | None = None
    phone: str | None = None
    purpose: Purpose = "marketing"


class SuppressionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=3, max_length=320)
    reason: str = Field("api", max_length=200)
    channel: Literal["*", "sms", "email", "social"] = "*"
    expires_at: AwareDatetime | None = None


class SuppressionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[SuppressionCreate] = Field(min_length=1, max_length=100_000)


class TermCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=50)
    action: Literal["block", "warn"] = "block"
    jurisdiction: str = "*"


@router.post("/explain")
def explain_route(body: ExplainRequest, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Answer whether the contact would get the message, when, and which rules fired."""
    at: datetime = body.at or utcnow()
    if body.campaign_id is not None and body.text is None and body.template is None:
        spec = campaign_spec(conn, actor.workspace_id, body.campaign_id, body.variant)
        return explain(conn, actor.workspace_id, body.contact, spec, at).as_dict()
    spec = SendSpec(
        text=body.text,
        template=body.template,
        purpose=body.purpose,
        channel=body.channel,
        campaign_id=body.campaign_id,
    )
    return explain(conn, actor.workspace_id, body.contact, spec, at).as_dict()


@router.post("/screen")
def screen_route(body: ScreenRequest, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Screen a text: terms, URL rules and wording rules of one jurisdiction."""
    check = check_text(
        conn,
        actor.workspace_id,
        body.text,
        jurisdiction=body.jurisdiction,
        phone=body.phone,
        purpose=body.purpose,
    )
    return check.as_dict()


@router.get("/suppressions")
def list_suppressions(actor: Reader, conn: ConnDep, limit: int = 1000) -> list[dict[str, Any]]:
    """List the workspace's suppressed addresses, newest first."""
    return suppression.list_suppressions(conn, actor.workspace_id, limit=min(limit, 10_000))


@router.post("/suppressions", status_code=201)
def add_suppressions(body: SuppressionBatch, actor: Writer, conn: ConnDep) -> dict[str, int]:
    """Suppress addresses (idempotent); answer how many were new."""
    entries = [
        suppression.SuppressionIn(e.value, e.reason, e.channel, "api", e.expires_at)
        for e in body.entries
    ]
    return {"added": suppression.add_suppressions(conn, actor, entries)}


@router.delete("/suppressions/{value}", status_code=204)
def remove_suppression(value: str, actor: Writer, conn: ConnDep, channel: str = "*") -> Response:
    """Lift one suppression."""
    suppression.remove_suppression(conn, actor, value, channel)
    return Response(status_code=204)


@router.get("/policies/{jurisdiction}")
def show_policy(jurisdiction: str, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return a jurisdiction's policy as it applies to this workspace."""
    policy = resolve(jurisdiction, policy_overrides(conn, actor.workspace_id))
    out = asdict(policy)
    window = policy.send_window
    out["send_window"] = [t.isoformat("minutes") for t in window] if window else None
    return out


@router.put("/policies/{jurisdiction}")
def set_policy_route(
    jurisdiction: str, body: dict[str, Any], actor: Admin, conn: ConnDep
) -> dict[str, Any]:
    """Merge settings into the workspace's override for a jurisdiction (``*``: all)."""
    return set_policy(conn, actor, jurisdiction, body)


@router.post("/terms", status_code=201)
def add_term(body: TermCreate, actor: Admin, conn: ConnDep) -> dict[str, Any]:
    """Add a term to the workspace's screening."""
    add_terms(conn, actor, [TermIn(body.term, body.category, body.action, body.jurisdiction)])
    return body.model_dump()
