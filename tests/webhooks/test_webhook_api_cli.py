"""Webhook endpoints, deliveries and replay through the API and the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.config import get_settings
from clarion.db.types import utcnow
from clarion.sending.service import SendRequest, get_message, send_message
from clarion.webhooks import sender
from clarion.webhooks.collector import collect
from clarion.webhooks.signing import verify


def _deliver_one(engine: Engine, actor: Actor, run_worker: Any, to: str) -> int:
    with engine.begin() as conn:
        mid = int(send_message(conn, actor, SendRequest(to=to, text="hello"))["id"])

    def done() -> bool:
        with engine.connect() as conn:
            return bool(get_message(conn, actor.workspace_id, mid)["status"] == "delivered")

    run_worker(engine, actor.workspace_id, done)
    return mid


def test_endpoints_deliveries_and_replay_through_the_api(
    api_client: httpx.Client,
    engine: Engine,
    actor: Actor,
    smsc: Any,
    run_worker: Any,
    receiver: Any,
    key: Any,
) -> None:
    # given an endpoint made through the API, for delivered events
    admin = key("webhooks:write", "messages:read")
    made = api_client.post(
        "/v1/webhooks/endpoints",
        json={"url": receiver.url, "events": ["message.delivered"]},
        headers=admin,
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    assert "secret" not in api_client.get("/v1/webhooks/endpoints", headers=admin).json()[0]
    # and a delivered message whose webhook the receiver refuses with 500
    mid = _deliver_one(engine, actor, run_worker, "+12025550160")
    collect(engine)
    receiver.answers = [500]
    assert sender.send_due(engine, "w1")["failed"] == 1
    # when the delivery is listed and replayed through the API
    listed = api_client.get(f"/v1/webhooks/deliveries?message_id={mid}", headers=admin).json()
    assert [(d["status"], d["last_status"]) for d in listed] == [("pending", 500)]
    replayed = api_client.post(
        "/v1/webhooks/deliveries/replay", json={"ids": [listed[0]["id"]]}, headers=admin
    )
    assert replayed.json() == {"replayed": 1}
    # then it goes out at once, signed with the endpoint's secret
    assert sender.send_due(engine, "w1")["delivered"] == 1
    verify(
        made.json()["secret"], receiver.got[-1].headers["Clarion-Signature"], receiver.got[-1].body
    )
    # and a bad event type, a bad URL and a missing scope are refused clearly
    bad = api_client.post(
        "/v1/webhooks/endpoints", json={"url": receiver.url, "events": ["x"]}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "events"
    bad = api_client.post("/v1/webhooks/endpoints", json={"url": "ftp://x"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "url"
    reader = key("messages:read")
    assert api_client.get("/v1/webhooks/endpoints", headers=reader).status_code == 403
    # and the endpoint can be rotated, switched off and deleted
    eid = made.json()["id"]
    rotated = api_client.patch(
        f"/v1/webhooks/endpoints/{eid}",
        json={"rotate_secret": True, "active": False},
        headers=admin,
    ).json()
    assert rotated["secret"] != made.json()["secret"] and rotated["active"] is False
    assert api_client.delete(f"/v1/webhooks/endpoints/{eid}", headers=admin).status_code == 204
    assert api_client.get("/v1/webhooks/endpoints", headers=admin).json() == []


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Any:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 0, res.output
        return orjson.loads(res.stdout)

    yield run
    get_settings.cache_clear()


def test_webhook_commands_add_list_and_replay_dead_letters(
    cli: Any, engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given an endpoint added from the command line that is down for every try
    made = cli("webhook", "add", receiver.url, "--event", "message.delivered")
    assert [e["id"] for e in cli("webhook", "list")] == [made["id"]]
    _deliver_one(engine, actor, run_worker, "+12025550161")
    collect(engine)
    receiver.answers = [503] * sender.MAX_ATTEMPTS
    step = timedelta(seconds=sender.MAX_DELAY_S + 1)  # past any backoff, without waiting
    for i in range(sender.MAX_ATTEMPTS):
        sender.send_due(engine, "w1", now=utcnow() + (i + 1) * step)
    assert [d["status"] for d in cli("webhook", "deliveries", "--status", "dead")] == ["dead"]
    # when the dead letters are replayed from the command line
    assert cli("webhook", "replay") == {"replayed": 1}
    # then the next pass delivers it
    assert sender.send_due(engine, "w1")["delivered"] == 1
    assert cli("webhook", "deliveries", "--status", "delivered")[0]["attempts"] == 1
    assert cli("webhook", "secret")["secret"].startswith("whsec_")
