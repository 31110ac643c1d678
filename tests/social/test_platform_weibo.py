"""Weibo: the adapter against a local open API that checks the safe domain and its error codes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.social.base import PlatformError, SocialImage, SocialPost
from clarion.channels.social.weibo import WeiboAdapter
from clarion.errors import ValidationFailed
from clarion.social.accounts import add_account
from clarion.social.publishing import create_post, fetch_all, list_posts, publish_due
from tests.social.contract.server import serve
from tests.social.contract.weibo import WeiboState, app, item

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LINK = "https://brand.example.cn/join"


@pytest.fixture
def weibo() -> Iterator[tuple[WeiboState, str]]:
    state = WeiboState()
    with serve(app(state)) as url:
        yield state, url


def _run(url: str, fn: Any) -> Any:
    async def go() -> Any:
        a = WeiboAdapter(
            "wb", {"safe_domain": "brand.example.cn", "base_url": url}, {"access_token": "wb-token"}
        )
        try:
            return await fn(a)
        finally:
            await a.close()

    return asyncio.run(go())


def test_share_posts_the_text_with_its_safe_domain_link_and_picture(
    weibo: tuple[WeiboState, str],
) -> None:
    state, url = weibo
    post = SocialPost("新品上市，回复 JOIN", link=LINK, images=(SocialImage(PNG, "image/png"),))
    pub = _run(url, lambda a: a.publish(post))
    assert state.statuses[0]["text"] == f"新品上市，回复 JOIN {LINK}"
    assert state.statuses[0]["pic_bytes"] == len(PNG)
    assert pub.url == f"https://weibo.com/5550001/{pub.post_id}"
    assert pub.at.utcoffset() is not None and pub.at.hour == 18


@pytest.mark.parametrize(
    ("case", "code", "retry"),
    [
        ("expired", "auth", False),
        ("rate", "rate_limited", True),
        ("repeat", "duplicate", False),
        ("long", "too_long", False),
    ],
)
def test_error_codes_are_classified(
    weibo: tuple[WeiboState, str], case: str, code: str, retry: bool
) -> None:
    state, url = weibo
    text = "hello"
    state.expired = case == "expired"
    state.rate_limited = case == "rate"
    if case == "repeat":
        state.statuses.append({"text": f"hello {LINK}"})
    if case == "long":
        text = "字" * 2000
    with pytest.raises(PlatformError) as err:
        _run(url, lambda a: a.publish(SocialPost(text, link=LINK)))
    assert (err.value.code, err.value.retry) == (code, retry)
    if case == "expired":
        assert "21327" in err.value.message


def test_mentions_and_comments_are_read_since_their_cursors(weibo: tuple[WeiboState, str]) -> None:
    state, url = weibo
    for i in range(1, 251):
        state.mentions.append(item(i, f"m{i}"))
    for i in range(1, 6):
        state.comments.append(item(i, f"c{i}", reply=i == 3))
    cursor = "c:5002,m:5010"
    items, nxt = _run(url, lambda a: a.fetch_activity(cursor))
    kinds = [(a.kind, a.activity_id) for a in items]
    # then mentions 11..250 over two pages and comments 3..5, the cursor at the newest of each
    assert len([k for k in kinds if k[0] == "mention"]) == 240
    assert [k for k in kinds if k[0] != "mention"] == [
        ("reply", "c5003"),
        ("comment", "c5004"),
        ("comment", "c5005"),
    ]
    assert nxt == "c:5005,m:5250"
    assert items[0].at <= items[-1].at
    assert _run(url, lambda a: a.fetch_activity(nxt)) == ([], nxt)


def test_a_post_without_a_safe_domain_link_is_refused_before_posting(
    engine: Engine, actor: Actor, weibo: tuple[WeiboState, str]
) -> None:
    state, url = weibo
    with engine.begin() as conn:
        add_account(
            conn,
            actor,
            "wb",
            "weibo",
            {"safe_domain": "brand.example.cn", "base_url": url, "access_token": "wb-token"},
        )
        with pytest.raises(ValidationFailed) as err:
            create_post(conn, actor, "wb", "看这里 https://elsewhere.example/x")
        create_post(conn, actor, "wb", "看这里", link=LINK)
    problems = err.value.fields["problems"]
    assert {
        "field": "link",
        "message": "links must be on brand.example.cn",
        "value": "https://elsewhere.example/x",
    } in problems
    assert any("must hold a link" in p["message"] for p in problems)
    assert publish_due(engine) == {"published": 1}
    state.comments.append(item(1, "ann"))
    assert fetch_all(engine) == {"wb": 1}
    with engine.connect() as conn:
        assert (
            list_posts(conn, actor.workspace_id)[0]["platform_post_id"]
            == state.statuses[0]["idstr"]
        )
