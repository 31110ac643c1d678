"""Twilio contract: Messages requests, error classes, signed status and inbound callbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from tests.channels.http.conftest import add_connector, drain, statuses
from tests.channels.http.fakes import BROKEN, INVALID, SLOW, THROTTLE, FakeTwilio

from clarion.audit.service import Actor
from clarion.channels.base import Inbound, OutboundMessage
from clarion.channels.registry import provider
from clarion.channels.service import connector_config

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "tw-auth-token-42"


@pytest.fixture
def twilio(serve: Callable[[Starlette], str]) -> tuple[FakeTwilio, str]:
    fake = FakeTwilio(SID, TOKEN)
    return fake, serve(fake.app())


def _connector(engine: Engine, actor: Actor, url: str, api: httpx.Client, **kw: Any) -> None:
    add_connector(
        engine,
        actor,
        "tw",
        "twilio",
        account_sid=SID,
        auth_token=kw.pop("auth_token", TOKEN),
        sender="+15005550006",
        base_url=url,
        callback_base_url=str(api.base_url),
        **kw,
    )


async def _once(channel: Any, batch: list[OutboundMessage]) -> list[Any]:
    """Send one batch on a channel and close it."""
    try:
        return list(await channel.send(batch))
    finally:
        await channel.close()


def test_each_error_class_maps_to_its_outcome(
    engine: Engine, actor: Actor, twilio: tuple[FakeTwilio, str], api_client: httpx.Client
) -> None:
    # given a Twilio connector pointed at the local Twilio
    fake, url = twilio
    _connector(engine, actor, url, api_client)
    with engine.connect() as conn:
        cfg = connector_config(conn, actor.workspace_id, "tw")
    channel = provider("twilio").build(cfg, None)
    batch = [
        OutboundMessage(ref=str(i), to=to, text="Hi", validity=timedelta(days=2))
        for i, to in enumerate(["+12025550100", INVALID, THROTTLE, BROKEN, "12025550101"])
    ]

    # when the batch is sent
    async def go() -> list[Any]:
        await channel.open()
        try:
            return await channel.send(batch)
        finally:
            await channel.close()

    import asyncio

    ok, invalid, throttled, broken, no_plus = asyncio.run(go())
    # then success carries Twilio's SID, and each error class keeps Twilio's code
    assert ok.ok and ok.provider_ids[0].startswith("SM")
    assert (invalid.ok, invalid.permanent, invalid.code) == (False, True, "21211")
    assert (throttled.permanent, throttled.code) == (False, "THROTTLED")
    assert (broken.permanent, broken.code) == (False, "20500")
    # and numbers go out in E.164 with the status callback and a clamped validity
    assert no_plus.ok and fake.by_to("+12025550101").to == "+12025550101"
    callback = fake.by_to("+12025550100").callback
    assert callback and callback.endswith("/status")


def test_a_wrong_auth_token_fails_transiently_so_the_message_is_retried(
    engine: Engine, actor: Actor, twilio: tuple[FakeTwilio, str], api_client: httpx.Client
) -> None:
    # given a connector with a wrong token
    fake, url = twilio
    _connector(engine, actor, url, api_client, auth_token="wrong-token-1")
    with engine.connect() as conn:
        cfg = connector_config(conn, actor.workspace_id, "tw")
    channel = provider("twilio").build(cfg, None)
    import asyncio

    # when a message is sent
    (res,) = asyncio.run(_once(channel, [OutboundMessage(ref="1", to="+12025550100", text="Hi")]))
    # then Twilio's 20003 is a transient failure (fixing the credential lets it through)
    assert (res.ok, res.permanent, res.code) == (False, False, "20003")
    assert fake.accepted == []


def test_a_campaign_goes_out_through_twilio_and_signed_callbacks_settle_it(
    engine: Engine,
    actor: Actor,
    make: Any,
    twilio: tuple[FakeTwilio, str],
    api_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given contacts, a route on a Twilio connector and a launched campaign
    from clarion.campaigns.control import launch
    from clarion.delivery.channels import build_channels
    from clarion.delivery.worker import Worker

    fake, url = twilio
    good, bad = "+12025550100", "+12025550111"
    make.contacts([good, bad, INVALID])
    make.route("tw")
    _connector(engine, actor, url, api_client)
    cid = make.campaign(
        variants=[{"name": "A", "body": "Acme: 20% off today. Reply STOP to opt out"}]
    )
    launch(engine, actor, cid)
    # when a worker built from the routes drains the queue
    worker = Worker(engine, workspace_id=actor.workspace_id)
    with engine.connect() as conn:
        for name, ch in build_channels(conn, actor.workspace_id, worker.on_report).items():
            worker.add_channel(name, ch)
    drain(worker)
    # then Twilio accepted two messages and the invalid number failed for good
    assert statuses(engine) == {good: "submitted", bad: "submitted", INVALID: "failed"}
    # when Twilio reports one delivered and one undelivered (signed), and one forged report
    assert fake.report(fake.by_to(good), "sent").status_code == 200  # not final: no change
    assert fake.report(fake.by_to(bad), "undelivered", "30003", tamper=True).status_code == 403
    assert statuses(engine)[bad] == "submitted"
    assert fake.report(fake.by_to(good), "delivered").status_code == 200
    assert fake.report(fake.by_to(bad), "undelivered", "30003").status_code == 200
    # then the outbox follows the genuine reports only
    assert statuses(engine) == {good: "delivered", bad: "failed", INVALID: "failed"}

    # and an inbound SMS reaches every inbound handler
    got: list[Inbound] = []
    monkeypatch.setattr(
        "clarion.delivery.hooks.inbound_handlers",
        lambda: [("test", lambda _e, ws, batch: got.extend(batch))],
    )
    inbound_url = (fake.by_to(good).callback or "").replace("/status", "/inbound")
    resp = fake.inbound(inbound_url, good, "+15005550006", "STOP")
    assert resp.status_code == 200 and "<Response>" in resp.text
    assert [(i.sender, i.text, i.connector) for i in got] == [(good.lstrip("+"), "STOP", "tw")]


def test_an_answer_that_never_comes_is_uncertain_and_a_refused_connection_transient(
    engine: Engine, actor: Actor, twilio: tuple[FakeTwilio, str], api_client: httpx.Client
) -> None:
    import asyncio
    import socket

    # given a connector with a short timeout, and a port where nothing listens
    _, url = twilio
    _connector(engine, actor, url, api_client, timeout_s=0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with engine.connect() as conn:
        cfg = connector_config(conn, actor.workspace_id, "tw")
    slow = provider("twilio").build(cfg, None)
    gone = provider("twilio").build(replace(cfg, settings={**cfg.settings, "base_url": dead}), None)
    # when a message is sent to a provider that does not answer in time, and to one not there
    (late,) = asyncio.run(_once(slow, [OutboundMessage(ref="1", to=SLOW, text="Hi")]))
    (refused,) = asyncio.run(_once(gone, [OutboundMessage(ref="2", to="+12025550100", text="Hi")]))
    # then the first may have been accepted (uncertain), the second surely was not (transient)
    assert (late.ok, late.uncertain, late.code) == (False, True, "TIMEOUT")
    assert (refused.ok, refused.uncertain, refused.permanent, refused.code) == (
        False,
        False,
        False,
        "CONNECT",
    )
