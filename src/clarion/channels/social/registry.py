"""Which platforms Clarion can post to, loaded lazily by name.

A platform module exports one adapter class with ``SETTINGS`` (required settings), ``OPTIONAL``
(optional settings), ``SECRETS`` (credential names kept apart from settings) and a constructor
``(account, settings, secrets, *, transport=None)``. The registry maps a platform name to its
dotted path so importing Clarion never imports every platform's code.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import httpx

from clarion.channels.social.base import PostLimits, SocialAdapter
from clarion.errors import ValidationFailed

PLATFORMS: dict[str, str] = {
    "mastodon": "clarion.channels.social.mastodon:MastodonAdapter",
    "bluesky": "clarion.channels.social.bluesky:BlueskyAdapter",
    "x": "clarion.channels.social.x:XAdapter",
    "weibo": "clarion.channels.social.weibo:WeiboAdapter",
    "wechat_oa": "clarion.channels.social.wechat:WeChatAdapter",
}


class AdapterClass(Protocol):
    """What the registry needs of an adapter class."""

    SETTINGS: tuple[str, ...]
    OPTIONAL: tuple[str, ...]
    SECRETS: tuple[str, ...]

    def limits_for(self, settings: dict[str, Any]) -> PostLimits:
        """Return the limits of an account with ``settings``."""
        ...

    def __call__(
        self,
        account: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> SocialAdapter: ...


def adapter_class(platform: str) -> AdapterClass:
    """Return the adapter class of ``platform``; a name not known is refused naming the choices."""
    path = PLATFORMS.get(platform)
    if path is None:
        raise ValidationFailed(
            f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}",
            field="platform",
            value=platform,
        )
    module, _, cls = path.partition(":")
    found: AdapterClass = getattr(importlib.import_module(module), cls)
    return found


def make_adapter(
    platform: str,
    account: str,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SocialAdapter:
    """Return a ready adapter for one stored account."""
    return adapter_class(platform)(account, settings, secrets, transport=transport)
