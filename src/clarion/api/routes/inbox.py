"""The conversation inbox: list, read, answer, close (messages:read / messages:send)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.inbound import inbox

router = APIRouter(prefix="/v1", tags=["inbox"])
Reader = Annotated[Actor, Depends(require("messages:read"))]
Sender = Annotated[Actor, Depends(require("messages:send"))]


class Answer(BaseModel):
    text: str = Field(min_length=1, max_length=inbox.MAX_ANSWER)


class StatusIn(BaseModel):
    status: str


@router.get("/inbox")
def list_conversations(
    actor: Reader,
    conn: ConnDep,
    status: str | None = "open",
    campaign_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """List conversations, most recent first (``status=`` empty for all)."""
    return inbox.list_conversations(
        conn, actor.workspace_id, status=status or None, campaign_id=campaign_id, limit=limit
    )


@router.get("/inbox/{conversation_id}")
def show(conversation_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return a conversation with its messages (and mark it read)."""
    out = inbox.get_conversation(conn, actor.workspace_id, conversation_id)
    inbox.mark_read(conn, actor, conversation_id)
    return out


@router.post("/inbox/{conversation_id}/reply", status_code=201)
def reply(conversation_id: int, body: Answer, actor: Sender, conn: ConnDep) -> dict[str, Any]:
    """Answer the contact from the number they wrote to."""
    return inbox.answer(conn, actor, conversation_id, body.text)


@router.post("/inbox/{conversation_id}/status")
def set_status(
    conversation_id: int, body: StatusIn, actor: Sender, conn: ConnDep
) -> dict[str, Any]:
    """Close or reopen a conversation."""
    inbox.set_status(conn, actor, conversation_id, body.status)
    return {"id": conversation_id, "status": body.status}
