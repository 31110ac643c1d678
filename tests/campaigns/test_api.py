"""The campaigns API over HTTP: create, estimate, launch, progress, cancel; routes; /metrics."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine

from clarion.campaigns.jobs import plan_launched


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


SPEC = {
    "name": "Spring sale",
    "audience": {"all": True},
    "variants": [{"name": "A", "body": "Acme: hi {{ contact.first_name }}. Reply STOP to opt out"}],
}


def test_a_campaign_through_the_api(
    client: httpx.Client, engine: Engine, make: Any, token: Any
) -> None:
    # given two consenting contacts, one without consent, and a route
    make.contacts(["+12025550100", "+12025550101"])
    make.contacts(["+12025550102"], consent=None)
    admin = _auth(token(["admin"]))
    assert (
        client.post(
            "/v1/routes", json={"name": "main", "connector": "sim"}, headers=admin
        ).status_code
        == 201
    )
    writer = _auth(token(["campaigns:write", "campaigns:read"]))
    # when a campaign is created, estimated and launched
    created = client.post("/v1/campaigns", json=SPEC, headers=writer)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    est = client.post(f"/v1/campaigns/{cid}/estimate", headers=writer).json()
    assert (est["planned"], est["excluded"]) == (2, {"no_consent": 1})
    launched = client.post(f"/v1/campaigns/{cid}/launch", headers=writer)
    # then the launch is accepted at once, its plan left to a worker
    assert launched.status_code == 202, launched.text
    assert (launched.json()["status"], launched.json()["plan"]["state"]) == ("running", "pending")
    assert launched.json()["messages"] == {}
    # and once a worker's planning job has run, progress shows the plan and the queue
    assert plan_launched(engine, "worker-1") == 2
    prog = client.get(f"/v1/campaigns/{cid}/progress", headers=writer).json()
    assert (prog["status"], prog["messages"]) == ("running", {"queued": 2})
    assert prog["plan"]["state"] == "planned"
    assert (prog["plan"]["report"]["planned"], prog["plan"]["report"]["excluded"]) == (
        2,
        {"no_consent": 1},
    )
    # and a cancel recalls the queue
    recall = client.post(f"/v1/campaigns/{cid}/cancel", json={}, headers=writer).json()
    assert recall == {"recalled": 2, "already_sent": 0, "in_flight": 0}
    # and a second launch is refused with the state named
    again = client.post(f"/v1/campaigns/{cid}/launch", headers=writer)
    assert again.status_code == 409 and again.json()["error"]["fields"]["value"] == "cancelled"


def test_invalid_campaigns_and_missing_scopes_are_refused(client: httpx.Client, token: Any) -> None:
    reader = _auth(token(["campaigns:read"]))
    assert client.post("/v1/campaigns", json=SPEC, headers=reader).status_code == 403
    writer = _auth(token(["campaigns:write"]))
    bad = {
        **SPEC,
        "variants": [
            {"name": "A", "body": "x", "split_pct": 50},
            {"name": "B", "body": "y", "split_pct": 20},
        ],
    }
    res = client.post("/v1/campaigns", json=bad, headers=writer)
    assert res.status_code == 422 and "variants" in res.json()["error"]["fields"]["field"]
    assert (
        client.get("/v1/campaigns/999", headers=_auth(token(["campaigns:read"]))).status_code == 404
    )


def test_a_text_that_does_not_lint_is_refused_with_where(client: httpx.Client, token: Any) -> None:
    # given a variant using the old flat names and a filter that does not exist
    writer = _auth(token(["campaigns:write"]))
    bad = {
        **SPEC,
        "variants": [
            {"name": "A", "body": "Acme: hi {{ contact.first_name }}. Reply STOP", "split_pct": 50},
            {"name": "B", "body": "Acme: hi\n{{ first_name | shout }}. STOP", "split_pct": 50},
        ],
    }
    # when the campaign is created
    res = client.post("/v1/campaigns", json=bad, headers=writer)
    # then it is refused, naming the variant, the line and column, and every problem
    assert res.status_code == 422, res.text
    fields = res.json()["error"]["fields"]
    assert (fields["campaign_variant"], fields["field"], fields["line"]) == ("B", "variants[1]", 2)
    assert {p["name"] for p in fields["problems"]} >= {"first_name", "shout"}
    assert res.json()["error"]["message"].startswith("variant 'B': ")


def test_metrics_expose_queue_depth(
    client: httpx.Client, engine: Engine, make: Any, token: Any
) -> None:
    make.contacts(["+12025550100"])
    make.route("main")
    writer = _auth(token(["campaigns:write"]))
    cid = client.post("/v1/campaigns", json=SPEC, headers=writer).json()["id"]
    launched = client.post(f"/v1/campaigns/{cid}/launch", headers=writer)
    assert launched.status_code == 202, launched.text
    assert plan_launched(engine, "worker-1") == 1
    res = client.get("/metrics")
    assert res.status_code == 200
    assert 'clarion_queue_messages{status="queued"} 1.0' in res.text, res.text[-3000:]
