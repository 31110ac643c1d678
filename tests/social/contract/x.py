"""The X API v2 as its docs describe it: tweets, media upload, mentions, errors.

Every request's OAuth 1.0a signature is recomputed here from the request as received (method,
URL, query, the ``oauth_*`` header fields) with the account's secrets, independently of
Clarion's signer; a wrong signature, a reused nonce or a stale timestamp gets 401. An OAuth 2.0
user token is accepted as ``Bearer``. Weighted length, duplicate content, rate limits and
mention pagination follow the documented shapes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.social.contract.server import multipart

SECRETS = {
    "consumer_key": "ck-test",
    "consumer_secret": "cs-test",
    "access_token": "1234-at-test",
    "access_token_secret": "ats-test",
}


def _enc(s: str) -> str:
    return quote(s, safe="~-._")


@dataclass
class XState:
    bearer: str = "user-oauth2-token"
    user_id: str = "1234"
    rate_limited: bool = False
    tweets: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, int] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    mentions: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    auth_seen: list[str] = field(default_factory=list)  # "oauth1" or "bearer" per request


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


def _weighted(text: str) -> int:
    text = re.sub(r"https?://\S+", "x" * 23, text)
    return sum(1 if ord(c) <= 4351 else 2 for c in text)


def app(state: XState) -> Starlette:
    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header == f"Bearer {state.bearer}":
            state.auth_seen.append("bearer")
            return True
        if not header.startswith("OAuth "):
            return False
        fields = dict(
            (k, unquote(v)) for k, v in re.findall(r'(\w+)="([^"]*)"', header[len("OAuth ") :])
        )
        given = fields.pop("oauth_signature", "")
        if fields.get("oauth_consumer_key") != SECRETS["consumer_key"]:
            return False
        if fields.get("oauth_token") != SECRETS["access_token"]:
            return False
        if abs(int(fields.get("oauth_timestamp", "0")) - time.time()) > 300:
            return False
        if fields["oauth_nonce"] in state.nonces:
            return False
        params = [*request.query_params.multi_items(), *fields.items()]
        norm = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in params))
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        base = f"{request.method}&{_enc(url)}&{_enc(norm)}"
        key = f"{_enc(SECRETS['consumer_secret'])}&{_enc(SECRETS['access_token_secret'])}"
        want = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest())
        if not hmac.compare_digest(want.decode(), given):
            return False
        state.nonces.add(fields["oauth_nonce"])
        state.auth_seen.append("oauth1")
        return True

    def unauthorized() -> Response:
        return _problem(401, "Unauthorized", "Unauthorized")

    async def create_tweet(request: Request) -> Response:
        if not authorised(request):
            return unauthorized()
        if state.rate_limited:
            reset = str(int(time.time()) + 900)
            return _problem(
                429, "Too Many Requests", "Too Many Requests", {"x-rate-limit-reset": reset}
            )
        body = await request.json()
        text = body.get("text", "")
        if _weighted(text) > 280:
            return JSONResponse(
                {
                    "errors": [{"message": "Your Tweet text is too long."}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                status_code=400,
            )
        if any(t["text"] == text for t in state.tweets):
            return _problem(
                403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
            )
        for mid in body.get("media", {}).get("media_ids", []):
            if mid not in state.media:
                return _problem(400, "Invalid Request", f"media id {mid} not found")
        tid = str(1860000000000000000 + len(state.tweets))
        state.tweets.append({"id": tid, "text": text, "media": body.get("media")})
        return JSONResponse({"data": {"id": tid, "text": text}}, status_code=201)

    async def upload(request: Request) -> Response:
        if not authorised(request):
            return unauthorized()
        parts = await multipart(request)
        if parts.get("media_category", (None, "", b""))[2] != b"tweet_image":
            return _problem(400, "Invalid Request", "media_category must be tweet_image")
        mid = str(1870000000000000000 + len(state.media))
        state.media[mid] = len(parts["media"][2])
        return JSONResponse({"data": {"id": mid, "media_key": f"3_{mid}"}})

    async def mentions(request: Request) -> Response:
        if not authorised(request):
            return unauthorized()
        if request.path_params["uid"] != state.user_id:
            return _problem(403, "Forbidden", "not your user")
        q = request.query_params
        limit = int(q.get("max_results", "10"))
        items = list(reversed(state.mentions))
        if "since_id" in q:
            items = [t for t in items if int(t["id"]) > int(q["since_id"])]
        start = int(q.get("pagination_token", "0"))
        page = items[start : start + limit]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if start + limit < len(items):
            meta["next_token"] = str(start + limit)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            ids = {t["author_id"] for t in page}
            body["includes"] = {
                "users": [{"id": i, "username": f"user{i}", "name": f"User {i}"} for i in ids]
            }
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route("/2/tweets", create_tweet, methods=["POST"]),
            Route("/2/media/upload", upload, methods=["POST"]),
            Route("/2/users/{uid}/mentions", mentions),
        ]
    )


def mention(i: int, author: str, reply_to: str | None = None) -> dict[str, Any]:
    """Return a mention as the API shows it."""
    t: dict[str, Any] = {
        "id": str(1900000000000000000 + i),
        "text": f"@brand hello {i}",
        "author_id": author,
        "created_at": f"2026-11-22T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        "entities": {"mentions": [{"start": 0, "end": 6, "username": "brand", "id": "1234"}]},
    }
    if reply_to:
        t["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
    return t
