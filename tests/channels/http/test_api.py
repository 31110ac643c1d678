"""The provider connectors API: secrets accepted, never returned; mistakes named."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.workspaces.service import create_api_key

SID = "AC" + "0123456789abcdef" * 2


def test_api_manages_provider_connectors_without_returning_secrets(
    engine: Engine, actor: Actor, api_client: httpx.Client
) -> None:
    # given an admin key and a read-only key
    with engine.begin() as conn:
        _, admin = create_api_key(conn, actor, "ops", ["admin"])
        _, reader = create_api_key(conn, actor, "ro", ["reports:read"])
    auth = {"Authorization": f"Bearer {admin}"}
    body = {
        "name": "tw",
        "kind": "twilio",
        "settings": {"account_sid": SID, "auth_token": "very-secret-token"},
    }
    # when a Twilio connector is created, changed, read and listed
    made = api_client.post("/v1/connectors/providers", json=body, headers=auth)
    changed = api_client.patch(
        "/v1/connectors/providers/tw",
        json={"settings": {"auth_token": "rotated-secret-token"}, "enabled": False},
        headers=auth,
    )
    shown = api_client.get("/v1/connectors/providers/tw", headers=auth)
    listed = api_client.get("/v1/connectors/providers", headers=auth)
    # then no answer carries a secret, only the names of those set
    assert made.status_code == 201 and changed.status_code == 200
    for resp in (made, changed, shown, listed):
        assert "secret-token" not in resp.text
    assert shown.json()["secrets_set"] == ["auth_token"] and shown.json()["enabled"] is False
    # and a wrong setting is a 422 naming the field; a reader may not look
    bad = api_client.patch(
        "/v1/connectors/providers/tw", json={"settings": {"concurrency": 0}}, headers=auth
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "concurrency"
    denied = api_client.get(
        "/v1/connectors/providers", headers={"Authorization": f"Bearer {reader}"}
    )
    assert denied.status_code == 403
    # and the connector is deleted
    assert api_client.delete("/v1/connectors/providers/tw", headers=auth).status_code == 204
    assert api_client.get("/v1/connectors/providers/tw", headers=auth).status_code == 404
