"""Inbound SMS: a gateway hands us MOs; keywords, reply settings and web signups.

``POST /v1/inbound`` is for a customer's own SMS gateway (SMPP and HTTP providers reach the
same handling through the worker and the provider callbacks). Each MO is stored first and then
handled in a transaction of its own, so the answer lists what was done for each.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from clarion.api.deps import ConnDep, EngineDep, require
from clarion.audit.service import Actor
from clarion.inbound import keywords as kw
from clarion.inbound import optin, service, settings
from clarion.inbound.receive import InboundIn

router = APIRouter(prefix="/v1", tags=["inbound"])
Gateway = Annotated[Actor, Depends(require("events:write"))]
Reader = Annotated[Actor, Depends(require("consent:read"))]
Writer = Annotated[Actor, Depends(require("consent:write"))]


class MoIn(BaseModel):
    """One message a person sent (MO), as the gateway received it."""

    sender: str = Field(alias="from", min_length=1, max_length=40)
    to: str = Field(min_length=1, max_length=40)
    text: str = Field(max_length=4000)
    received_at: AwareDatetime | None = None
    id: str | None = Field(
        None, max_length=200, description="the gateway's id: retries add nothing"
    )
    connector: str | None = Field(None, max_length=100)


class MoBatch(BaseModel):
    messages: list[MoIn] = Field(min_length=1, max_length=1000)


class KeywordCreate(BaseModel):
    keyword: str = Field(min_length=1, max_length=100)
    action: str
    language: str = Field("en", max_length=10)
    channel: str = "sms"
    purpose: str = "marketing"
    campaign_id: int | None = None
    reply: str | None = Field(None, max_length=1000)
    double_opt_in: bool = True


class SignupIn(BaseModel):
    phone: str = Field(min_length=3, max_length=40)
    purpose: str = "marketing"
    language: str = Field("en", max_length=10)
    statement: str | None = Field(
        None, max_length=2000, description="the consent wording the person saw on the form"
    )
    sender: str | None = Field(None, max_length=20)


class ClassifyIn(BaseModel):
    text: str = Field(max_length=4000)
    language: str | None = None


@router.post("/inbound", status_code=202)
def receive(body: MoBatch, actor: Gateway, engine: EngineDep) -> dict[str, Any]:
    """Store and handle MOs from the workspace's own gateway; return what each did."""
    items = [
        InboundIn(m.sender, m.to, m.text, m.received_at, m.connector, "api", m.id)
        for m in body.messages
    ]
    done = service.receive(engine, items, workspace_id=actor.workspace_id)
    return {"accepted": len(done), "duplicates": len(items) - len(done), "results": done}


@router.get("/inbound")
def list_inbound(
    actor: Reader, conn: ConnDep, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """List received MOs with what each was taken to mean (oldest first after ``after_id``)."""
    return service.list_inbound(conn, actor.workspace_id, after_id=after_id, limit=limit)


@router.post("/inbound/classify")
def classify(body: ClassifyIn, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Say what a text would be taken to mean, without acting on it."""
    ws = settings.get_settings(conn, actor.workspace_id)
    got = kw.classify(
        body.text,
        settings.custom_keywords(conn, actor.workspace_id),
        settings.phrases_of(ws),
        language=body.language,
    )
    return {
        "intent": got.intent,
        "keyword": got.keyword,
        "language": got.language,
        "rule": got.rule,
        "all_purposes": got.all_purposes,
        "normalised": kw.normalise(body.text),
    }


@router.get("/keywords")
def list_keywords(actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """List the workspace's own keywords and the built-in ones."""
    return {
        "workspace": settings.list_keywords(conn, actor.workspace_id),
        "builtin": {
            "opt_out": kw.OPT_OUT_KEYWORDS,
            "opt_in": kw.OPT_IN_KEYWORDS,
            "confirm": kw.CONFIRM_KEYWORDS,
            "help": kw.HELP_KEYWORDS,
        },
    }


@router.post("/keywords", status_code=201)
def add_keyword(body: KeywordCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Add a workspace keyword (JOIN for a campaign, an extra opt-out, ...)."""
    return settings.add_keyword(conn, actor, settings.KeywordIn(**body.model_dump()))


@router.delete("/keywords/{keyword}", status_code=204)
def remove_keyword(keyword: str, actor: Writer, conn: ConnDep) -> None:
    """Remove a workspace keyword."""
    settings.remove_keyword(conn, actor, keyword)


@router.get("/inbound/settings")
def get_settings(actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return the reply settings (brand, support, frequency, phrases...)."""
    return settings.get_settings(conn, actor.workspace_id)


@router.patch("/inbound/settings")
def set_settings(changes: dict[str, Any], actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Change reply settings (a null value removes a setting)."""
    return settings.set_settings(conn, actor, changes)


@router.post("/signups", status_code=202)
def signup(body: SignupIn, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Start a double opt-in for a number from a web form: a confirmation text is sent."""
    return optin.signup(
        conn,
        actor,
        body.phone,
        purpose=body.purpose,
        language=body.language,
        statement=body.statement,
        sender=body.sender,
    )
