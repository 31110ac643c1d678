"""WeChat Official Account: token caching and renewal, article publishing, and the push webhook."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.channels.social import wechat
from clarion.channels.social.base import PlatformError, SocialImage, SocialPost
from clarion.channels.social.wechat import WeChatAdapter, push_signature
from clarion.errors import ValidationFailed
from clarion.social.accounts import add_account
from clarion.social.publishing import create_post, publish_due
from clarion.social.tables import social_activities
from clarion.workspaces.service import create_api_key
from tests.social.contract.server import serve
from tests.social.contract.wechat import WeChatState, app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
COVER = (SocialImage(PNG, "image/png"),)


@pytest.fixture
def wx() -> Iterator[tuple[WeChatState, str]]:
    wechat._TOKENS.clear()
    state = WeChatState()
    with serve(app(state)) as url:
        yield state, url
    wechat._TOKENS.clear()


def _run(url: str, fn: Any, secret: str = "app-secret-test") -> Any:
    async def go() -> Any:
        a = WeChatAdapter(
            "oa",
            {"appid": "wx1234567890abcdef", "base_url": url, "author": "Brand"},
            {"app_secret": secret, "webhook_token": "hooktoken"},
        )
        try:
            return await fn(a)
        finally:
            await a.close()

    return asyncio.run(go())


def test_an_article_is_drafted_and_submitted_with_one_cached_token(
    wx: tuple[WeChatState, str],
) -> None:
    state, url = wx
    post = SocialPost("新品上市\n点这里 https://brand.example.cn/a <b>", title="新品", images=COVER)
    first = _run(url, lambda a: a.publish(post))
    second = _run(url, lambda a: a.publish(post))  # a second adapter reuses the cached token
    assert state.token_calls == 1 and len(state.published) == 2
    article = next(iter(state.drafts.values()))
    assert article["title"] == "新品" and article["thumb_media_id"] in state.materials
    assert article["content"] == (
        "<p>新品上市</p><p>点这里 "
        '<a href="https://brand.example.cn/a">https://brand.example.cn/a</a> &lt;b&gt;</p>'
    )
    assert (first.post_id, second.post_id) == ("100001", "100002")


def test_an_expired_token_is_renewed_and_the_call_retried_once(wx: tuple[WeChatState, str]) -> None:
    state, url = wx
    _run(url, lambda a: a.publish(SocialPost("one", title="t", images=COVER)))
    # given the platform expired the cached token (42001)
    state.expire_all()
    # when publishing again, then a new token is fetched once and the post goes out
    _run(url, lambda a: a.publish(SocialPost("two", title="t", images=COVER)))
    assert state.token_calls == 2 and len(state.published) == 2


@pytest.mark.parametrize(
    ("case", "code", "retry"), [("secret", "auth", False), ("rate", "rate_limited", True)]
)
def test_errors_are_classified(
    wx: tuple[WeChatState, str], case: str, code: str, retry: bool
) -> None:
    state, url = wx
    state.rate_limited = case == "rate"
    secret = "wrong" if case == "secret" else "app-secret-test"
    with pytest.raises(PlatformError) as err:
        _run(url, lambda a: a.publish(SocialPost("x", title="t", images=COVER)), secret)
    assert (err.value.code, err.value.retry) == (code, retry)


def _signed(token: str = "hooktoken") -> dict[str, str]:
    ts, nonce = str(int(time.time())), "n0nce"
    return {"signature": push_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


TEXT_PUSH = """<xml><ToUserName><![CDATA[gh_brand]]></ToUserName>
<FromUserName><![CDATA[oUser123]]></FromUserName><CreateTime>1763800000</CreateTime>
<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[太棒了 JOIN]]></Content>
<MsgId>24000000000000001</MsgId></xml>"""
SUBSCRIBE_PUSH = """<xml><ToUserName><![CDATA[gh_brand]]></ToUserName>
<FromUserName><![CDATA[oUser456]]></FromUserName><CreateTime>1763800100</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"""


def test_the_webhook_verifies_signatures_and_stores_messages_and_follows_once(
    engine: Engine, actor: Actor, api_client: httpx.Client, wx: tuple[WeChatState, str]
) -> None:
    state, url = wx
    with engine.begin() as conn:
        acc = add_account(
            conn,
            actor,
            "oa",
            "wechat_oa",
            {
                "appid": state.appid,
                "base_url": url,
                "app_secret": state.secret,
                "webhook_token": "hooktoken",
            },
        )
        key = create_api_key(conn, actor, "t", ["admin"])[1]
    path = f"/v1/social/wechat/{acc['id']}"
    # the server-address check echoes echostr only when signed with the account's token
    ok = api_client.get(path, params={**_signed(), "echostr": "hello-wx"})
    bad = api_client.get(path, params={**_signed("other"), "echostr": "hello-wx"})
    assert (ok.status_code, ok.text) == (200, "hello-wx") and bad.status_code == 401
    # pushes are stored; WeChat's retry of the same push adds nothing; a forged one is refused
    for body in (TEXT_PUSH, TEXT_PUSH, SUBSCRIBE_PUSH):
        resp = api_client.post(path, params=_signed(), content=body.encode())
        assert (resp.status_code, resp.text) == (200, "success")
    assert (
        api_client.post(path, params=_signed("forged"), content=SUBSCRIBE_PUSH.encode()).status_code
        == 401
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                social_activities.c.kind, social_activities.c.author_id, social_activities.c.text
            ).order_by(social_activities.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("comment", "oUser123", "太棒了 JOIN"),
        ("follow", "oUser456", None),
    ]
    # and the account list through the API never shows a secret
    listed = api_client.get(
        "/v1/social/accounts", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert listed[0]["secrets_set"] == ["app_secret", "webhook_token"]
    assert state.secret not in str(listed) and "hooktoken" not in str(listed)


def test_the_queue_needs_a_title_and_publishes_the_article(
    engine: Engine, actor: Actor, wx: tuple[WeChatState, str]
) -> None:
    state, url = wx
    with engine.begin() as conn:
        add_account(
            conn,
            actor,
            "oa",
            "wechat_oa",
            {
                "appid": state.appid,
                "base_url": url,
                "app_secret": state.secret,
                "webhook_token": "t",
            },
        )
        with pytest.raises(ValidationFailed) as err:
            create_post(conn, actor, "oa", "no title")
        create_post(
            conn,
            actor,
            "oa",
            "正文",
            title="标题",
            images=[{"mime_type": "image/png", "data_b64": "iVBORw0KGgo="}],
        )
    assert err.value.fields["field"] == "title"
    assert publish_due(engine) == {"published": 1}
    assert len(state.published) == 1
