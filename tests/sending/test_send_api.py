"""The send API over HTTP: status codes, idempotency, scopes, batches and the history."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor


def test_a_send_answers_201_and_the_same_key_answers_200_with_the_same_message(
    api_client: httpx.Client, smsc: Any, key: Any
) -> None:
    # given a key that may send and read
    h = key("messages:send", "messages:read")
    body = {"to": "+12025550120", "text": "Your code is 4242", "validity_s": 600}
    # when a message is sent twice with one Idempotency-Key
    first = api_client.post("/v1/messages", json=body, headers={**h, "Idempotency-Key": "o-1"})
    again = api_client.post("/v1/messages", json=body, headers={**h, "Idempotency-Key": "o-1"})
    # then the first is created and the second returns it
    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert first.json()["validity_s"] == 600 and first.json()["idempotency_key"] == "o-1"
    # and another body under that key is a 409 naming the key
    other = api_client.post(
        "/v1/messages", json={**body, "text": "Code 1"}, headers={**h, "Idempotency-Key": "o-1"}
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert other.json()["error"]["fields"]["field"] == "idempotency_key"
    # and the message reads back with its history
    shown = api_client.get(f"/v1/messages/{first.json()['id']}", headers=h).json()
    assert shown["status"] == "queued" and shown["history"][0]["status"] == "queued"


def test_refusals_and_bad_input_name_what_was_wrong(
    api_client: httpx.Client, smsc: Any, key: Any
) -> None:
    h = key("messages:send")
    # a marketing send to an unknown number is refused with the rule
    refused = api_client.post(
        "/v1/messages", json={"to": "+12025550121", "text": "Sale!", "kind": "marketing"}, headers=h
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "send_refused"
    assert refused.json()["error"]["fields"]["reasons"][0]["code"] == "no_consent"
    # a number that is no number names the field and the value
    bad = api_client.post("/v1/messages", json={"to": "12", "text": "x"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "to"
    # an unknown field is refused by the schema
    extra = api_client.post("/v1/messages", json={"to": "+1", "txt": "x"}, headers=h)
    assert extra.status_code == 422


def test_scopes_guard_sending_and_reading(api_client: httpx.Client, smsc: Any, key: Any) -> None:
    reader = key("messages:read")
    sender = key("messages:send")
    body = {"to": "+12025550122", "text": "hi"}
    assert api_client.post("/v1/messages", json=body, headers=reader).status_code == 403
    created = api_client.post("/v1/messages", json=body, headers=sender).json()
    assert api_client.get(f"/v1/messages/{created['id']}", headers=sender).status_code == 403
    assert api_client.get(f"/v1/messages/{created['id']}", headers=reader).status_code == 200
    assert api_client.get("/v1/messages/999999", headers=reader).status_code == 404


def test_a_batch_accepts_the_good_items_and_lists_the_refused_by_index(
    api_client: httpx.Client, smsc: Any, key: Any, engine: Engine, actor: Actor
) -> None:
    h = key("messages:send", "messages:read")
    items = [
        {"to": "+12025550123", "text": "one", "idempotency_key": "b-1"},
        {"to": "nope", "text": "two"},
        {"to": "+12025550124", "text": "three"},
    ]
    out = api_client.post("/v1/messages/batch", json={"messages": items}, headers=h).json()
    assert (out["accepted"], out["refused"]) == (2, 1)
    assert out["results"][1]["index"] == 1
    assert out["results"][1]["error"]["fields"]["field"] == "to"
    # a replayed batch item with its key does not make a second message
    again = api_client.post("/v1/messages/batch", json={"messages": items[:1]}, headers=h).json()
    assert again["results"][0]["id"] == out["results"][0]["id"]
    listed = api_client.get("/v1/messages", headers=h).json()["messages"]
    assert [m["text"] for m in listed] == ["three", "one"]
