"""Weibo: share a status with ``statuses/share.json``; read mentions and comments to us.

Contract (https://open.weibo.com/wiki/2/statuses/share, https://open.weibo.com/wiki/2/statuses/mentions,
https://open.weibo.com/wiki/2/comments/to_me, https://open.weibo.com/wiki/Error_code):

- Every call carries the user's OAuth 2.0 ``access_token`` as a parameter.
- ``POST 2/statuses/share.json``: ``status`` (the text) must contain a link on the app's
  registered *safe domain*; an optional single image as the multipart field ``pic``.
- Errors are ``{"error", "error_code", "request"}``: 21327 token expired and 21332/21501
  invalid token (the user must authorise again: tokens are not refreshed), 20019 repeated
  content, 20012 text too long, 10022/10023/10024 rate limits (reset on the hour).
- ``2/statuses/mentions.json`` and ``2/comments/to_me.json`` page newest first by ``page`` and
  take ``since_id``; our cursor keeps the newest id of each as ``m:<id>,c:<id>``.
- Times look like ``Sun Nov 22 10:00:00 +0800 2026``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from clarion.channels.social._http import client, json_body
from clarion.channels.social.base import (
    Activity,
    ActivityKind,
    PlatformError,
    PostLimits,
    Published,
    SocialPost,
)

RATE_CODES = {10022, 10023, 10024, 20016}
AUTH_CODES = {21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332, 21501}
CODES = {20019: "duplicate", 20012: "too_long", 20017: "duplicate", 20003: "auth"}
PAGE = 200


def parse_weibo_time(value: str | None) -> datetime:
    """Return an aware datetime from Weibo's ``Sun Nov 22 10:00:00 +0800 2026``."""
    if value:
        try:
            return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            pass
    return datetime.now(UTC)


def _cursor(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        key, _, ident = part.partition(":")
        if ident:
            out[key] = ident
    return out


class WeiboAdapter:
    """One Weibo account of an app with a registered safe domain."""

    platform = "weibo"
    SETTINGS: tuple[str, ...] = ("safe_domain",)
    OPTIONAL: tuple[str, ...] = ("base_url", "uid")
    SECRETS: tuple[str, ...] = ("access_token",)
    idempotent = False

    def __init__(
        self,
        account: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.limits = self.limits_for(settings)
        self._token = str(secrets["access_token"])
        self._http = client(str(settings.get("base_url") or "https://api.weibo.com"), transport)

    @staticmethod
    def limits_for(settings: dict[str, Any]) -> PostLimits:
        """Return the limits: 2,000 characters, one image, a link on the safe domain."""
        return PostLimits(
            max_length=2000,
            length_rule="chars",
            max_images=1,
            image_types=("image/jpeg", "image/png", "image/gif"),
            max_image_bytes=5 * 1024 * 1024,
            link_domains=(str(settings["safe_domain"]).lower(),),
            link_required=True,
        )

    async def publish(self, post: SocialPost) -> Published:
        """Share the status (with its picture, if any)."""
        data = {"access_token": self._token, "status": post.full_text()}
        if post.images:
            img = post.images[0]
            resp = await self._http.post(
                "/2/statuses/share.json",
                data=data,
                files={"pic": ("pic", img.data, img.mime_type)},
            )
        else:
            resp = await self._http.post("/2/statuses/share.json", data=data)
        body = self._check(resp)
        sid = str(body.get("idstr") or body["id"])
        uid = (body.get("user") or {}).get("idstr") or (body.get("user") or {}).get("id")
        return Published(
            platform=self.platform,
            account=self.account,
            post_id=sid,
            url=f"https://weibo.com/{uid}/{body.get('mid', sid)}" if uid else None,
            at=parse_weibo_time(body.get("created_at")),
        )

    async def _pages(self, path: str, key: str, since: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, 11):
            params: dict[str, Any] = {"access_token": self._token, "count": PAGE, "page": page}
            if since:
                params["since_id"] = since
            got = self._check(await self._http.get(path, params=params)).get(key, [])
            items.extend(got)
            # Without a cursor one page is enough: listening starts from now.
            if len(got) < PAGE or since is None:
                break
        return items

    async def fetch_activity(self, cursor: str | None) -> tuple[list[Activity], str | None]:
        """Return mentions and comments newer than the cursor, oldest first."""
        pos = _cursor(cursor)
        mentions = await self._pages("/2/statuses/mentions.json", "statuses", pos.get("m"))
        comments = await self._pages("/2/comments/to_me.json", "comments", pos.get("c"))
        out = [self._activity(s, "mention") for s in mentions]
        out += [self._activity(c, "comment") for c in comments]
        if mentions:
            pos["m"] = str(max(int(s["id"]) for s in mentions))
        if comments:
            pos["c"] = str(max(int(c["id"]) for c in comments))
        out.sort(key=lambda a: a.at)
        nxt = ",".join(f"{k}:{v}" for k, v in sorted(pos.items())) or cursor
        return out, nxt

    def _activity(self, item: dict[str, Any], kind: ActivityKind) -> Activity:
        user = item.get("user") or {}
        status = item.get("status") or {}
        replied = (item.get("reply_comment") or {}).get("idstr")
        if kind == "comment" and replied:
            kind = "reply"
        return Activity(
            platform=self.platform,
            account=self.account,
            kind=kind,
            activity_id=f"{'s' if kind == 'mention' else 'c'}{item.get('idstr') or item['id']}",
            author_id=str(user.get("idstr") or user.get("id", "")),
            author_handle=str(user.get("screen_name", "")),
            author_name=user.get("name"),
            at=parse_weibo_time(item.get("created_at")),
            text=item.get("text"),
            post_id=str(status.get("idstr") or status["id"]) if status.get("id") else None,
            in_reply_to=replied,
            raw=item,
        )

    def _check(self, resp: httpx.Response) -> dict[str, Any]:
        body = json_body(resp)
        code = body.get("error_code")
        if resp.status_code < 400 and code is None:
            return body
        message = str(body.get("error") or resp.text[:200])
        try:
            num = int(code or 0)
        except (TypeError, ValueError):
            num = 0
        if num in RATE_CODES:
            now = datetime.now(UTC)
            hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            raise PlatformError(
                self.platform,
                "rate_limited",
                message,
                retry=True,
                retry_after=(hour - now).total_seconds(),
                status=resp.status_code,
            )
        if num in AUTH_CODES:
            raise PlatformError(self.platform, "auth", f"{num} {message}", status=resp.status_code)
        name = CODES.get(num, f"weibo_{num}" if num else f"http_{resp.status_code}")
        retry = resp.status_code >= 500 or num in (10001, 10009)  # system error, task too busy
        raise PlatformError(
            self.platform, name, f"{num} {message}", retry=retry, status=resp.status_code
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
