"""The inbound API (a gateway's MOs, keywords, signups, the inbox) and the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.config import get_settings
from clarion.consent.service import current_consent
from clarion.workspaces.service import create_api_key


@pytest.fixture
def auth(engine: Engine, actor: Actor) -> Callable[..., dict[str, str]]:
    def make(*scopes: str) -> dict[str, str]:
        with engine.begin() as conn:
            key = create_api_key(conn, actor, "t", list(scopes))[1]
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        res = runner.invoke(app, list(args))
        assert res.exit_code == code, res.output
        return orjson.loads(res.stdout) if code == 0 and res.stdout.strip() else res.output

    yield run
    get_settings.cache_clear()


def test_a_gateway_hands_over_mos_once_and_a_conversation_is_answered_through_the_api(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client, auth: Any
) -> None:
    (cid,) = make.contacts(["+12025550141"])
    make.route("sim")
    gateway = auth("events:write")
    mo = {"from": "+12025550141", "to": "12345", "text": "Is the sale still on?", "id": "gw-1"}
    # when the gateway posts an MO, then retries the same one
    first = api_client.post("/v1/inbound", json={"messages": [mo]}, headers=gateway)
    again = api_client.post("/v1/inbound", json={"messages": [mo]}, headers=gateway)
    # then it is handled once, as a reply in a conversation
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 1 and first.json()["results"][0]["intent"] == "reply"
    assert again.json() == {"accepted": 0, "duplicates": 1, "results": []}
    # when an agent lists the inbox, opens the conversation and answers
    agent = auth("messages:read", "messages:send")
    convs = api_client.get("/v1/inbox", headers=agent).json()
    assert [(c["contact_id"], c["unread"]) for c in convs] == [(cid, 1)]
    conv_id = convs[0]["id"]
    shown = api_client.get(f"/v1/inbox/{conv_id}", headers=agent).json()
    assert [m["text"] for m in shown["messages"]] == ["Is the sale still on?"]
    sent = api_client.post(
        f"/v1/inbox/{conv_id}/reply", json={"text": "Until Sunday!"}, headers=agent
    )
    # then the answer is queued and filed, and the conversation is read
    assert sent.status_code == 201 and sent.json()["sent"] is True
    shown = api_client.get(f"/v1/inbox/{conv_id}", headers=agent).json()
    assert [m["direction"] for m in shown["messages"]] == ["in", "out"] and shown["unread"] == 0
    # and a closed conversation leaves the default list
    api_client.post(f"/v1/inbox/{conv_id}/status", json={"status": "closed"}, headers=agent)
    assert api_client.get("/v1/inbox", headers=agent).json() == []


def test_bad_input_is_refused_naming_the_field(
    api_client: httpx.Client, auth: Any, make: Any
) -> None:
    gateway = auth("events:write")
    bad = api_client.post(
        "/v1/inbound",
        json={"messages": [{"from": "+1202", "to": "1", "text": "x", "received_at": "2026-01-01"}]},
        headers=gateway,
    )
    assert bad.status_code == 422 and "received_at" in bad.text
    writer = auth("consent:write", "consent:read")
    stop = api_client.post(
        "/v1/keywords", json={"keyword": "Stop", "action": "opt_in"}, headers=writer
    )
    assert stop.status_code == 409 and stop.json()["error"]["fields"]["field"] == "keyword"
    odd = api_client.post("/v1/keywords", json={"keyword": "GO", "action": "dance"}, headers=writer)
    assert odd.status_code == 422 and odd.json()["error"]["fields"]["value"] == "dance"
    setting = api_client.patch("/v1/inbound/settings", json={"colour": "red"}, headers=writer)
    assert setting.status_code == 422 and setting.json()["error"]["fields"]["field"] == "colour"
    # and the inbox needs its scope
    assert api_client.get("/v1/inbox", headers=gateway).status_code == 403


def test_a_web_signup_sends_a_confirmation_and_the_keyword_api_classifies(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client, auth: Any
) -> None:
    make.route("sim")
    writer = auth("consent:write", "consent:read")
    # when a number signs up on the web
    got = api_client.post(
        "/v1/signups",
        json={"phone": "+12025550142", "statement": "Yes, text me Acme offers"},
        headers=writer,
    )
    # then consent is pending and a confirmation request was queued
    assert got.status_code == 202, got.text
    body = got.json()
    assert body["status"] == "pending" and body["reply"]["sent"] is True
    with engine.connect() as conn:
        state = current_consent(conn, actor.workspace_id, body["contact_id"])
    assert [(s["status"], s["proof"]) for s in state] == [("pending", "Yes, text me Acme offers")]
    # and the classify endpoint explains replies without acting
    said = api_client.post(
        "/v1/inbound/classify", json={"text": "ＳＴＯＰ ＡＬＬ"}, headers=writer
    ).json()
    assert (said["intent"], said["all_purposes"], said["normalised"]) == (
        "opt_out",
        True,
        "stop all",
    )
    # and a bad number is refused naming the field
    bad = api_client.post("/v1/signups", json={"phone": "not a number"}, headers=writer)
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "phone"


def test_the_cli_manages_keywords_settings_and_the_inbox(
    engine: Engine, actor: Actor, make: Any, cli: Any
) -> None:
    from clarion.inbound.receive import InboundIn
    from clarion.inbound.service import receive

    make.route("sim")
    (cid,) = make.contacts(["+12025550143"])
    # keywords and settings
    added = cli("keywords", "add", "JOIN", "--action", "join")
    assert (added["keyword"], added["action"], added["double_opt_in"]) == ("join", "join", True)
    assert [k["keyword"] for k in cli("keywords", "list")["workspace"]] == ["join"]
    assert "built-in opt_out keyword" in cli("keywords", "add", "STOP", "--action", "help", code=2)
    assert cli("keywords", "test", "stop texting me please")["intent"] == "opt_out"
    out = cli("keywords", "settings", "--set", "brand=Acme", "--set", "optin_ttl_hours=24")
    assert (out["brand"], out["optin_ttl_hours"]) == ("Acme", 24)
    cli("keywords", "remove", "JOIN")
    assert cli("keywords", "list")["workspace"] == []
    # the inbox: a reply arrives, is listed, shown, answered and closed
    receive(
        engine, [InboundIn("+12025550143", "12345", "What sizes?")], workspace_id=actor.workspace_id
    )
    (conv,) = cli("inbox", "list")
    assert (conv["contact_id"], conv["last_text"]) == (cid, "What sizes?")
    assert cli("inbox", "show", str(conv["id"]))["messages"][0]["text"] == "What sizes?"
    assert cli("inbox", "reply", str(conv["id"]), "S to XL")["sent"] is True
    cli("inbox", "close", str(conv["id"]))
    assert cli("inbox", "list") == []
    assert len(cli("inbox", "list", "--status", "all")) == 1
    assert "no conversation 99" in cli("inbox", "show", "99", code=2)
