"""X: post with ``POST /2/tweets`` and read mentions with ``GET /2/users/:id/mentions``.

Contract (https://docs.x.com/x-api/posts/create-post,
https://docs.x.com/x-api/media/media-upload,
https://docs.x.com/x-api/posts/user-mention-timeline-by-user-id,
https://docs.x.com/fundamentals/authentication/oauth-1-0a/authorizing-a-request,
https://docs.x.com/x-api/fundamentals/rate-limits, https://docs.x.com/x-api/fundamentals/response-codes-and-errors):

- User context by OAuth 1.0a (consumer key/secret + access token/secret, HMAC-SHA1 signed,
  see :mod:`clarion.channels.social.oauth1`) or an OAuth 2.0 user access token (Bearer).
- ``POST /2/tweets`` JSON ``{"text", "media": {"media_ids"}}`` -> 201 ``{"data": {"id"}}``;
  images first through ``POST /2/media/upload`` (multipart ``media``, ``media_category``).
- Errors are problem documents (``title``, ``detail``, ``status``): 401 bad credentials, 403
  with "duplicate content", 400 invalid (a too long text), 429 with ``x-rate-limit-reset``
  (epoch seconds).
- Mentions page newest first: ``since_id`` bounds the read, ``meta.next_token`` goes further
  back as ``pagination_token``; ``meta.newest_id`` of the first page is the next cursor.
- 280 weighted characters: CJK and emoji count two, every URL 23 (t.co).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from clarion.channels.social import oauth1
from clarion.channels.social._http import client, json_body, parse_time, seconds_until
from clarion.channels.social.base import (
    Activity,
    PlatformError,
    PostLimits,
    Published,
    SocialPost,
)

LIMITS = PostLimits(
    max_length=280,
    length_rule="x_weighted",
    max_images=4,
    image_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
    max_image_bytes=5_000_000,
)
OAUTH1 = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


class XAdapter:
    """One X account, signing as its user."""

    platform = "x"
    SETTINGS: tuple[str, ...] = ("user_id",)
    OPTIONAL: tuple[str, ...] = ("base_url", "username")
    SECRETS: tuple[str, ...] = (*OAUTH1, "bearer_token")
    REQUIRED_SECRETS: tuple[str, ...] = ()
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
        problem = self.check_secrets(secrets)
        if problem:
            raise ValueError(problem)
        self.account = account
        self.user_id = str(settings["user_id"])
        self.username = str(settings.get("username") or "i")
        self._secrets = {k: str(v) for k, v in secrets.items()}
        self._http = client(str(settings.get("base_url") or "https://api.x.com"), transport)

    @staticmethod
    def limits_for(settings: dict[str, Any]) -> PostLimits:
        """Return X's limits (the same for every account)."""
        return LIMITS

    @staticmethod
    def check_secrets(secrets: dict[str, Any]) -> str | None:
        """Return what is missing: all four OAuth 1.0a secrets, or a bearer token."""
        if secrets.get("bearer_token") or all(secrets.get(k) for k in OAUTH1):
            return None
        return f"x account needs bearer_token, or all of {', '.join(OAUTH1)}"

    def _auth(self, method: str, url: str, params: list[tuple[str, str]]) -> str:
        if all(self._secrets.get(k) for k in OAUTH1):
            return oauth1.authorization(
                method,
                url,
                params,
                consumer_key=self._secrets["consumer_key"],
                consumer_secret=self._secrets["consumer_secret"],
                token=self._secrets["access_token"],
                token_secret=self._secrets["access_token_secret"],
            )
        return f"Bearer {self._secrets['bearer_token']}"

    async def _request(
        self, method: str, path: str, params: list[tuple[str, str]] | None = None, **kw: Any
    ) -> httpx.Response:
        query: list[tuple[str, str | int | float | bool | None]] = list(params or [])
        url = str(self._http.base_url.join(path))
        headers = {"Authorization": self._auth(method, url, list(params or []))}
        resp = await self._http.request(method, path, params=query or None, headers=headers, **kw)
        self._raise_for(resp)
        return resp

    async def publish(self, post: SocialPost) -> Published:
        """Upload the images, then create the post."""
        media_ids = []
        for img in post.images:
            resp = await self._request(
                "POST",
                "/2/media/upload",
                files={"media": ("image", img.data, img.mime_type)},
                data={"media_category": "tweet_image", "media_type": img.mime_type},
            )
            media_ids.append(str(json_body(resp)["data"]["id"]))
        payload: dict[str, Any] = {"text": post.full_text()}
        if media_ids:
            payload["media"] = {"media_ids": media_ids}
        resp = await self._request("POST", "/2/tweets", json=payload)
        tweet_id = str(json_body(resp)["data"]["id"])
        return Published(
            platform=self.platform,
            account=self.account,
            post_id=tweet_id,
            url=f"https://x.com/{self.username}/status/{tweet_id}",
            at=datetime.now(UTC),
        )

    async def fetch_activity(self, cursor: str | None) -> tuple[list[Activity], str | None]:
        """Return mentions newer than ``cursor`` (a post id), oldest first."""
        base = [
            ("max_results", "100"),
            ("tweet.fields", "created_at,author_id,in_reply_to_user_id,referenced_tweets,entities"),
            ("expansions", "author_id"),
            ("user.fields", "username,name"),
        ]
        if cursor:
            base.append(("since_id", cursor))
        out: list[Activity] = []
        newest = cursor
        token: str | None = None
        for page in range(10):
            params = base + ([("pagination_token", token)] if token else [])
            body = json_body(
                await self._request("GET", f"/2/users/{self.user_id}/mentions", params)
            )
            meta = body.get("meta", {})
            if page == 0 and meta.get("newest_id"):
                newest = str(meta["newest_id"])
            users = {u["id"]: u for u in body.get("includes", {}).get("users", [])}
            out.extend(self._activity(t, users) for t in body.get("data", []))
            token = meta.get("next_token")
            # Without a cursor the first page is enough: listening starts from now.
            if not token or cursor is None:
                break
        out.sort(key=lambda a: int(a.activity_id))
        return out, newest

    def _activity(self, t: dict[str, Any], users: dict[str, Any]) -> Activity:
        author = users.get(str(t.get("author_id")), {})
        replied = next(
            (r["id"] for r in t.get("referenced_tweets", []) if r.get("type") == "replied_to"),
            None,
        )
        mentions = tuple(
            str(m["username"]) for m in t.get("entities", {}).get("mentions", []) if "username" in m
        )
        return Activity(
            platform=self.platform,
            account=self.account,
            kind="reply" if replied else "mention",
            activity_id=str(t["id"]),
            author_id=str(t.get("author_id", "")),
            author_handle=str(author.get("username", "")),
            author_name=author.get("name"),
            at=parse_time(t.get("created_at")),
            text=t.get("text"),
            in_reply_to=replied,
            mentions=mentions,
            raw=t,
        )

    def _raise_for(self, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        body = json_body(resp)
        parts = [str(e.get("message")) for e in body.get("errors") or [] if e.get("message")]
        parts.append(str(body.get("detail") or body.get("title") or resp.text[:200]))
        detail = " ".join(parts)
        status = resp.status_code
        if status == 429:
            reset = seconds_until(resp.headers.get("x-rate-limit-reset"))
            raise PlatformError(
                self.platform, "rate_limited", detail, retry=True, retry_after=reset, status=429
            )
        if status == 401:
            raise PlatformError(self.platform, "auth", detail, status=status)
        lowered = detail.lower()
        if status == 403 and "duplicate" in lowered:
            raise PlatformError(self.platform, "duplicate", detail, status=status)
        if status == 400 and ("too long" in lowered or "length" in lowered):
            raise PlatformError(self.platform, "too_long", detail, status=status)
        code = {400: "invalid", 403: "forbidden"}.get(status, f"http_{status}")
        raise PlatformError(self.platform, code, detail, retry=status >= 500, status=status)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
