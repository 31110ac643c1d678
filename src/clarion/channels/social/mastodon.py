"""Mastodon: post statuses and read notifications through an instance's REST API.

Contract (https://docs.joinmastodon.org/methods/statuses/#create,
https://docs.joinmastodon.org/methods/media/#v2, https://docs.joinmastodon.org/methods/notifications/,
https://docs.joinmastodon.org/methods/instance/#v2, https://docs.joinmastodon.org/api/rate-limits/):

- ``POST /api/v1/statuses`` with ``Authorization: Bearer <token>``, form field ``status`` and
  ``media_ids[]``; the ``Idempotency-Key`` header makes the instance return the first status
  again for a repeated key (kept an hour), so a post retried after a crash is not posted twice.
- ``POST /api/v2/media`` (multipart ``file``, ``description``): 200 when processed, 202 while
  processing (then ``GET /api/v1/media/:id`` until its ``url`` is set).
- ``GET /api/v1/notifications`` with ``types[]`` and ``min_id``: the page immediately newer
  than the cursor, newest first; the ``Link`` header's ``rel="prev"`` continues forward.
- Errors are ``{"error": "..."}``: 401 bad token, 422 validation (too long, bad media), 429 with
  ``X-RateLimit-Reset`` (ISO 8601).
- Length: characters, every URL 23 (``configuration.statuses.max_characters`` and
  ``characters_reserved_per_url`` of ``GET /api/v2/instance``; 500 by default).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from clarion.channels.social._http import client, json_body, parse_time, seconds_until
from clarion.channels.social.base import (
    Activity,
    ActivityKind,
    PlatformError,
    PostLimits,
    Published,
    SocialPost,
)

DEFAULT_LIMITS = PostLimits(max_length=500, length_rule="chars_urls_23", max_images=4)

#: How long an instance's limits are trusted before ``GET /api/v2/instance`` is read again.
#: Limits change when an admin reconfigures the instance, i.e. rarely; reading them before every
#: post doubled the requests a publish made and counted against the account's rate limit.
INSTANCE_LIMITS_TTL_S = 600.0
#: Instance base URL -> (read at, monotonic; its limits), shared by every account on it.
_instance_limits: dict[str, tuple[float, PostLimits]] = {}
#: Notification type -> activity kind (the others, like ``poll`` or ``update``, are not ours).
KINDS: dict[str, ActivityKind] = {
    "mention": "mention",
    "follow": "follow",
    "reblog": "share",
    "favourite": "like",
}


class MastodonAdapter:
    """One Mastodon account on one instance."""

    platform = "mastodon"
    SETTINGS: tuple[str, ...] = ()
    OPTIONAL: tuple[str, ...] = ("base_url", "visibility", "max_characters")
    SECRETS: tuple[str, ...] = ("access_token",)
    #: The instance honours ``Idempotency-Key``: a claimed post may be retried after a crash.
    idempotent = True

    def __init__(
        self,
        account: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.visibility = str(settings.get("visibility") or "public")
        self.limits = self.limits_for(settings)
        self.base_url = str(settings.get("base_url") or "https://mastodon.social")
        self._http = client(
            self.base_url,
            transport,
            headers={"Authorization": f"Bearer {secrets['access_token']}"},
        )

    @staticmethod
    def limits_for(settings: dict[str, Any]) -> PostLimits:
        """Return the limits an account's settings imply (the instance may say otherwise)."""
        max_chars = int(settings.get("max_characters") or DEFAULT_LIMITS.max_length)
        return PostLimits(max_length=max_chars, length_rule="chars_urls_23", max_images=4)

    async def load_limits(self) -> PostLimits:
        """Use the instance's own limits (``GET /api/v2/instance``), read at most every
        ``INSTANCE_LIMITS_TTL_S`` per instance."""
        cached = _instance_limits.get(self.base_url)
        if cached is not None and time.monotonic() - cached[0] < INSTANCE_LIMITS_TTL_S:
            self.limits = cached[1]
            return self.limits
        resp = await self._http.get("/api/v2/instance")
        self._raise_for(resp)
        conf = json_body(resp).get("configuration", {})
        statuses = conf.get("statuses", {})
        media = conf.get("media_attachments", {})
        self.limits = PostLimits(
            max_length=int(statuses.get("max_characters", self.limits.max_length)),
            length_rule="chars_urls_23",
            max_images=int(statuses.get("max_media_attachments", 4)),
            image_types=tuple(
                t for t in media.get("supported_mime_types", []) if t.startswith("image/")
            )
            or self.limits.image_types,
            max_image_bytes=int(media.get("image_size_limit", self.limits.max_image_bytes)),
        )
        _instance_limits[self.base_url] = (time.monotonic(), self.limits)
        return self.limits

    async def publish(self, post: SocialPost) -> Published:
        """Upload the images, then post the status with our idempotency key."""
        media_ids = [await self._upload(img.data, img.mime_type, img.alt) for img in post.images]
        data: list[tuple[str, str]] = [
            ("status", post.full_text()),
            ("visibility", self.visibility),
        ] + [("media_ids[]", m) for m in media_ids]
        headers = {"Idempotency-Key": post.idempotency_key} if post.idempotency_key else {}
        resp = await self._http.post("/api/v1/statuses", data=dict_multi(data), headers=headers)
        self._raise_for(resp)
        body = json_body(resp)
        return Published(
            platform=self.platform,
            account=self.account,
            post_id=str(body["id"]),
            url=body.get("url"),
            at=parse_time(body.get("created_at")),
        )

    async def _upload(self, data: bytes, mime_type: str, alt: str) -> str:
        resp = await self._http.post(
            "/api/v2/media",
            files={"file": ("image", data, mime_type)},
            data={"description": alt} if alt else None,
        )
        self._raise_for(resp)
        body = json_body(resp)
        media_id = str(body["id"])
        # 202: still processing; a status may only attach it once its url is set.
        for _ in range(30):
            if resp.status_code != 202 and body.get("url"):
                break
            await asyncio.sleep(0.5)
            resp = await self._http.get(f"/api/v1/media/{media_id}")
            if resp.status_code not in (200, 206):
                self._raise_for(resp)
            body = json_body(resp)
            if resp.status_code == 200 and body.get("url"):
                break
        return media_id

    async def fetch_activity(self, cursor: str | None) -> tuple[list[Activity], str | None]:
        """Return notifications newer than ``cursor`` (a notification id), oldest first."""
        params: list[tuple[str, str | int | float | bool | None]] = [("limit", 40)]
        params.extend(("types[]", t) for t in KINDS)
        if cursor:
            params.append(("min_id", cursor))
        out: list[Activity] = []
        url: str | None = "/api/v1/notifications"
        newest = cursor
        for _ in range(25):  # at most 1,000 notifications a pass; the cursor keeps the rest
            if url is None:
                break
            query = httpx.QueryParams(params) if url.startswith("/") else None
            resp = await self._http.get(url, params=query)
            self._raise_for(resp)
            page = resp.json()
            if not page:
                break
            out.extend(a for a in (self._activity(n) for n in reversed(page)) if a is not None)
            newest = str(page[0]["id"])
            url = resp.links.get("prev", {}).get("url")
        return out, newest

    def _activity(self, n: dict[str, Any]) -> Activity | None:
        kind = KINDS.get(str(n.get("type")))
        if kind is None:
            return None
        who = n.get("account") or {}
        status = n.get("status") or {}
        if kind == "mention" and status.get("in_reply_to_id"):
            kind = "reply"
        mentions = tuple(str(m.get("acct")) for m in status.get("mentions", []) if m.get("acct"))
        return Activity(
            platform=self.platform,
            account=self.account,
            kind=kind,
            activity_id=str(n["id"]),
            author_id=str(who.get("id", "")),
            author_handle=str(who.get("acct", "")),
            author_name=who.get("display_name") or None,
            at=parse_time(n.get("created_at")),
            text=status.get("content") if kind in ("mention", "reply") else None,
            post_id=str(status["id"]) if kind in ("share", "like") and status.get("id") else None,
            in_reply_to=status.get("in_reply_to_id"),
            mentions=mentions,
            raw=n,
        )

    def _raise_for(self, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        message = str(json_body(resp).get("error") or resp.text[:200])
        status = resp.status_code
        if status == 429:
            raise PlatformError(
                self.platform,
                "rate_limited",
                message,
                retry=True,
                retry_after=seconds_until(resp.headers.get("x-ratelimit-reset")),
                status=status,
            )
        if status == 401:
            raise PlatformError(self.platform, "auth", message, status=status)
        if status == 422:
            code = "too_long" if "character limit" in message.lower() else "invalid"
            raise PlatformError(self.platform, code, message, status=status)
        raise PlatformError(
            self.platform, f"http_{status}", message, retry=status >= 500, status=status
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def dict_multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Return repeated form fields (``media_ids[]``) in the shape httpx encodes as repeats."""
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out
