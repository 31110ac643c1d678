"""A Mastodon instance as the docs describe it: statuses, media, notifications, instance.

Checks the bearer token, counts status length with URLs as 23 characters, honours
``Idempotency-Key``, answers 429 with ``X-RateLimit-Reset`` when told to, processes media
asynchronously (202, then 200 with a url), and pages notifications by ``min_id`` with a Link
header.
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

URL = re.compile(r"https?://\S+")


@dataclass
class MastodonState:
    token: str = "mtoken"
    max_characters: int = 500
    rate_limited: bool = False
    statuses: list[dict[str, Any]] = field(default_factory=list)
    posts_seen: int = 0  # every POST /api/v1/statuses that got past auth
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    notification_requests: list[dict[str, str]] = field(default_factory=list)
    instance_reads: int = 0  # every GET /api/v2/instance


def _err(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def app(state: MastodonState) -> Starlette:
    def authed(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {state.token}"

    async def create_status(request: Request) -> Response:
        if not authed(request):
            return _err(401, "The access token is invalid")
        state.posts_seen += 1
        if state.rate_limited:
            return _err(429, "Too many requests", {"X-RateLimit-Reset": "2099-01-01T00:00:00.000Z"})
        key = request.headers.get("idempotency-key")
        if key and key in state.keys:
            return JSONResponse(state.keys[key])
        fields = await form(request)
        text = next((v for k, v in fields if k == "status"), "")
        media_ids = [v for k, v in fields if k == "media_ids[]"]
        if len(URL.sub("x" * 23, text)) > state.max_characters:
            return _err(
                422, f"Validation failed: Text character limit of {state.max_characters} exceeded"
            )
        for m in media_ids:
            if m not in state.media or state.media[m]["url"] is None:
                return _err(422, "Validation failed: media not processed")
        sid = str(110000 + len(state.statuses))
        status = {
            "id": sid,
            "url": f"https://example.social/@brand/{sid}",
            "created_at": "2026-11-22T10:00:00.000Z",
            "content": text,
            "media_attachments": [state.media[m] for m in media_ids],
        }
        state.statuses.append(status)
        if key:
            state.keys[key] = status
        return JSONResponse(status)

    async def upload(request: Request) -> Response:
        if not authed(request):
            return _err(401, "The access token is invalid")
        parts = await multipart(request)
        if "file" not in parts:
            return _err(422, "Validation failed: File can't be blank")
        mid = str(900 + len(state.media))
        state.media[mid] = {
            "id": mid,
            "type": "image",
            "url": None,
            "description": parts["description"][2].decode() if "description" in parts else None,
            "size": len(parts["file"][2]),
        }
        return JSONResponse(state.media[mid], status_code=202)

    async def get_media(request: Request) -> Response:
        m = state.media[request.path_params["mid"]]
        m["url"] = f"https://files.example.social/{m['id']}.png"
        return JSONResponse(m)

    async def instance(request: Request) -> Response:
        state.instance_reads += 1
        return JSONResponse(
            {
                "domain": "example.social",
                "configuration": {
                    "statuses": {
                        "max_characters": state.max_characters,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    },
                    "media_attachments": {
                        "supported_mime_types": ["image/jpeg", "image/png"],
                        "image_size_limit": 16777216,
                    },
                },
            }
        )

    async def notifications(request: Request) -> Response:
        if not authed(request):
            return _err(401, "The access token is invalid")
        q = request.query_params
        state.notification_requests.append(dict(q))
        types = q.getlist("types[]")
        limit = int(q.get("limit", "40"))
        items = [n for n in state.notifications if not types or n["type"] in types]
        if "min_id" in q:  # the page immediately newer than min_id
            items = [n for n in items if int(n["id"]) > int(q["min_id"])][:limit]
        else:  # the newest page
            items = items[-limit:]
        page = list(reversed(items))
        headers = {}
        if page:
            base = str(request.url_for("notifications"))
            headers["Link"] = (
                f'<{base}?max_id={page[-1]["id"]}&limit={limit}>; rel="next", '
                f'<{base}?min_id={page[0]["id"]}&limit={limit}>; rel="prev"'
            )
        return JSONResponse(page, headers=headers)

    return Starlette(
        routes=[
            Route("/api/v1/statuses", create_status, methods=["POST"]),
            Route("/api/v2/media", upload, methods=["POST"]),
            Route("/api/v1/media/{mid}", get_media),
            Route("/api/v2/instance", instance),
            Route("/api/v1/notifications", notifications, name="notifications"),
        ]
    )


def notification(nid: int, kind: str, acct: str, **status: Any) -> dict[str, Any]:
    """Return a notification as the API shows it."""
    n: dict[str, Any] = {
        "id": str(nid),
        "type": kind,
        "created_at": f"2026-11-22T10:{nid % 60:02d}:00.000Z",
        "account": {"id": f"u-{acct}", "acct": acct, "display_name": acct.title()},
    }
    if status:
        n["status"] = {"mentions": [], "in_reply_to_id": None, **status}
    return n
