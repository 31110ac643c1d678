"""What every social platform adapter offers: limits checked before posting, publish, and fetch.

Social platforms are channels like SMS, but one post goes to an account's followers rather
than a message to one person, and what comes back (mentions, comments, replies, follows,
shares, likes) arrives by polling or webhooks rather than as delivery receipts. An adapter turns
one platform's published API into three things: :class:`PostLimits` (what a post may hold,
counted the platform's way), ``publish`` (a :class:`SocialPost` to a :class:`Published`), and
``fetch_activity`` (a page of :class:`Activity` after a cursor). Fetched activity is stored as
rows (``social_activities``) and everything downstream (identities, events, the inbox, the
interaction graph) reads those rows, so a platform module never needs to know about contacts.

Length is counted the way each platform counts it: Bluesky in grapheme clusters, X in weighted
characters (CJK and emoji count two, every URL 23), Mastodon in characters with every URL 23,
Weibo and WeChat in characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import regex

ACTIVITY_KINDS = ("mention", "comment", "reply", "follow", "share", "like")
ActivityKind = Literal["mention", "comment", "reply", "follow", "share", "like"]
LengthRule = Literal["chars", "graphemes", "x_weighted", "chars_urls_23"]

URL_RE = re.compile(r"https?://[^\s<>\"'，。、）)]+", re.IGNORECASE)
_GRAPHEME = regex.compile(r"\X")
#: X counts these code point ranges as one; everything else (CJK, emoji...) as two.
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
X_URL_WEIGHT = 23


@dataclass(frozen=True, slots=True)
class PostLimits:
    """What one platform accepts in a post."""

    max_length: int
    length_rule: LengthRule = "chars"
    max_images: int = 4
    image_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/gif", "image/webp")
    max_image_bytes: int = 5_000_000
    links_allowed: bool = True
    #: When set, every link must be on one of these domains (Weibo's registered safe domain).
    link_domains: tuple[str, ...] = ()
    #: The post must hold a link on ``link_domains`` (Weibo's statuses/share rule).
    link_required: bool = False
    needs_title: bool = False  # WeChat articles have a title


@dataclass(frozen=True, slots=True)
class SocialImage:
    """An image to attach: its bytes, MIME type and alt text."""

    data: bytes = field(repr=False)
    mime_type: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class SocialPost:
    """A post to publish: text (which may contain links), an optional link and images."""

    text: str
    link: str | None = None  # appended to the text when not already in it
    images: tuple[SocialImage, ...] = ()
    title: str | None = None  # WeChat articles
    #: Our id for the post, sent as the platform's idempotency key where it has one.
    idempotency_key: str | None = None

    def full_text(self) -> str:
        """Return the text as posted: the link appended unless the text already holds it."""
        if self.link and self.link not in self.text:
            return f"{self.text} {self.link}".strip()
        return self.text


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a post cannot go out as it is."""

    field: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """Return the problem as plain JSON-able values."""
        return {"field": self.field, "message": self.message, "value": self.value}


@dataclass(frozen=True, slots=True)
class Published:
    """A post the platform accepted."""

    platform: str
    account: str
    post_id: str
    url: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Activity:
    """Something a person did on a platform that concerns one of our accounts."""

    platform: str
    account: str  # our account's name in Clarion
    kind: ActivityKind
    activity_id: str  # unique on the platform (a notification or status id)
    author_id: str  # the platform's stable user id (a DID on Bluesky)
    author_handle: str
    at: datetime  # aware
    author_name: str | None = None
    text: str | None = None
    post_id: str | None = None  # our post it is about, if any
    in_reply_to: str | None = None
    #: Handles or ids the text mentions (for the interaction graph).
    mentions: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class PlatformError(Exception):
    """A platform refused or failed a call; ``retry`` says whether trying later can help."""

    def __init__(
        self,
        platform: str,
        code: str,
        message: str,
        *,
        retry: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{platform}: {code}: {message}")
        self.platform = platform
        self.code = code
        self.message = message
        self.retry = retry
        self.retry_after = retry_after
        self.status = status


@runtime_checkable
class SocialAdapter(Protocol):
    """One platform account, ready to publish and to fetch what happened since a cursor."""

    platform: str
    limits: PostLimits

    async def publish(self, post: SocialPost) -> Published:
        """Publish ``post``; raise :class:`PlatformError` if the platform refuses it."""
        ...

    async def fetch_activity(self, cursor: str | None) -> tuple[list[Activity], str | None]:
        """Return activity newer than ``cursor`` (oldest first) and the cursor to store."""
        ...

    async def close(self) -> None:
        """Release the HTTP client."""
        ...


def graphemes(text: str) -> int:
    """Return the number of user-perceived characters (extended grapheme clusters)."""
    return len(_GRAPHEME.findall(text))


def x_weighted_length(text: str) -> int:
    """Return the length X counts: URLs 23, light code points 1, everything else 2."""
    total, pos = 0, 0
    for m in URL_RE.finditer(text):
        total += _x_weight(text[pos : m.start()]) + X_URL_WEIGHT
        pos = m.end()
    return total + _x_weight(text[pos:])


def _x_weight(text: str) -> int:
    n = 0
    for cluster in _GRAPHEME.findall(text):
        cp = ord(cluster[0])
        # An emoji sequence (ZWJ, skin tone, flags) counts as one emoji: two.
        n += 1 if len(cluster) == 1 and any(a <= cp <= b for a, b in _X_LIGHT) else 2
    return n


def post_length(text: str, rule: LengthRule) -> int:
    """Return ``text``'s length under a platform's counting rule."""
    if rule == "graphemes":
        return graphemes(text)
    if rule == "x_weighted":
        return x_weighted_length(text)
    if rule == "chars_urls_23":
        return len(URL_RE.sub("x" * 23, text))
    return len(text)


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return re.split(r"[/?#:]", rest, maxsplit=1)[0].lower()


def _on_domain(host: str, domains: Sequence[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def check_post(limits: PostLimits, post: SocialPost) -> list[Problem]:
    """Return every reason ``post`` breaks ``limits`` (empty when it can be published)."""
    problems: list[Problem] = []
    text = post.full_text()
    if not text.strip() and not post.images:
        problems.append(Problem("text", "a post needs text or an image", text))
    length = post_length(text, limits.length_rule)
    if length > limits.max_length:
        problems.append(
            Problem(
                "text",
                f"{length} characters counted as {limits.length_rule}; at most {limits.max_length}",
                length,
            )
        )
    urls = URL_RE.findall(text)
    if urls and not limits.links_allowed:
        problems.append(Problem("link", "this platform does not allow links in posts", urls[0]))
    if limits.link_domains:
        for url in urls:
            if not _on_domain(_host(url), limits.link_domains):
                problems.append(
                    Problem(
                        "link",
                        f"links must be on {', '.join(limits.link_domains)}",
                        url,
                    )
                )
        if limits.link_required and not any(
            _on_domain(_host(u), limits.link_domains) for u in urls
        ):
            problems.append(
                Problem(
                    "link",
                    f"a post must hold a link on {', '.join(limits.link_domains)}",
                    None,
                )
            )
    if len(post.images) > limits.max_images:
        problems.append(Problem("images", f"at most {limits.max_images} images", len(post.images)))
    for i, img in enumerate(post.images):
        if img.mime_type not in limits.image_types:
            problems.append(
                Problem(
                    f"images[{i}].mime_type",
                    f"one of {', '.join(limits.image_types)}",
                    img.mime_type,
                )
            )
        if len(img.data) > limits.max_image_bytes:
            problems.append(
                Problem(
                    f"images[{i}]",
                    f"at most {limits.max_image_bytes:,} bytes",
                    len(img.data),
                )
            )
    if limits.needs_title and not (post.title or "").strip():
        problems.append(Problem("title", "this platform needs a title", post.title))
    return problems
