"""Explain through the service, the ``clarion`` command line and the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.compliance.explain import SendSpec, campaign_spec, explain
from clarion.compliance.settings import set_policy
from clarion.errors import NotFound, ValidationFailed
from clarion.messages.lint import ContextSchema
from clarion.messages.service import save_template
from clarion.workspaces.service import create_api_key

from .conftest import MakeContact

runner = CliRunner()
LATE_LA = datetime(2026, 5, 7, 4, 30, tzinfo=UTC)  # 21:30 PDT on 6 May


def test_explain_renders_a_saved_template_for_the_contact_then_screens_it(
    engine: Engine, workspace_id: int, actor: Actor, make_contact: MakeContact
) -> None:
    # given a Chinese contact and a saved template whose variable renders to a link
    cid = make_contact("+8613812345678", attributes={"link": "https://acme.cn/x"})
    with engine.begin() as conn:
        save_template(
            conn,
            actor,
            name="promo",
            body="【好店】{{ contact.phone }} 专属优惠 {{ attributes.link }} 回T退订",
            known=ContextSchema(open_attributes=True),
        )
    # when explained
    with engine.connect() as conn:
        got = explain(
            conn,
            workspace_id,
            "+8613812345678",
            SendSpec(template="promo"),
            datetime(2026, 5, 6, 4, 0, tzinfo=UTC),
        )
    # then the text is rendered for the contact and the link in a variable is blocked
    assert got.text == "【好店】+8613812345678 专属优惠 https://acme.cn/x 回T退订"
    assert not got.decision.allowed
    assert [r.code for r in got.decision.reasons] == ["link_in_variable"]
    assert got.as_dict()["contact"]["id"] == cid


def test_explain_refuses_unknown_contacts_and_ambiguous_specs(
    engine: Engine, workspace_id: int
) -> None:
    at = datetime(2026, 5, 6, tzinfo=UTC)
    with engine.connect() as conn:
        with pytest.raises(NotFound):
            explain(conn, workspace_id, "+13105550199", SendSpec("hi"), at)
        with pytest.raises(ValidationFailed):
            explain(conn, workspace_id, 1, SendSpec(), at)


def test_clarion_explain_prints_when_and_why(
    engine: Engine, actor: Actor, make_contact: MakeContact, cli_db: None
) -> None:
    # given a Los Angeles contact and a branded workspace
    make_contact("+13105550123")
    with engine.begin() as conn:
        set_policy(conn, actor, "*", {"brand": "Acme"})
    # when a marketing text at 21:30 local time is explained
    text = "Acme: sale today. Reply STOP to opt out"
    args = ["explain", "-c", "+13105550123", "-t", text, "--at", LATE_LA.isoformat()]
    result = runner.invoke(app, args)
    # then it would go at 08:00 the next morning, naming the rule
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("WOULD SEND at 2026-05-07 15:00 UTC")
    assert "zone America/Los_Angeles (from phone)" in result.stdout
    assert "[info] quiet_hours (US.send_window): 21:30 in America/Los_Angeles" in result.stdout


def test_clarion_explain_exits_1_and_names_each_rule_when_blocked(
    make_contact: MakeContact, cli_db: None
) -> None:
    make_contact("+13055550123", consent=None)
    args = ["explain", "-c", "+13055550123", "-t", "Big casino night", "--json"]
    result = runner.invoke(app, [*args, "--at", "2026-05-06T12:00:00-04:00"])
    assert result.exit_code == 1, result.output
    got = json.loads(result.stdout)
    assert got["would_send"] is False and got["jurisdiction"] == "US-FL"
    assert [r["code"] for r in got["reasons"]] == [
        "no_consent",
        "content_blocked",
        "brand_not_configured",
        "first_message_stop_missing",
    ]


def test_clarion_explain_needs_an_aware_time(make_contact: MakeContact, cli_db: None) -> None:
    make_contact("+13105550123")
    result = runner.invoke(
        app, ["explain", "-c", "+13105550123", "-t", "x", "--at", "2026-05-06T12:00"]
    )
    assert result.exit_code == 2


def test_clarion_screen_and_suppression(cli_db: None) -> None:
    result = runner.invoke(app, ["screen", "-j", "CN", "【店】加ＱＱ领大奖，回T退订"])
    assert result.exit_code == 1
    got = json.loads(result.stdout)
    assert [(h["category"], h["start"], h["end"]) for h in got["hits"]] == [
        ("contact_diversion", 3, 6),
        ("lottery_prizes", 7, 9),
    ]
    ok = runner.invoke(app, ["screen", "--phone", "+447400123456", "Acme sale. Reply STOP"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["verdict"] == "ok"
    assert runner.invoke(app, ["suppression", "add", "+13105550123"]).exit_code == 0
    listed = runner.invoke(app, ["suppression", "list"])
    assert [s["value"] for s in json.loads(listed.stdout)] == ["+13105550123"]
    assert runner.invoke(app, ["suppression", "remove", "+13105550123"]).exit_code == 0
    assert runner.invoke(app, ["suppression", "remove", "+13105550123"]).exit_code == 2


def _key(engine: Engine, actor: Actor, scopes: list[str]) -> dict[str, str]:
    with engine.begin() as conn:
        _id, token = create_api_key(conn, actor, "t", scopes)
    return {"authorization": f"Bearer {token}"}


def test_api_explain_and_screen(
    engine: Engine, actor: Actor, make_contact: MakeContact, client: httpx.Client
) -> None:
    cid = make_contact("+8613812345678")
    headers = _key(engine, actor, ["consent:read"])
    r = client.post(
        "/v1/compliance/explain",
        json={
            "contact": cid,
            "text": "【好店】新品上市，回T退订",
            "at": "2026-05-06T22:00:00+08:00",
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["would_send"] is True
    assert body["send_at"] == "2026-05-07T00:00:00+00:00"
    assert [x["code"] for x in body["reasons"]] == ["quiet_hours"]
    r = client.post(
        "/v1/compliance/screen",
        json={"text": "Go to bit.ly/x", "jurisdiction": "US"},
        headers=headers,
    )
    assert r.json()["verdict"] == "block" and r.json()["hits"][0]["code"] == "url_shortener"
    r = client.post(
        "/v1/compliance/screen", json={"text": "x", "jurisdiction": "XX"}, headers=headers
    )
    assert r.status_code == 422 and r.json()["error"]["fields"]["field"] == "jurisdiction"


def test_api_suppressions_and_policies_need_their_scopes(
    engine: Engine, actor: Actor, client: httpx.Client
) -> None:
    reader = _key(engine, actor, ["consent:read"])
    writer = _key(engine, actor, ["consent:write", "consent:read"])
    admin = _key(engine, actor, ["admin"])
    entries = {"entries": [{"value": "a@example.com", "reason": "bounce"}]}
    assert (
        client.post("/v1/compliance/suppressions", json=entries, headers=reader).status_code == 403
    )
    r = client.post("/v1/compliance/suppressions", json=entries, headers=writer)
    assert r.status_code == 201 and r.json() == {"added": 1}
    listed = client.get("/v1/compliance/suppressions", headers=reader).json()
    assert [s["value"] for s in listed] == ["a@example.com"]
    assert (
        client.delete("/v1/compliance/suppressions/a@example.com", headers=writer).status_code
        == 204
    )
    # policies: admins set, readers see the merged result
    assert (
        client.put("/v1/compliance/policies/US-FL", json={"brand": "X"}, headers=writer).status_code
        == 403
    )
    r = client.put(
        "/v1/compliance/policies/*", json={"caps": [{"count": 2, "days": 7}]}, headers=admin
    )
    assert r.status_code == 200, r.text
    fl = client.get("/v1/compliance/policies/US-FL", headers=reader).json()
    assert fl["send_window"] == ["08:00", "20:00"]
    assert {(c["count"], c["hours"]) for c in fl["caps"]} == {(2, 168), (3, 24)}
    bad = client.put("/v1/compliance/policies/US", json={"shorteners": "maybe"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "US.shorteners"


def test_explain_a_campaigns_message_with_its_purpose_and_channel(
    engine: Engine, workspace_id: int, actor: Actor, make_contact: MakeContact
) -> None:
    # given a transactional campaign and a contact without marketing consent
    from clarion.campaigns.models import CampaignCreate
    from clarion.campaigns.service import create_campaign

    make_contact("+13105550123", consent=None)
    spec = {
        "name": "Shipping notice",
        "purpose": "transactional",
        "audience": {"all": True},
        "variants": [{"name": "A", "body": "Your order has shipped"}],
    }
    with engine.begin() as conn:
        camp = create_campaign(conn, actor, CampaignCreate.model_validate(spec))
    # when explained at 23:00 local time
    with engine.connect() as conn:
        got = explain(
            conn, workspace_id, "+13105550123", campaign_spec(conn, workspace_id, camp), LATE_LA
        )
        # and a variant that does not exist is refused
        with pytest.raises(NotFound):
            campaign_spec(conn, workspace_id, camp, "Z")
    # then the campaign's purpose applies: sent now, no consent needed, no quiet hours
    assert got.decision.allowed and got.decision.send_at == LATE_LA
    assert got.as_dict()["campaign_id"] == camp and got.as_dict()["purpose"] == "transactional"
