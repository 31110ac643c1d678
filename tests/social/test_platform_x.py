"""X: OAuth 1.0a signing against X's worked example, and the adapter against a local X API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.social import oauth1
from clarion.channels.social.base import PlatformError, SocialImage, SocialPost
from clarion.channels.social.x import XAdapter
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.social.accounts import add_account
from clarion.social.publishing import (
    LEASE,
    create_post,
    fetch_all,
    get_post,
    publish_due,
    set_post_status,
)
from clarion.social.tables import social_posts
from tests.social.contract.server import serve
from tests.social.contract.x import SECRETS, XState, app, mention

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_the_signature_matches_x_published_worked_example() -> None:
    # given the request, keys, nonce and timestamp of X's "Creating a signature" page
    header = oauth1.authorization(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json",
        [
            ("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
            ("include_entities", "true"),
        ],
        consumer_key="xvz1evFS4wEEPTGEFPHBog",
        consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        timestamp=1318622958,
    )
    # then the signature is the one the page gives
    assert 'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"' in header


@pytest.fixture
def xapi() -> Iterator[tuple[XState, str]]:
    state = XState()
    with serve(app(state)) as url:
        yield state, url


def _run(url: str, fn: Any, secrets: dict[str, str] | None = None) -> Any:
    async def go() -> Any:
        a = XAdapter(
            "brand", {"user_id": "1234", "base_url": url, "username": "brand"}, secrets or SECRETS
        )
        try:
            return await fn(a)
        finally:
            await a.close()

    return asyncio.run(go())


def test_a_signed_post_with_an_image_is_created(xapi: tuple[XState, str]) -> None:
    state, url = xapi
    post = SocialPost(
        "新品 🎉", link="https://shop.example/x", images=(SocialImage(PNG, "image/png"),)
    )
    pub = _run(url, lambda a: a.publish(post))
    # then the server verified two signatures (upload, tweet) and holds the tweet with the media
    assert state.auth_seen == ["oauth1", "oauth1"]
    assert state.tweets[0]["text"] == "新品 🎉 https://shop.example/x"
    assert state.tweets[0]["media"]["media_ids"] == list(state.media)
    assert pub.url == f"https://x.com/brand/status/{pub.post_id}"


def test_an_oauth2_user_token_is_sent_as_bearer(xapi: tuple[XState, str]) -> None:
    state, url = xapi
    _run(url, lambda a: a.publish(SocialPost("hi")), {"bearer_token": state.bearer})
    assert state.auth_seen == ["bearer"]


@pytest.mark.parametrize(
    ("case", "code", "retry"),
    [
        ("secret", "auth", False),
        ("rate", "rate_limited", True),
        ("dup", "duplicate", False),
        ("long", "too_long", False),
    ],
)
def test_errors_are_classified(xapi: tuple[XState, str], case: str, code: str, retry: bool) -> None:
    state, url = xapi
    secrets, text = dict(SECRETS), "hello"
    if case == "secret":
        secrets["consumer_secret"] = "wrong"  # the server's recomputed signature differs
    elif case == "rate":
        state.rate_limited = True
    elif case == "dup":
        state.tweets.append({"id": "1", "text": "hello"})
    else:
        text = "字" * 141  # 282 weighted
    with pytest.raises(PlatformError) as err:
        _run(url, lambda a: a.publish(SocialPost(text)), secrets)
    assert (err.value.code, err.value.retry) == (code, retry)
    if case == "rate":
        assert err.value.retry_after is not None and 800 < err.value.retry_after <= 900


def test_mentions_are_read_across_pages_since_the_cursor(xapi: tuple[XState, str]) -> None:
    state, url = xapi
    for i in range(1, 251):
        state.mentions.append(
            mention(i, f"u{i % 7}", reply_to="1860000000000000000" if i % 5 == 0 else None)
        )
    cursor = mention(30, "x")["id"]
    items, newest = _run(url, lambda a: a.fetch_activity(cursor))
    # then mentions 31..250 came in order over three pages of 100, replies marked
    assert [int(a.activity_id) - 1900000000000000000 for a in items] == list(range(31, 251))
    assert newest == mention(250, "x")["id"]
    assert items[4].kind == "reply" and items[0].kind == "mention"
    assert items[0].author_handle == f"user{items[0].author_id}"
    assert _run(url, lambda a: a.fetch_activity(newest)) == ([], newest)


def test_the_queue_publishes_and_refuses_a_post_over_280_weighted(
    engine: Engine, actor: Actor, xapi: tuple[XState, str]
) -> None:
    state, url = xapi
    with engine.begin() as conn:
        with pytest.raises(ValidationFailed) as missing:
            add_account(
                conn, actor, "x", "x", {"user_id": "1234", "base_url": url, "consumer_key": "k"}
            )
        add_account(conn, actor, "x", "x", {"user_id": "1234", "base_url": url, **SECRETS})
        post = create_post(conn, actor, "x", "字" * 140)
        with pytest.raises(ValidationFailed) as err:
            create_post(conn, actor, "x", "字" * 141)
    assert "bearer_token" in missing.value.message
    assert err.value.fields["value"] == 282 and "x_weighted" in err.value.message
    assert publish_due(engine) == {"published": 1}
    state.mentions.append(mention(1, "77"))
    assert fetch_all(engine) == {"x": 1}
    with engine.connect() as conn:
        assert (
            get_post(conn, actor.workspace_id, post["id"])["platform_post_id"]
            == state.tweets[0]["id"]
        )


def test_an_interrupted_post_becomes_uncertain_and_goes_out_only_when_retried(
    engine: Engine, actor: Actor, xapi: tuple[XState, str]
) -> None:
    state, url = xapi
    with engine.begin() as conn:
        add_account(conn, actor, "x", "x", {"user_id": "1234", "base_url": url, **SECRETS})
        post = create_post(conn, actor, "x", "hello")
        # given the worker claimed the post and died during the call (X has no idempotency key)
        conn.execute(
            social_posts.update().values(
                status="publishing", claim_token="dead", claimed_at=utcnow() - LEASE - timedelta(1)
            )
        )
    # when the job runs after the lease, then it does not post: the post is uncertain
    assert publish_due(engine) == {}
    with engine.connect() as conn:
        assert get_post(conn, actor.workspace_id, post["id"])["status"] == "uncertain"
    assert state.tweets == []
    # when a person checked the account and retries it, then it is posted once
    with engine.begin() as conn:
        set_post_status(conn, actor, post["id"], "retry")
    assert publish_due(engine) == {"published": 1} and len(state.tweets) == 1
