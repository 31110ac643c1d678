"""Mastodon: the adapter and the posts queue against a local instance playing the API."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.social import mastodon
from clarion.channels.social.base import PlatformError, SocialImage, SocialPost
from clarion.channels.social.mastodon import MastodonAdapter
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.social.accounts import add_account, list_accounts
from clarion.social.publishing import LEASE, create_post, fetch_all, get_post, publish_due
from clarion.social.tables import social_activities, social_posts
from tests.social.contract.mastodon import MastodonState, app, notification
from tests.social.contract.server import serve

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def masto() -> Iterator[tuple[MastodonState, str]]:
    state = MastodonState()
    with serve(app(state)) as url:
        yield state, url


def _adapter(url: str, token: str = "mtoken") -> MastodonAdapter:
    return MastodonAdapter("brand", {"base_url": url}, {"access_token": token})


async def _publish(url: str, post: SocialPost, token: str = "mtoken") -> object:
    a = _adapter(url, token)
    try:
        return await a.publish(post)
    finally:
        await a.close()


def test_publish_uploads_images_then_posts_with_the_bearer_token(
    masto: tuple[MastodonState, str],
) -> None:
    state, url = masto
    # given a post with an image still processing on the instance (202)
    post = SocialPost("Text JOIN to 12345", images=(SocialImage(PNG, "image/png", "logo"),))
    # when it is published
    pub = asyncio.run(_publish(url, post))
    # then the status carries the processed media and the platform's id and url
    assert state.statuses[0]["media_attachments"][0]["description"] == "logo"
    assert pub.post_id == state.statuses[0]["id"]  # type: ignore[attr-defined]
    assert pub.url.endswith(state.statuses[0]["id"])  # type: ignore[attr-defined]


def test_a_repeated_idempotency_key_returns_the_first_status(
    masto: tuple[MastodonState, str],
) -> None:
    state, url = masto
    post = SocialPost("once", idempotency_key="clarion-social-post-7")
    # when the same post is sent twice with its key
    first = asyncio.run(_publish(url, post))
    second = asyncio.run(_publish(url, post))
    # then the instance holds one status
    assert len(state.statuses) == 1
    assert first.post_id == second.post_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("setup", "code", "retry"),
    [("token", "auth", False), ("rate", "rate_limited", True), ("long", "too_long", False)],
)
def test_errors_are_classified(
    masto: tuple[MastodonState, str], setup: str, code: str, retry: bool
) -> None:
    state, url = masto
    token, text = "mtoken", "hello"
    if setup == "token":
        token = "wrong"
    elif setup == "rate":
        state.rate_limited = True
    else:
        state.max_characters = 10  # the instance is stricter than the account settings say
        text = "x" * 20
    # when a post is refused
    with pytest.raises(PlatformError) as err:
        asyncio.run(_publish(url, SocialPost(text), token))
    # then the error says what kind of refusal it was and whether to retry
    assert (err.value.code, err.value.retry) == (code, retry)
    if setup == "rate":
        assert err.value.retry_after is not None and err.value.retry_after > 0


def test_instance_limits_are_read_from_the_instance(masto: tuple[MastodonState, str]) -> None:
    state, url = masto
    state.max_characters = 1000

    async def load() -> int:
        a = _adapter(url)
        try:
            return (await a.load_limits()).max_length
        finally:
            await a.close()

    assert asyncio.run(load()) == 1000


def test_instance_limits_are_read_once_per_instance_then_cached(
    masto: tuple[MastodonState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = masto
    state.max_characters = 1000

    async def load() -> int:
        a = _adapter(url)
        try:
            return (await a.load_limits()).max_length
        finally:
            await a.close()

    # when two adapters (two publishes) read the limits, the instance is asked once
    assert [asyncio.run(load()), asyncio.run(load())] == [1000, 1000]
    assert state.instance_reads == 1
    # and once the cache is older than its TTL, the instance's new limit is read again
    state.max_characters = 2000
    monkeypatch.setattr(mastodon, "INSTANCE_LIMITS_TTL_S", 0.0)
    assert asyncio.run(load()) == 2000 and state.instance_reads == 2


def test_notifications_are_fetched_oldest_first_across_pages_and_resume_at_the_cursor(
    masto: tuple[MastodonState, str],
) -> None:
    state, url = masto
    # given 45 notifications (more than one page of 40) and a poll notification we ignore
    for i in range(1, 46):
        kind = ("mention", "follow", "reblog", "favourite")[i % 4]
        extra = {"id": f"s{i}", "content": f"hi {i}"} if kind != "follow" else {}
        state.notifications.append(notification(i, kind, f"user{i}", **extra))
    state.notifications.append(notification(46, "poll", "pollster", id="s46"))

    async def fetch(cursor: str | None) -> tuple[list[str], str | None]:
        a = _adapter(url)
        try:
            items, nxt = await a.fetch_activity(cursor)
            return [f"{x.kind}:{x.activity_id}" for x in items], nxt
        finally:
            await a.close()

    # when fetched from the start
    items, cursor = asyncio.run(fetch(None))
    # then... the newest page only (no cursor yet means 'from now'), oldest first
    assert items[0].endswith(":6") and items[-1].endswith(":45")
    assert cursor == "46"  # the poll notification still moves the cursor
    assert items[0].startswith("share") and items[1].startswith("like")  # reblog, favourite
    # given a cursor further back, everything after it comes in order across pages
    items, cursor = asyncio.run(fetch("2"))
    assert [i.split(":")[1] for i in items] == [str(n) for n in range(3, 46)]
    assert cursor == "46"
    assert any(r.get("min_id") == "2" for r in state.notification_requests)
    # and fetching again from the stored cursor finds nothing new
    assert asyncio.run(fetch(cursor)) == ([], "46")


def test_the_queue_publishes_once_and_a_refetch_adds_no_activity(
    engine: Engine, actor: Actor, masto: tuple[MastodonState, str]
) -> None:
    state, url = masto
    with engine.begin() as conn:
        acc = add_account(
            conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"}
        )
        post = create_post(
            conn,
            actor,
            "brand",
            "Text JOIN to 12345",
            link="https://shop.example/x",
            images=[{"mime_type": "image/png", "data_b64": base64.b64encode(PNG).decode()}],
        )
        listed = list_accounts(conn, actor.workspace_id)
    # the API view never shows the token
    assert "mtoken" not in str(listed) and listed[0]["secrets_set"] == ["access_token"]
    assert acc["platform"] == "mastodon"
    # when the job runs twice
    assert publish_due(engine) == {"published": 1}
    assert publish_due(engine) == {}
    # then one status was posted, with the link appended, and the post records it
    assert len(state.statuses) == 1 and state.statuses[0]["content"].endswith("shop.example/x")
    with engine.connect() as conn:
        done = get_post(conn, actor.workspace_id, post["id"])
    assert done["status"] == "published" and done["platform_post_id"] == state.statuses[0]["id"]
    # given notifications, when fetched twice
    state.notifications.append(
        notification(
            5, "mention", "ann", id="s5", content="@brand love it", in_reply_to_id="110000"
        )
    )
    assert fetch_all(engine) == {"brand": 1}
    state.notifications.append(notification(6, "follow", "bob"))
    assert fetch_all(engine) == {"brand": 1}
    assert fetch_all(engine) == {"brand": 0}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(social_activities.c.kind, social_activities.c.author_handle).order_by(
                social_activities.c.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("reply", "ann"), ("follow", "bob")]


def test_an_interrupted_post_is_retried_with_its_key_and_posted_once(
    engine: Engine, actor: Actor, masto: tuple[MastodonState, str]
) -> None:
    state, url = masto
    with engine.begin() as conn:
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
        post = create_post(conn, actor, "brand", "hello")
    # given the post reached the instance, then the worker died before recording it
    asyncio.run(
        _publish(url, SocialPost("hello", idempotency_key=f"clarion-social-post-{post['id']}"))
    )
    with engine.begin() as conn:
        conn.execute(
            social_posts.update().values(
                status="publishing", claim_token="dead", claimed_at=utcnow() - LEASE - timedelta(1)
            )
        )
    # when the job runs after the lease
    assert publish_due(engine) == {"published": 1}
    # then the instance still holds one status, and the post has its id
    assert len(state.statuses) == 1 and state.posts_seen == 2
    with engine.connect() as conn:
        assert get_post(conn, actor.workspace_id, post["id"])["platform_post_id"] == "110000"


def test_a_rate_limited_post_waits_and_a_too_long_one_is_refused_up_front(
    engine: Engine, actor: Actor, masto: tuple[MastodonState, str]
) -> None:
    state, url = masto
    state.rate_limited = True
    with engine.begin() as conn:
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
        post = create_post(conn, actor, "brand", "hello")
        # a post over 500 characters is refused naming the field, the count and the limit
        with pytest.raises(ValidationFailed) as err:
            create_post(conn, actor, "brand", "x" * 501)
    assert err.value.fields["field"] == "text" and err.value.fields["value"] == 501
    assert "at most 500" in err.value.message
    # when the instance answers 429
    assert publish_due(engine) == {"scheduled": 1}
    with engine.connect() as conn:
        again = get_post(conn, actor.workspace_id, post["id"])
    # then the post waits until the reset time, with the error kept
    assert again["error_code"] == "rate_limited" and again["scheduled_at"] > utcnow() + timedelta(
        days=1
    )
