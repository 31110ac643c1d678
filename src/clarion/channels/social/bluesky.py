"""Bluesky: post records to an AT Protocol PDS and read notifications.

Contract (https://docs.bsky.app/docs/advanced-guides/posts,
https://docs.bsky.app/docs/api/com-atproto-server-create-session,
https://docs.bsky.app/docs/api/com-atproto-repo-create-record,
https://docs.bsky.app/docs/api/app-bsky-notification-list-notifications,
https://docs.bsky.app/docs/advanced-guides/rate-limits):

- ``com.atproto.server.createSession`` with the handle and an *app password* returns
  ``accessJwt``/``refreshJwt``/``did``; an expired access token is refused with
  ``{"error": "ExpiredToken"}`` and renewed by ``com.atproto.server.refreshSession`` (bearer:
  the refresh token), then the call is tried once more.
- A post is an ``app.bsky.feed.post`` record (``text``, ``createdAt``, ``langs``) written by
  ``com.atproto.repo.createRecord``. Links and hashtags are not parsed from the text by the
  network: they are *facets* whose ``byteStart``/``byteEnd`` index the UTF-8 bytes of the text
  (not characters), so a link after an emoji or CJK text still lands on the right span.
- Images are uploaded raw with ``com.atproto.repo.uploadBlob`` and referenced by the returned
  blob in an ``app.bsky.embed.images`` embed (at most 4, 1,000,000 bytes each).
- ``app.bsky.notification.listNotifications`` pages newest first (``cursor`` goes back in
  time), so a poll reads back until it meets what it saw last; our cursor is the newest
  ``indexedAt`` seen.
- 300 graphemes per post; 429 with ``ratelimit-reset`` (epoch seconds).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from clarion.channels.social._http import client, json_body, parse_time, seconds_until
from clarion.channels.social.base import (
    URL_RE,
    Activity,
    ActivityKind,
    PlatformError,
    PostLimits,
    Published,
    SocialPost,
)

LIMITS = PostLimits(
    max_length=300,
    length_rule="graphemes",
    max_images=4,
    image_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
    max_image_bytes=1_000_000,
)
KINDS: dict[str, ActivityKind] = {
    "mention": "mention",
    "reply": "reply",
    "quote": "mention",
    "follow": "follow",
    "repost": "share",
    "like": "like",
}
TAG_RE = re.compile(r"(?:^|\s)(#[^\d\s#][^\s#]*)")


def facets(text: str) -> list[dict[str, Any]]:
    """Return link and hashtag facets of ``text`` with UTF-8 byte offsets."""

    def span(start: int, end: int) -> dict[str, int]:
        return {
            "byteStart": len(text[:start].encode("utf-8")),
            "byteEnd": len(text[:end].encode("utf-8")),
        }

    out: list[dict[str, Any]] = []
    for m in URL_RE.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        out.append(
            {
                "index": span(m.start(), m.start() + len(url)),
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    for m in TAG_RE.finditer(text):
        tag = m.group(1).rstrip(".,;:!?")
        out.append(
            {
                "index": span(m.start(1), m.start(1) + len(tag)),
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag[1:]}],
            }
        )
    return sorted(out, key=lambda f: f["index"]["byteStart"])


class BlueskyAdapter:
    """One Bluesky account, logged in with an app password."""

    platform = "bluesky"
    SETTINGS: tuple[str, ...] = ("identifier",)
    OPTIONAL: tuple[str, ...] = ("base_url", "langs")
    SECRETS: tuple[str, ...] = ("app_password",)
    idempotent = False
    limits = LIMITS

    def __init__(
        self,
        account: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.identifier = str(settings["identifier"])
        self.langs = list(settings.get("langs") or [])
        self._password = str(secrets["app_password"])
        self._http = client(str(settings.get("base_url") or "https://bsky.social"), transport)
        self._session: dict[str, Any] | None = None

    @staticmethod
    def limits_for(settings: dict[str, Any]) -> PostLimits:
        """Return Bluesky's limits (the same for every account)."""
        return LIMITS

    async def _login(self) -> dict[str, Any]:
        resp = await self._http.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": self.identifier, "password": self._password},
        )
        self._raise_for(resp)
        self._session = json_body(resp)
        return self._session

    async def _refresh(self, session: dict[str, Any]) -> dict[str, Any]:
        resp = await self._http.post(
            "/xrpc/com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {session['refreshJwt']}"},
        )
        if resp.status_code >= 400:  # the refresh token expired too: log in again
            return await self._login()
        self._session = {**session, **json_body(resp)}
        return self._session

    async def _call(self, method: str, nsid: str, **kw: Any) -> dict[str, Any]:
        """Call XRPC method ``nsid`` with the session, refreshing it once when it expired."""
        session = self._session or await self._login()
        extra = dict(kw.pop("headers", {}))
        resp = await self._send(method, nsid, session, extra, kw)
        expired = json_body(resp).get("error") in ("ExpiredToken", "InvalidToken")
        if resp.status_code in (400, 401) and expired:
            session = await self._refresh(session)
            resp = await self._send(method, nsid, session, extra, kw)
        self._raise_for(resp)
        return json_body(resp)

    async def _send(
        self,
        method: str,
        nsid: str,
        session: dict[str, Any],
        headers: dict[str, str],
        kw: dict[str, Any],
    ) -> httpx.Response:
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        return await self._http.request(method, f"/xrpc/{nsid}", headers=headers | auth, **kw)

    async def publish(self, post: SocialPost) -> Published:
        """Upload images as blobs, then create an ``app.bsky.feed.post`` record."""
        text = post.full_text()
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if self.langs:
            record["langs"] = self.langs
        found = facets(text)
        if found:
            record["facets"] = found
        if post.images:
            images = []
            for img in post.images:
                blob = await self._call(
                    "POST",
                    "com.atproto.repo.uploadBlob",
                    content=img.data,
                    headers={"Content-Type": img.mime_type},
                )
                images.append({"alt": img.alt, "image": blob["blob"]})
            record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
        session = self._session or await self._login()
        body = await self._call(
            "POST",
            "com.atproto.repo.createRecord",
            json={"repo": session["did"], "collection": "app.bsky.feed.post", "record": record},
        )
        uri = str(body["uri"])
        handle = (self._session or session).get("handle", self.identifier)
        return Published(
            platform=self.platform,
            account=self.account,
            post_id=uri,
            url=f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}",
            at=datetime.now(UTC),
        )

    async def fetch_activity(self, cursor: str | None) -> tuple[list[Activity], str | None]:
        """Read notifications back from the newest until ``cursor`` (an ``indexedAt``)."""
        seen = parse_time(cursor) if cursor else None
        out: list[Activity] = []
        newest = cursor
        page_cursor: str | None = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": 50}
            if page_cursor:
                params["cursor"] = page_cursor
            body = await self._call("GET", "app.bsky.notification.listNotifications", params=params)
            done = False
            for n in body.get("notifications", []):
                at = parse_time(n.get("indexedAt"))
                if seen is not None and at <= seen:
                    done = True
                    break
                if newest is None or at > parse_time(newest):
                    newest = n.get("indexedAt")
                act = self._activity(n)
                if act is not None:
                    out.append(act)
            page_cursor = body.get("cursor")
            # Without a stored cursor the first page is enough: we start from now.
            if done or not page_cursor or seen is None:
                break
        out.sort(key=lambda a: a.at)
        return out, newest

    def _activity(self, n: dict[str, Any]) -> Activity | None:
        kind = KINDS.get(str(n.get("reason")))
        if kind is None:
            return None
        author = n.get("author") or {}
        record = n.get("record") or {}
        text = record.get("text") if kind in ("mention", "reply") else None
        mentions = tuple(
            str(f.get("did"))
            for facet in record.get("facets", [])
            for f in facet.get("features", [])
            if f.get("$type") == "app.bsky.richtext.facet#mention"
        )
        parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
        return Activity(
            platform=self.platform,
            account=self.account,
            kind=kind,
            activity_id=str(n["uri"]),
            author_id=str(author.get("did", "")),
            author_handle=str(author.get("handle", "")),
            author_name=author.get("displayName") or None,
            at=parse_time(n.get("indexedAt")),
            text=text,
            post_id=n.get("reasonSubject") if kind in ("share", "like") else None,
            in_reply_to=parent,
            mentions=mentions,
            raw=n,
        )

    def _raise_for(self, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        body = json_body(resp)
        error = str(body.get("error") or f"http_{resp.status_code}")
        message = str(body.get("message") or resp.text[:200])
        if resp.status_code == 429:
            raise PlatformError(
                self.platform,
                "rate_limited",
                message,
                retry=True,
                retry_after=seconds_until(resp.headers.get("ratelimit-reset")),
                status=429,
            )
        if error in ("AuthenticationRequired", "ExpiredToken", "InvalidToken"):
            raise PlatformError(self.platform, "auth", message, status=resp.status_code)
        retry = resp.status_code >= 500
        raise PlatformError(self.platform, error, message, retry=retry, status=resp.status_code)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
