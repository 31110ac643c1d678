"""The WeChat Official Account API as documented: token, material, draft, freepublish.

Issues access tokens with ``expires_in`` and answers 40001/42001 for a token it revoked or
let expire; checks the draft's title, content and thumb_media_id; answers 45009 when told to
rate-limit. Everything is HTTP 200 with ``errcode``, as WeChat does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.social.contract.server import multipart


@dataclass
class WeChatState:
    appid: str = "wx1234567890abcdef"
    secret: str = "app-secret-test"
    token_calls: int = 0
    live_tokens: set[str] = field(default_factory=set)
    expired_tokens: set[str] = field(default_factory=set)
    rate_limited: bool = False
    materials: dict[str, int] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)

    def expire_all(self) -> None:
        self.expired_tokens |= self.live_tokens
        self.live_tokens.clear()


def _err(code: int, msg: str) -> Response:
    return JSONResponse({"errcode": code, "errmsg": msg})


def app(state: WeChatState) -> Starlette:
    def token_error(request: Request) -> Response | None:
        token = request.query_params.get("access_token", "")
        if token in state.expired_tokens:
            return _err(42001, "access_token expired")
        if token not in state.live_tokens:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if state.rate_limited:
            return _err(45009, "reach max api daily quota limit")
        return None

    async def token(request: Request) -> Response:
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if q.get("appid") != state.appid:
            return _err(40013, "invalid appid")
        if q.get("secret") != state.secret:
            return _err(40125, "invalid appsecret")
        state.token_calls += 1
        tok = "AT" + secrets.token_hex(12)
        state.live_tokens.add(tok)
        return JSONResponse({"access_token": tok, "expires_in": 7200})

    async def add_material(request: Request) -> Response:
        if (bad := token_error(request)) is not None:
            return bad
        parts = await multipart(request)
        if (
            request.query_params.get("type", parts.get("type", ("", "", b""))[2].decode())
            != "image"
        ):
            return _err(40004, "invalid media type")
        mid = "MAT" + secrets.token_hex(6)
        state.materials[mid] = len(parts["media"][2])
        return JSONResponse({"media_id": mid, "url": f"http://mmbiz.qpic.cn/{mid}"})

    async def draft_add(request: Request) -> Response:
        if (bad := token_error(request)) is not None:
            return bad
        article = (await request.json())["articles"][0]
        if not article.get("title") or len(article["title"]) > 64:
            return _err(45003, "title size out of limit")
        if article.get("thumb_media_id") not in state.materials:
            return _err(40007, "invalid media_id")
        if not article.get("content"):
            return _err(44004, "empty content")
        mid = "DRAFT" + secrets.token_hex(6)
        state.drafts[mid] = article
        return JSONResponse({"media_id": mid})

    async def submit(request: Request) -> Response:
        if (bad := token_error(request)) is not None:
            return bad
        mid = (await request.json()).get("media_id")
        if mid not in state.drafts:
            return _err(40007, "invalid media_id")
        state.published.append(mid)
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "publish_id": str(100000 + len(state.published)),
                "msg_data_id": 1,
            }
        )

    return Starlette(
        routes=[
            Route("/cgi-bin/token", token),
            Route("/cgi-bin/material/add_material", add_material, methods=["POST"]),
            Route("/cgi-bin/draft/add", draft_add, methods=["POST"]),
            Route("/cgi-bin/freepublish/submit", submit, methods=["POST"]),
        ]
    )
