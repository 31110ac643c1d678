"""A Bluesky PDS as the AT Protocol docs describe it: sessions, blobs, records, notifications.

Sessions are JWTs signed here (HS256) carrying the DID, scope and expiry, and every call
checks them: an expired access token gets ``400 {"error": "ExpiredToken"}`` as a PDS answers.
Records are validated the way the app view reads them: facets must cover the UTF-8 bytes of
exactly the URL they claim. Notifications page newest first with an opaque cursor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY = b"pds-test-signing-key"
DID = "did:plc:brand123"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(hmac.new(KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def verify(token: str) -> dict[str, Any] | None:
    try:
        head, body, sig = token.split(".")
    except ValueError:
        return None
    want = _b64(hmac.new(KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, want):
        return None
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return claims


@dataclass
class BlueskyState:
    handle: str = "brand.example.com"
    password: str = "abcd-efgh-ijkl-mnop"
    access_ttl: float = 3600
    logins: int = 0
    refreshes: int = 0
    rate_limited: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    problems: list[str] = field(default_factory=list)  # contract breaches seen


def _err(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def app(state: BlueskyState) -> Starlette:
    def tokens() -> dict[str, Any]:
        now = time.time()
        return {
            "did": DID,
            "handle": state.handle,
            "accessJwt": jwt(
                {"scope": "com.atproto.access", "sub": DID, "exp": now + state.access_ttl}
            ),
            "refreshJwt": jwt({"scope": "com.atproto.refresh", "sub": DID, "exp": now + 86400}),
        }

    def check(request: Request, scope: str = "com.atproto.access") -> Response | None:
        auth = request.headers.get("authorization", "")
        claims = verify(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if claims is None or claims.get("scope") != scope:
            return _err(401, "AuthenticationRequired", "Invalid identifier or password")
        if claims["exp"] < time.time():
            return _err(400, "ExpiredToken", "Token has expired")
        return None

    async def create_session(request: Request) -> Response:
        body = await request.json()
        if body.get("identifier") != state.handle or body.get("password") != state.password:
            return _err(401, "AuthenticationRequired", "Invalid identifier or password")
        state.logins += 1
        return JSONResponse(tokens())

    async def refresh_session(request: Request) -> Response:
        if (bad := check(request, "com.atproto.refresh")) is not None:
            return bad
        state.refreshes += 1
        return JSONResponse(tokens())

    async def upload_blob(request: Request) -> Response:
        if (bad := check(request)) is not None:
            return bad
        data = await request.body()
        if len(data) > 1_000_000:
            return _err(400, "BlobTooLarge", "This file is too large")
        cid = "bafkrei" + hashlib.sha256(data).hexdigest()[:40]
        state.blobs[cid] = data
        blob = {
            "$type": "blob",
            "ref": {"$link": cid},
            "mimeType": request.headers.get("content-type"),
            "size": len(data),
        }
        return JSONResponse({"blob": blob})

    async def create_record(request: Request) -> Response:
        if (bad := check(request)) is not None:
            return bad
        if state.rate_limited:
            reset = str(int(time.time()) + 300)
            return _err(429, "RateLimitExceeded", "Rate Limit Exceeded", {"ratelimit-reset": reset})
        body = await request.json()
        record = body.get("record", {})
        if body.get("repo") != DID or body.get("collection") != "app.bsky.feed.post":
            return _err(400, "InvalidRequest", "repo or collection wrong")
        if not record.get("createdAt") or "text" not in record:
            return _err(400, "InvalidRequest", "Record/createdAt must be a datetime")
        text_bytes = record["text"].encode("utf-8")
        for facet in record.get("facets", []):
            idx, feat = facet["index"], facet["features"][0]
            span = text_bytes[idx["byteStart"] : idx["byteEnd"]].decode("utf-8", "replace")
            want = feat.get("uri") or "#" + feat.get("tag", "")
            if span != want:
                state.problems.append(f"facet {idx} covers {span!r}, not {want!r}")
        for img in (record.get("embed") or {}).get("images", []):
            if img["image"]["ref"]["$link"] not in state.blobs:
                return _err(400, "InvalidRequest", "blob not found")
        rkey = f"3k{len(state.records):08d}"
        state.records.append(record)
        return JSONResponse(
            {"uri": f"at://{DID}/app.bsky.feed.post/{rkey}", "cid": "bafyrei" + rkey}
        )

    async def list_notifications(request: Request) -> Response:
        if (bad := check(request)) is not None:
            return bad
        limit = int(request.query_params.get("limit", "50"))
        start = int(request.query_params.get("cursor", "0"))
        newest_first = list(reversed(state.notifications))
        page = newest_first[start : start + limit]
        body: dict[str, Any] = {"notifications": page}
        if start + limit < len(newest_first):
            body["cursor"] = str(start + limit)
        return JSONResponse(body)

    x = "/xrpc/"
    return Starlette(
        routes=[
            Route(x + "com.atproto.server.createSession", create_session, methods=["POST"]),
            Route(x + "com.atproto.server.refreshSession", refresh_session, methods=["POST"]),
            Route(x + "com.atproto.repo.uploadBlob", upload_blob, methods=["POST"]),
            Route(x + "com.atproto.repo.createRecord", create_record, methods=["POST"]),
            Route(x + "app.bsky.notification.listNotifications", list_notifications),
        ]
    )


def notification(i: int, reason: str, handle: str, text: str | None = None) -> dict[str, Any]:
    """Return a notification as listNotifications shows it."""
    n: dict[str, Any] = {
        "uri": f"at://did:plc:{handle}/app.bsky.feed.post/n{i}",
        "cid": f"bafy{i}",
        "author": {"did": f"did:plc:{handle}", "handle": f"{handle}.bsky.social"},
        "reason": reason,
        "record": {"$type": "app.bsky.feed.post", "text": text or ""},
        "isRead": False,
        "indexedAt": f"2026-11-22T10:{i // 60:02d}:{i % 60:02d}.000Z",
    }
    if reason in ("like", "repost"):
        n["reasonSubject"] = f"at://{DID}/app.bsky.feed.post/3k00000000"
    return n
