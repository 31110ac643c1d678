"""WeChat Official Account: publish articles; receive follows and messages by event push.

Contract (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html,
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html,
https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html,
https://developers.weixin.qq.com/doc/offiaccount/Publish/Publish.html,
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html,
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html,
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html,
https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html):

- ``GET /cgi-bin/token?grant_type=client_credential&appid&secret`` gives an access token
  valid ``expires_in`` seconds. It is cached per app (each new token call counts against a
  daily quota) and fetched again on 40001 (invalid credential), 40014 or 42001 (expired),
  after which the call is tried once more.
- An article is a draft (``POST /cgi-bin/draft/add``: title, HTML content, cover image
  ``thumb_media_id`` uploaded by ``/cgi-bin/material/add_material?type=image``) then
  ``POST /cgi-bin/freepublish/submit``; the returned ``publish_id`` is the post id (publishing
  finishes asynchronously, so there is no article URL yet).
- Errors are ``{"errcode", "errmsg"}`` with HTTP 200; 45009 is the API rate limit.
- Nothing is polled: WeChat pushes events to our webhook. The GET handshake is verified by
  ``signature = sha1(sorted(token, timestamp, nonce))`` and answered with ``echostr``; POSTs
  carry the same signature and an XML body (plaintext mode; the encrypted "safe mode" is not
  supported). ``subscribe`` becomes a follow, a text message a comment; WeChat retries a push
  it got no answer to, and the unique activity id (``MsgId``, or sender + time + event for
  events) keeps the retry from adding a row twice.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import httpx

from clarion.channels.social._http import client, json_body
from clarion.channels.social.base import (
    URL_RE,
    Activity,
    PlatformError,
    PostLimits,
    Published,
    SocialPost,
)

LIMITS = PostLimits(
    max_length=20000,
    length_rule="chars",
    max_images=1,
    image_types=("image/jpeg", "image/png", "image/gif"),
    max_image_bytes=10 * 1024 * 1024,
    needs_title=True,
)
TOKEN_ERRORS = {40001, 40014, 42001}
#: Cached access tokens: (base URL, appid) -> (token, monotonic expiry).
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}


def push_signature(token: str, timestamp: str, nonce: str) -> str:
    """Return the signature WeChat sends with a push: sha1 of the sorted, joined values."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()


def verify_push(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """Return whether a push's signature is right for the account's token."""
    return hmac.compare_digest(push_signature(token, timestamp, nonce), signature.lower())


def parse_push(account: str, body: bytes) -> Activity | None:
    """Return the activity an XML push carries (``None`` for pushes we do not keep)."""
    root = ET.fromstring(body)

    def get(tag: str) -> str:
        return (root.findtext(tag) or "").strip()

    sender, kind = get("FromUserName"), get("MsgType")
    created = get("CreateTime") or "0"
    at = datetime.fromtimestamp(int(created), UTC)
    raw = {child.tag: (child.text or "") for child in root}
    if kind == "text":
        return Activity(
            platform="wechat_oa",
            account=account,
            kind="comment",
            activity_id=get("MsgId") or f"{sender}:{created}:text",
            author_id=sender,
            author_handle=sender,
            at=at,
            text=get("Content"),
            raw=raw,
        )
    if kind == "event" and get("Event").lower() == "subscribe":
        return Activity(
            platform="wechat_oa",
            account=account,
            kind="follow",
            activity_id=f"{sender}:{created}:subscribe",
            author_id=sender,
            author_handle=sender,
            at=at,
            raw=raw,
        )
    return None


def article_html(text: str) -> str:
    """Return the post text as article HTML: paragraphs, links made clickable."""
    out = []
    for para in text.split("\n"):
        if not para.strip():
            continue
        pos, parts = 0, []
        for m in URL_RE.finditer(para):
            parts.append(html.escape(para[pos : m.start()]))
            url = html.escape(m.group(0))
            parts.append(f'<a href="{url}">{url}</a>')
            pos = m.end()
        parts.append(html.escape(para[pos:]))
        out.append(f"<p>{''.join(parts)}</p>")
    return "".join(out)


class WeChatAdapter:
    """One Official Account (appid + secret; ``webhook_token`` checks pushes)."""

    platform = "wechat_oa"
    SETTINGS: tuple[str, ...] = ("appid",)
    OPTIONAL: tuple[str, ...] = ("base_url", "author", "thumb_media_id")
    SECRETS: tuple[str, ...] = ("app_secret", "webhook_token")
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
        self.appid = str(settings["appid"])
        self.author = str(settings.get("author") or "")
        self.thumb_media_id = settings.get("thumb_media_id")
        self._secret = str(secrets["app_secret"])
        self._base = str(settings.get("base_url") or "https://api.weixin.qq.com")
        self._http = client(self._base, transport)

    @staticmethod
    def limits_for(settings: dict[str, Any]) -> PostLimits:
        """Return the article limits (a title is required)."""
        return LIMITS

    async def _token(self, fresh: bool = False) -> str:
        key = (self._base, self.appid)
        cached = _TOKENS.get(key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        resp = await self._http.get(
            "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self._secret},
        )
        body = self._check(resp)
        # Renew a minute early so a token never expires between the check and the call.
        ttl = max(0, int(body.get("expires_in", 7200)) - 60)
        _TOKENS[key] = (str(body["access_token"]), time.monotonic() + ttl)
        return str(body["access_token"])

    async def _call(self, path: str, **kw: Any) -> dict[str, Any]:
        """POST to ``path`` with the cached token; on a token error renew it and try once more."""
        token = await self._token()
        resp = await self._http.post(path, params={"access_token": token}, **kw)
        if json_body(resp).get("errcode") in TOKEN_ERRORS:
            token = await self._token(fresh=True)
            resp = await self._http.post(path, params={"access_token": token}, **kw)
        return self._check(resp)

    async def publish(self, post: SocialPost) -> Published:
        """Upload the cover, add the article as a draft, and submit it for publishing."""
        thumb = self.thumb_media_id
        if post.images:
            img = post.images[0]
            body = await self._call(
                "/cgi-bin/material/add_material",
                files={"media": ("cover", img.data, img.mime_type)},
                data={"type": "image"},
            )
            thumb = body["media_id"]
        article: dict[str, Any] = {
            "title": post.title or "",
            "author": self.author,
            "content": article_html(post.full_text()),
            "content_source_url": post.link or "",
            "need_open_comment": 1,
        }
        if thumb:
            article["thumb_media_id"] = thumb
        draft = await self._call("/cgi-bin/draft/add", json={"articles": [article]})
        sub = await self._call("/cgi-bin/freepublish/submit", json={"media_id": draft["media_id"]})
        return Published(
            platform=self.platform,
            account=self.account,
            post_id=str(sub["publish_id"]),
            url=None,
            at=datetime.now(UTC),
        )

    async def fetch_activity(self, cursor: str | None) -> tuple[list[Activity], str | None]:
        """Return nothing: WeChat pushes activity to the webhook instead of being polled."""
        return [], cursor

    def _check(self, resp: httpx.Response) -> dict[str, Any]:
        body = json_body(resp)
        code = int(body.get("errcode") or 0)
        if resp.status_code < 400 and code == 0:
            return body
        message = f"{code} {body.get('errmsg') or resp.text[:200]}"
        if code == 45009:
            raise PlatformError(
                self.platform, "rate_limited", message, retry=True, retry_after=3600.0
            )
        if code in TOKEN_ERRORS or code in (40013, 40125, 40164):
            raise PlatformError(self.platform, "auth", message, status=resp.status_code)
        if code == -1 or resp.status_code >= 500:
            raise PlatformError(self.platform, "busy", message, retry=True, status=resp.status_code)
        raise PlatformError(self.platform, f"wechat_{code}", message, status=resp.status_code)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
