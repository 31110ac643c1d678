"""REST API for contacts, consent and imports: API keys, scopes, JSON errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from starlette.exceptions import StarletteDeprecationWarning

from clarion.api.app import create_app
from clarion.audit.service import Actor
from clarion.workspaces.service import create_api_key

with warnings.catch_warnings():
    # This Starlette release asks for the httpx2 package; the httpx-based client still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

KeyFor = Callable[..., dict[str, str]]


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


@pytest.fixture
def key_for(engine: Engine, actor: Actor) -> KeyFor:
    """Return a function making an API key with the given scopes; yields its auth header."""

    def make(*scopes: str) -> dict[str, str]:
        with engine.begin() as conn:
            _, token = create_api_key(conn, actor, "test", list(scopes))
        return {"Authorization": f"Bearer {token}"}

    return make


def test_contact_crud_through_the_api(client: TestClient, key_for: KeyFor) -> None:
    rw = key_for("contacts:read", "contacts:write")
    # create
    r = client.post(
        "/v1/contacts",
        json={"phone": "138 0013 8000", "country": "CN", "first_name": "Li", "tags": ["vip"]},
        headers=rw,
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["phone"] == "+8613800138000" and contact["tags"] == ["vip"]
    cid = contact["id"]
    # posting the same person again merges
    again = client.post("/v1/contacts", json={"phone": "+86 13800138000"}, headers=rw)
    assert again.status_code == 201 and again.json()["id"] == cid
    assert again.json()["outcome"] == "merged"
    # read, list, update
    assert client.get(f"/v1/contacts/{cid}", headers=rw).json()["first_name"] == "Li"
    page = client.get("/v1/contacts", params={"limit": 10}, headers=rw).json()
    assert [c["id"] for c in page["items"]] == [cid] and page["next_after_id"] is None
    patched = client.patch(f"/v1/contacts/{cid}", json={"last_name": "Wang"}, headers=rw)
    assert patched.status_code == 200 and patched.json()["last_name"] == "Wang"
    # delete
    assert client.delete(f"/v1/contacts/{cid}", headers=rw).status_code == 204
    gone = client.get(f"/v1/contacts/{cid}", headers=rw)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_bulk_upsert_returns_ids_counts_and_rejects(client: TestClient, key_for: KeyFor) -> None:
    rw = key_for("contacts:write")
    body = {
        "default_region": "DE",
        "records": [
            {"external_id": "A", "phone": "0151 23456789"},
            {"external_id": "B", "phone": "not a number"},
            {"external_id": "A", "email": "a@example.com"},
        ],
    }
    r = client.post("/v1/contacts/bulk", json=body, headers=rw)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ids"][0] == out["ids"][2] and out["ids"][1] is None
    assert (out["created"], out["merged"]) == (1, 1)
    assert out["rejects"] == [
        {"index": 1, "field": "phone", "value": "not a number", "reason": "letters"}
    ]


def test_an_invalid_contact_is_a_json_error_naming_the_field(
    client: TestClient, key_for: KeyFor
) -> None:
    r = client.post("/v1/contacts", json={"phone": "12"}, headers=key_for("contacts:write"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_failed"
    assert (err["fields"]["field"], err["fields"]["reason"]) == ("phone", "too_short")


def test_scopes_are_enforced(client: TestClient, key_for: KeyFor) -> None:
    read_only = key_for("contacts:read")
    r = client.post("/v1/contacts", json={"email": "x@example.com"}, headers=read_only)
    assert r.status_code == 403 and r.json()["error"]["fields"]["scope"] == "contacts:write"
    assert client.get("/v1/contacts").status_code == 401
    assert client.post("/v1/consent", json={"entries": []}, headers=read_only).status_code == 403
    r = client.post("/v1/imports/contacts?filename=a.csv", content=b"email\n", headers=read_only)
    assert r.status_code == 403


def test_consent_is_recorded_and_read(client: TestClient, key_for: KeyFor) -> None:
    cid = client.post(
        "/v1/contacts", json={"email": "c@example.com"}, headers=key_for("contacts:write")
    ).json()["id"]
    cw = key_for("consent:write", "consent:read")
    r = client.post(
        "/v1/consent",
        json={
            "entries": [
                {
                    "contact_id": cid,
                    "channel": "email",
                    "purpose": "marketing",
                    "status": "opted_in",
                    "source": "form",
                    "proof": "Newsletter box ticked",
                    "occurred_at": "2026-06-01T10:00:00+02:00",
                }
            ]
        },
        headers=cw,
    )
    assert r.status_code == 201 and r.json() == {"appended": 1}
    got = client.get(f"/v1/contacts/{cid}/consent", params={"history": True}, headers=cw).json()
    assert got["current"][0]["status"] == "opted_in"
    assert got["current"][0]["since"].startswith("2026-06-01T08:00:00")
    assert [h["proof"] for h in got["history"]] == ["Newsletter box ticked"]
    bad = client.post(
        "/v1/consent",
        json={
            "entries": [
                {
                    "contact_id": cid,
                    "channel": "pigeon",
                    "purpose": "marketing",
                    "status": "opted_in",
                    "source": "form",
                }
            ]
        },
        headers=cw,
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "channel"


def test_a_file_is_imported_through_the_api(client: TestClient, key_for: KeyFor) -> None:
    key = key_for("imports:write")
    body = b"phone,first_name,country\n030 1234567,Eva,DE\n12,Bad,DE\n"
    r = client.post(
        "/v1/imports/contacts", params={"filename": "list.csv"}, content=body, headers=key
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["outcomes"] == {"created": 1} and report["rejected"] == 1
    assert "3,phone,12,invalid_number" in report["rejects"]
    job = client.get(f"/v1/imports/{report['job_id']}", headers=key).json()
    assert job["status"] == "completed" and job["report"]["rows"] == 2
    assert [j["id"] for j in client.get("/v1/imports", headers=key).json()] == [report["job_id"]]
