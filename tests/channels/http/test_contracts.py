"""Every HTTP provider against a local server playing its documented contract.

For each provider: the request is checked by the fake the way the provider checks it (auth or
signature, parameters); success and each error class map to Clarion's outcomes; a campaign
goes out through a worker built from the routes; the provider's status callbacks settle the
messages; an inbound message reaches the inbound handlers; forged callbacks are refused where
the provider signs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from tests.channels.http.conftest import add_connector, drain, statuses
from tests.channels.http.fakes import ALL, BROKEN, INVALID, THROTTLE, Fake

from clarion.audit.service import Actor
from clarion.channels.base import Inbound, OutboundMessage, SendResult
from clarion.channels.registry import provider
from clarion.channels.service import connector_config

SIGNING = {"vonage", "engagelab"}  # Twilio's is in test_twilio.py; the others do not sign


def _start(
    f: Fake, serve: Callable[[Starlette], str], engine: Engine, actor: Actor, api: httpx.Client
) -> Fake:
    """Serve fake ``f`` and point a connector "prov" at it."""
    url = serve(f.app())
    row = add_connector(
        engine,
        actor,
        "prov",
        f.kind,
        base_url=url,
        callback_base_url=str(api.base_url),
        sender="Acme",
        **f.settings(),
    )
    base = f"{str(api.base_url).rstrip('/')}/v1/callbacks/{row['callback_key']}"
    f.status_url, f.inbound_url = f"{base}/status", f"{base}/inbound"
    return f


@pytest.fixture(params=ALL, ids=lambda f: f.kind)
def fake(
    request: pytest.FixtureRequest,
    serve: Callable[[Starlette], str],
    engine: Engine,
    actor: Actor,
    api_client: httpx.Client,
) -> Fake:
    """Each provider's fake, running, with a connector "prov" pointed at it."""
    return _start(request.param(), serve, engine, actor, api_client)


@pytest.fixture(params=[f for f in ALL if f.kind in SIGNING], ids=lambda f: f.kind)
def signing_fake(
    request: pytest.FixtureRequest,
    serve: Callable[[Starlette], str],
    engine: Engine,
    actor: Actor,
    api_client: httpx.Client,
) -> Fake:
    """The fakes of providers that sign their callbacks."""
    return _start(request.param(), serve, engine, actor, api_client)


def _send(engine: Engine, actor: Actor, batch: list[OutboundMessage]) -> list[SendResult]:
    with engine.connect() as conn:
        cfg = connector_config(conn, actor.workspace_id, "prov")
    channel = provider(cfg.kind).build(cfg, None)

    async def go() -> list[SendResult]:
        await channel.open()
        try:
            return await channel.send(batch)
        finally:
            await channel.close()

    return asyncio.run(go())


def test_success_and_each_error_class_map_to_outcomes(
    engine: Engine, actor: Actor, fake: Fake
) -> None:
    # given messages to a good number and to numbers the provider refuses in each way
    numbers = ["+12025550100", INVALID, THROTTLE, BROKEN]
    batch = [
        OutboundMessage(ref=str(i), to=n, text="Your code is 4321", validity=timedelta(hours=1))
        for i, n in enumerate(numbers)
    ]
    # when they are sent through the provider's channel
    ok, *errors = _send(engine, actor, batch)
    # then the good one is accepted under the provider's id, with the text it was given
    assert ok.ok and ok.provider_ids
    assert fake.by_to("+12025550100").text == "Your code is 4321"
    # and each error class comes out as the provider's contract says
    for name, res in zip(("invalid", "throttle", "broken"), errors, strict=True):
        want_ok, want_permanent, want_code = fake.expected[name]
        assert res.ok is want_ok, (name, res)
        if not want_ok:
            assert (res.permanent, res.code) == (want_permanent, want_code), (name, res)


def test_a_unicode_text_is_sent_whole(engine: Engine, actor: Actor, fake: Fake) -> None:
    # given a text outside GSM-7
    text = "订单已发货 — 谢谢 🙏"
    # when it is sent
    (res,) = _send(engine, actor, [OutboundMessage(ref="1", to="+12025550100", text=text)])
    # then the provider received exactly that text
    assert res.ok and fake.by_to("+12025550100").text == text


def test_a_campaign_goes_out_and_callbacks_settle_it(
    engine: Engine,
    actor: Actor,
    make: Any,
    fake: Fake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two contacts, a route on the provider's connector and a launched campaign
    from clarion.campaigns.control import launch
    from clarion.delivery.channels import build_channels
    from clarion.delivery.worker import Worker

    good, bad = "+12025550100", "+12025550111"
    make.contacts([good, bad])
    make.route("prov")
    body = "Acme: 20% off today. Reply STOP to opt out"
    launch(engine, actor, make.campaign(variants=[{"name": "A", "body": body}]))
    # when a worker built from the routes drains the queue
    worker = Worker(engine, workspace_id=actor.workspace_id)
    with engine.connect() as conn:
        for name, ch in build_channels(conn, actor.workspace_id, worker.on_report).items():
            worker.add_channel(name, ch)
    drain(worker)
    # then the provider accepted both
    assert statuses(engine) == {good: "submitted", bad: "submitted"}
    # when the provider reports one delivered and one failed
    assert fake.report(fake.by_to(good), True).status_code == 200
    assert fake.report(fake.by_to(bad), False).status_code == 200
    # then the outbox follows (the failure has no other route: it is final)
    assert statuses(engine) == {good: "delivered", bad: "failed"}
    # and a reply reaches every inbound handler, named by its connector
    got: list[Inbound] = []
    monkeypatch.setattr(
        "clarion.delivery.hooks.inbound_handlers",
        lambda: [("test", lambda _e, ws, batch: got.extend(batch))],
    )
    assert fake.inbound(good, "12025550199", "STOP").status_code == 200
    assert [(i.sender.lstrip("+")[-10:], i.text, i.connector) for i in got] == [
        ("2025550100", "STOP", "prov")
    ]


def test_a_report_ahead_of_its_submit_is_answered_503_for_a_retry(
    engine: Engine, actor: Actor, fake: Fake
) -> None:
    # given a message the provider accepted but Clarion has not recorded (no outbox row)
    (res,) = _send(engine, actor, [OutboundMessage(ref="1", to="+12025550100", text="Hi")])
    assert res.ok
    # when the provider reports it
    resp = fake.report(fake.by_to("+12025550100"), True)
    # then Clarion asks for the report again later instead of dropping it
    assert resp.status_code == 503


def test_a_forged_callback_is_refused(engine: Engine, actor: Actor, signing_fake: Fake) -> None:
    fake = signing_fake
    # given a message the provider accepted
    (res,) = _send(engine, actor, [OutboundMessage(ref="1", to="+12025550100", text="Hi")])
    assert res.ok
    # when a report whose signature does not match arrives
    resp = fake.report(fake.by_to("+12025550100"), False, tamper=True)
    # then it is refused
    assert resp.status_code == 403


def test_an_unknown_callback_key_is_not_found(api_client: httpx.Client) -> None:
    # when a callback names no connector
    resp = api_client.post("/v1/callbacks/cb_nothing/status", json=[])
    # then it is a 404 with Clarion's error body
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
