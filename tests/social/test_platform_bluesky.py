"""Bluesky: the adapter against a local PDS that checks sessions and facets' byte offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.social.base import PlatformError, SocialImage, SocialPost
from clarion.channels.social.bluesky import BlueskyAdapter, facets
from clarion.errors import ValidationFailed
from clarion.social.accounts import add_account
from clarion.social.publishing import create_post, fetch_all, publish_due
from clarion.social.tables import social_activities
from tests.social.contract.bluesky import BlueskyState, app, notification
from tests.social.contract.server import serve

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def pds() -> Iterator[tuple[BlueskyState, str]]:
    state = BlueskyState()
    with serve(app(state)) as url:
        yield state, url


def _adapter(url: str, password: str = "abcd-efgh-ijkl-mnop") -> BlueskyAdapter:
    return BlueskyAdapter(
        "brand", {"identifier": "brand.example.com", "base_url": url}, {"app_password": password}
    )


def _run(url: str, fn: Any, password: str = "abcd-efgh-ijkl-mnop") -> Any:
    async def go() -> Any:
        a = _adapter(url, password)
        try:
            return await fn(a)
        finally:
            await a.close()

    return asyncio.run(go())


def test_link_facets_index_utf8_bytes_not_characters() -> None:
    # given a link after CJK text and an emoji (3 and 4 bytes each)
    text = "新品上市 🎉 https://shop.example/新 #sale"
    # when facets are computed
    found = facets(text)
    # then each span, read as bytes, is exactly the link or the tag
    raw = text.encode()
    spans = [raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in found]
    assert spans == ["https://shop.example/新", "#sale"]
    assert found[0]["index"]["byteStart"] == len("新品上市 🎉 ".encode()) != len("新品上市 🎉 ")


def test_publish_logs_in_uploads_the_image_and_writes_a_post_record(
    pds: tuple[BlueskyState, str],
) -> None:
    state, url = pds
    post = SocialPost(
        "Join us 🎉 text JOIN to 12345",
        link="https://shop.example/a",
        images=(SocialImage(PNG, "image/png", "our logo"),),
    )
    pub = _run(url, lambda a: a.publish(post))
    # then one record with a correct link facet and the uploaded blob
    assert state.logins == 1 and state.problems == []
    record = state.records[0]
    assert record["facets"][0]["features"][0]["uri"] == "https://shop.example/a"
    assert record["embed"]["images"][0]["alt"] == "our logo"
    assert pub.post_id.startswith("at://did:plc:brand123/app.bsky.feed.post/")
    assert pub.url.startswith("https://bsky.app/profile/brand.example.com/post/")


def test_an_expired_access_token_is_refreshed_and_the_call_retried_once(
    pds: tuple[BlueskyState, str],
) -> None:
    state, url = pds
    # given access tokens that are already expired when issued
    state.access_ttl = -1

    async def two_posts(a: BlueskyAdapter) -> None:
        await a.publish(SocialPost("one"))

    # when publishing, the first call fails ExpiredToken, the refresh gives another expired
    # token, so the retried call fails too: the error is auth, after exactly one refresh
    with pytest.raises(PlatformError) as err:
        _run(url, two_posts)
    assert err.value.code == "auth" and state.refreshes == 1
    # given fresh tokens after the refresh
    state.access_ttl = -1
    state.refreshes = 0

    async def refresh_then_ok(a: BlueskyAdapter) -> Any:
        await a._login()
        state.access_ttl = 3600  # the refresh issues a good token
        return await a.publish(SocialPost("two"))

    _run(url, refresh_then_ok)
    assert state.refreshes == 1 and state.records[-1]["text"] == "two"


@pytest.mark.parametrize(
    ("case", "code", "retry"), [("password", "auth", False), ("rate", "rate_limited", True)]
)
def test_errors_are_classified(
    pds: tuple[BlueskyState, str], case: str, code: str, retry: bool
) -> None:
    state, url = pds
    state.rate_limited = case == "rate"
    password = "wrong" if case == "password" else "abcd-efgh-ijkl-mnop"
    with pytest.raises(PlatformError) as err:
        _run(url, lambda a: a.publish(SocialPost("hi")), password)
    assert (err.value.code, err.value.retry) == (code, retry)


def test_notifications_are_read_back_to_the_cursor_across_pages(
    pds: tuple[BlueskyState, str],
) -> None:
    state, url = pds
    reasons = ("mention", "reply", "follow", "repost", "like", "starterpack-joined")
    for i in range(1, 121):
        state.notifications.append(notification(i, reasons[i % 6], f"u{i}", f"hello {i}"))
    # when read from a cursor 100 notifications back (two pages of 50 and a bit)
    items, cursor = _run(url, lambda a: a.fetch_activity("2026-11-22T10:00:20.000Z"))
    # then every known kind after the cursor, oldest first, and the newest indexedAt as cursor
    ids = [int(a.activity_id.rsplit("n", 1)[1]) for a in items]
    assert ids == [i for i in range(21, 121) if i % 6 != 5]
    assert cursor == "2026-11-22T10:02:00.000Z"
    assert {a.kind for a in items} == {"mention", "reply", "follow", "share", "like"}
    # and a second read from that cursor finds nothing
    assert _run(url, lambda a: a.fetch_activity(cursor))[0] == []


def test_the_queue_publishes_and_refuses_over_300_graphemes(
    engine: Engine, actor: Actor, pds: tuple[BlueskyState, str]
) -> None:
    state, url = pds
    with engine.begin() as conn:
        add_account(
            conn,
            actor,
            "sky",
            "bluesky",
            {
                "identifier": "brand.example.com",
                "base_url": url,
                "app_password": "abcd-efgh-ijkl-mnop",
            },
        )
        create_post(conn, actor, "sky", "e\u0301" * 300)  # 300 graphemes, 600 code points
        with pytest.raises(ValidationFailed) as err:
            create_post(conn, actor, "sky", "e\u0301" * 301)
    assert err.value.fields["value"] == 301 and "graphemes" in err.value.message
    assert publish_due(engine) == {"published": 1}
    state.notifications.append(notification(1, "follow", "ann"))
    assert fetch_all(engine) == {"sky": 1}
    with engine.connect() as conn:
        assert conn.execute(sa.select(social_activities.c.author_id)).scalar_one() == "did:plc:ann"
