"""Tell link previews and prefetches from people: a request that is not a click is filtered.

Messaging apps fetch a link as soon as it arrives to draw a preview card (iMessage, WhatsApp,
Telegram, Slack, Facebook Messenger, Skype...), and browsers prefetch links they expect to be
followed. Counting those as clicks would make every message look clicked. The list matches
substrings of the User-Agent (case-insensitive); prefetches announce themselves with the
``Purpose``/``Sec-Purpose``/``X-Purpose``/``X-Moz`` headers; a HEAD request reads no page.
"""

from __future__ import annotations

from collections.abc import Mapping

#: User-Agent substrings (lower case) of link-preview fetchers and crawlers, with the name
#: recorded as the reason. iMessage previews identify as "facebookexternalhit ... Twitterbot";
#: Apple's LinkPresentation framework as "Applebot" or "LinkPresentation".
PREVIEW_AGENTS: tuple[tuple[str, str], ...] = (
    ("facebookexternalhit", "facebookexternalhit"),
    ("facebot", "facebot"),
    ("slackbot", "slackbot"),
    ("slack-imgproxy", "slackbot"),
    ("whatsapp", "whatsapp"),
    ("telegrambot", "telegrambot"),  # before twitterbot: it says "like TwitterBot"
    ("twitterbot", "twitterbot"),
    ("applebot", "applebot"),
    ("linkpresentation", "imessage"),
    ("skypeuripreview", "skype"),
    ("discordbot", "discordbot"),
    ("linkedinbot", "linkedinbot"),
    ("pinterestbot", "pinterestbot"),
    ("redditbot", "redditbot"),
    ("viber", "viber"),
    ("snapchat", "snapchat"),
    ("embedly", "embedly"),
    ("bingpreview", "bingpreview"),
    ("google-pagerenderer", "google"),
    ("googlebot", "googlebot"),
    ("bingbot", "bingbot"),
    ("yandexbot", "yandexbot"),
    ("baiduspider", "baiduspider"),
    ("mastodon/", "mastodon"),
    ("bluesky", "bluesky"),
    ("cardyb", "bluesky"),
    ("microsoftpreview", "microsoft"),
    ("outlook-android", "outlook"),
)

_PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")


def classify(method: str, user_agent: str | None, headers: Mapping[str, str]) -> str | None:
    """Return why this request is not a person's click ("head", "prefetch", "bot:<name>"),
    or None for a click. ``headers`` keys are lower case."""
    if method.upper() == "HEAD":
        return "head"
    for name in _PREFETCH_HEADERS:
        value = headers.get(name)
        if value and ("prefetch" in value.lower() or "preview" in value.lower()):
            return "prefetch"
    if user_agent:
        ua = user_agent.lower()
        for needle, label in PREVIEW_AGENTS:
            if needle in ua:
                return f"bot:{label}"
    return None
