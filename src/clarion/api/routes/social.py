"""Social: connected accounts, the posts queue, fetching, and the WeChat push webhook.

Accounts hold credentials, so only admin keys manage them, and secrets are never returned.
The WeChat webhook takes no API key: WeChat signs each call with the account's token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from clarion.api.deps import ConnDep, EngineDep, require
from clarion.audit.service import Actor
from clarion.social import accounts, publishing

router = APIRouter(prefix="/v1/social", tags=["social"])

Admin = Annotated[Actor, Depends(require("admin"))]
Writer = Annotated[Actor, Depends(require("campaigns:write"))]
Reader = Annotated[Actor, Depends(require("campaigns:read"))]


class AccountCreate(BaseModel):
    """A platform account: settings and secrets together; the service keeps them apart."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    platform: Literal["mastodon", "bluesky", "x", "weibo", "wechat_oa"]
    handle: str | None = Field(None, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mime_type: str
    data_b64: str
    alt: str = ""


class PostCreate(BaseModel):
    """A post; without ``scheduled_at`` it goes now, or at its campaign's launch."""

    model_config = ConfigDict(extra="forbid")

    account: str
    text: str = ""
    link: str | None = Field(None, max_length=2000)
    title: str | None = Field(None, max_length=200)
    images: list[ImageIn] = Field(default_factory=list)
    scheduled_at: datetime | None = None
    campaign_id: int | None = None
    draft: bool = False


@router.get("/accounts")
def list_accounts(actor: Admin, conn: ConnDep) -> list[dict[str, Any]]:
    """Return the workspace's social accounts (secrets only by name)."""
    return accounts.list_accounts(conn, actor.workspace_id)


@router.post("/accounts", status_code=201)
def add_account(body: AccountCreate, actor: Admin, conn: ConnDep) -> dict[str, Any]:
    """Connect a social account."""
    return accounts.add_account(
        conn, actor, body.name, body.platform, body.settings, handle=body.handle
    )


@router.delete("/accounts/{name}", status_code=204)
def remove_account(name: str, actor: Admin, conn: ConnDep) -> Response:
    """Remove a social account with its posts and fetched activity."""
    accounts.remove_account(conn, actor, name)
    return Response(status_code=204)


@router.post("/posts", status_code=201)
def create_post(body: PostCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Queue a post; it is refused with every limit it breaks (``fields.problems``)."""
    return publishing.create_post(
        conn,
        actor,
        body.account,
        body.text,
        link=body.link,
        title=body.title,
        images=[i.model_dump() for i in body.images],
        scheduled_at=body.scheduled_at,
        campaign_id=body.campaign_id,
        draft=body.draft,
    )


@router.get("/posts")
def list_posts(
    actor: Reader, conn: ConnDep, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Return posts, newest first."""
    return publishing.list_posts(conn, actor.workspace_id, status, min(max(limit, 1), 1000))


@router.get("/posts/{post_id}")
def get_post(post_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return one post with its platform id, url or error."""
    return publishing.get_post(conn, actor.workspace_id, post_id)


@router.post("/posts/{post_id}/{action}")
def post_action(
    post_id: int, action: Literal["cancel", "retry"], actor: Writer, conn: ConnDep
) -> dict[str, Any]:
    """Cancel a post not yet published, or retry a failed or uncertain one."""
    return publishing.set_post_status(conn, actor, post_id, action)


@router.post("/fetch")
def fetch(actor: Admin, engine: EngineDep) -> dict[str, int]:
    """Fetch every account's new activity now; return new rows per account."""
    return publishing.fetch_all(engine, actor.workspace_id)


@router.get("/wechat/{account_id}")
def wechat_verify(
    account_id: int, signature: str, timestamp: str, nonce: str, echostr: str, conn: ConnDep
) -> Response:
    """Answer WeChat's server-address check with ``echostr`` when the signature is right."""
    echo = publishing.wechat_handshake(conn, account_id, signature, timestamp, nonce, echostr)
    return Response(echo, media_type="text/plain")


@router.post("/wechat/{account_id}")
async def wechat_receive(
    account_id: int, signature: str, timestamp: str, nonce: str, request: Request, conn: ConnDep
) -> Response:
    """Store a pushed message or event; answer ``success`` so WeChat does not retry."""
    body = await request.body()
    publishing.wechat_push(conn, account_id, signature, timestamp, nonce, body)
    return Response("success", media_type="text/plain")
