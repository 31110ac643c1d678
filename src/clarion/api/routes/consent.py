"""Consent API: read the state and the ledger, record statements (consent:read / consent:write)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.consent.service import ConsentIn, consent_history, current_consent, record_consent
from clarion.contacts.service import get_contact

router = APIRouter(prefix="/v1", tags=["consent"])
Reader = Annotated[Actor, Depends(require("consent:read"))]
Writer = Annotated[Actor, Depends(require("consent:write"))]


class ConsentCreate(BaseModel):
    """One consent statement: who, which channel and purpose, what status, and the evidence."""

    contact_id: int
    channel: str
    purpose: str
    status: str
    source: str
    proof: str | None = None
    occurred_at: AwareDatetime | None = None
    soft_opt_in: bool = False

    def to_consent_in(self) -> ConsentIn:
        at: datetime | None = self.occurred_at
        return ConsentIn(**{**self.model_dump(), "occurred_at": at})


class ConsentBatch(BaseModel):
    """Statements appended to the ledger in one call (at most 10,000)."""

    entries: list[ConsentCreate] = Field(min_length=1, max_length=10_000)


@router.get("/contacts/{contact_id}/consent")
def read_route(
    contact_id: int, actor: Reader, conn: ConnDep, history: bool = False
) -> dict[str, Any]:
    """Return the contact's current consent (and the whole ledger with ``history=true``)."""
    get_contact(conn, actor.workspace_id, contact_id)  # NotFound for another workspace's id
    out: dict[str, Any] = {"current": current_consent(conn, actor.workspace_id, contact_id)}
    if history:
        out["history"] = consent_history(conn, actor.workspace_id, contact_id)
    return out


@router.post("/consent", status_code=201)
def record_route(body: ConsentBatch, actor: Writer, conn: ConnDep) -> dict[str, int]:
    """Append statements to the ledger; the state moves to the latest of each."""
    return {"appended": record_consent(conn, actor, [e.to_consent_in() for e in body.entries])}
