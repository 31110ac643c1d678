"""The Weibo open API as documented: share.json, mentions.json, comments/to_me.json.

Checks the access token (21327 when expired, 21332 when unknown), the safe-domain link in
``status``, the length (20012), repeats (20019), rate limits (10023) and the ``pic`` part, and
pages mentions and comments newest first by ``page`` after ``since_id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.social.contract.server import form, multipart


@dataclass
class WeiboState:
    token: str = "wb-token"
    expired: bool = False
    safe_domain: str = "brand.example.cn"
    rate_limited: bool = False
    statuses: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    comments: list[dict[str, Any]] = field(default_factory=list)


def _err(code: int, error: str, request: str, status: int = 400) -> Response:
    return JSONResponse(
        {"error": error, "error_code": code, "request": request}, status_code=status
    )


def app(state: WeiboState) -> Starlette:
    def token_error(token: str | None, path: str) -> Response | None:
        if token != state.token:
            return _err(21332, "invalid_access_token", path, 401)
        if state.expired:
            return _err(21327, "expired_token", path, 401)
        return None

    async def share(request: Request) -> Response:
        path = "/2/statuses/share.json"
        if request.headers.get("content-type", "").startswith("multipart/"):
            parts = await multipart(request)
            fields = {k: v[2].decode() for k, v in parts.items() if k != "pic"}
            pic = parts.get("pic")
        else:
            fields, pic = dict(await form(request)), None
        if (bad := token_error(fields.get("access_token"), path)) is not None:
            return bad
        if state.rate_limited:
            return _err(10023, "User requests out of rate limit!", path, 403)
        text = fields.get("status", "")
        if len(text) > 2000:
            return _err(20012, "Text too long, please input text less than 2000 characters!", path)
        hosts = re.findall(r"https?://([^/\s]+)", text)
        if not any(h == state.safe_domain or h.endswith("." + state.safe_domain) for h in hosts):
            return _err(10017, "parameter (status)'s value invalid: no safe domain link", path)
        if any(s["text"] == text for s in state.statuses):
            return _err(20019, "Repeat content!", path)
        sid = 4900000000000000 + len(state.statuses)
        status = {
            "id": sid,
            "idstr": str(sid),
            "mid": str(sid),
            "created_at": "Sun Nov 22 18:00:00 +0800 2026",
            "text": text,
            "pic_bytes": len(pic[2]) if pic else 0,
            "user": {"id": 5550001, "idstr": "5550001", "screen_name": "brand"},
        }
        state.statuses.append(status)
        return JSONResponse(status)

    def lister(items: list[dict[str, Any]], key: str, path: str) -> Any:
        async def handler(request: Request) -> Response:
            q = request.query_params
            if (bad := token_error(q.get("access_token"), path)) is not None:
                return bad
            newest_first = list(reversed(items))
            if "since_id" in q:
                newest_first = [i for i in newest_first if i["id"] > int(q["since_id"])]
            count, page = int(q.get("count", "20")), int(q.get("page", "1"))
            chunk = newest_first[(page - 1) * count : page * count]
            return JSONResponse({key: chunk, "total_number": len(newest_first)})

        return handler

    return Starlette(
        routes=[
            Route("/2/statuses/share.json", share, methods=["POST"]),
            Route(
                "/2/statuses/mentions.json",
                lister(state.mentions, "statuses", "/2/statuses/mentions.json"),
            ),
            Route(
                "/2/comments/to_me.json",
                lister(state.comments, "comments", "/2/comments/to_me.json"),
            ),
        ]
    )


def item(i: int, user: str, reply: bool = False) -> dict[str, Any]:
    """Return a mention status or a comment as the API shows it."""
    out: dict[str, Any] = {
        "id": 5000 + i,
        "idstr": str(5000 + i),
        "created_at": f"Sun Nov 22 18:{i // 60 % 60:02d}:{i % 60:02d} +0800 2026",
        "text": f"@brand 你好 {i}",
        "user": {"id": 600 + i, "idstr": str(600 + i), "screen_name": user, "name": user},
        "status": {"id": 4900000000000000, "idstr": "4900000000000000"},
    }
    if reply:
        out["reply_comment"] = {"id": 5000, "idstr": "5000"}
    return out
