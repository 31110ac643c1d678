"""The send API's hot path: idempotency under concurrent requests, caches that never let a
revoked key or a new suppression through, and the ASGI fast path answering as the route does."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance.suppression import SuppressionIn, add_suppressions
from clarion.delivery.tables import messages
from clarion.workspaces.service import create_api_key, revoke_api_key


def _rows(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        q = sa.select(sa.func.count()).where(messages.c.idempotency_key == key)
        return int(conn.execute(q).scalar_one())


def test_concurrent_requests_with_one_key_make_one_message(
    api_client: httpx.Client, smsc: Any, key: Any, engine: Engine
) -> None:
    # given 16 clients ready to send the same request under one Idempotency-Key
    h = {**key("messages:send"), "Idempotency-Key": "race-1"}
    body = {"to": "+12025550140", "text": "Your code is 9090"}
    base = str(api_client.base_url)
    start = threading.Barrier(16)
    answers: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            start.wait()
            answers.append(c.post("/v1/messages", json=body, headers=h))

    threads = [threading.Thread(target=post) for _ in range(16)]
    # when they all send at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly one created the message, the others got that same message back
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 15 + [201], [r.text for r in answers if r.status_code >= 300]
    assert len({r.json()["id"] for r in answers}) == 1
    assert _rows(engine, "race-1") == 1


def test_a_revoked_key_is_refused_on_the_next_request(
    api_client: httpx.Client, smsc: Any, engine: Engine, actor: Actor
) -> None:
    # given a key that has just sent (so it sits in the key cache)
    with engine.begin() as conn:
        key_id, token = create_api_key(conn, actor, "shop", ["messages:send"])
    h = {"Authorization": f"Bearer {token}"}
    body = {"to": "+12025550141", "text": "hi"}
    assert api_client.post("/v1/messages", json=body, headers=h).status_code == 201
    # when the key is revoked
    with engine.begin() as conn:
        revoke_api_key(conn, actor, key_id)
    # then the next request is refused at once, not after the cache's TTL
    again = api_client.post("/v1/messages", json=body, headers=h)
    assert again.status_code == 401, again.text


def test_a_new_suppression_applies_to_the_next_send(
    api_client: httpx.Client, smsc: Any, key: Any, engine: Engine, actor: Actor
) -> None:
    # given an address that was just sent to
    h = key("messages:send")
    body = {"to": "+12025550142", "text": "Your order shipped"}
    assert api_client.post("/v1/messages", json=body, headers=h).status_code == 201
    # when the address is suppressed
    with engine.begin() as conn:
        add_suppressions(conn, actor, [SuppressionIn("+12025550142", reason="complaint")])
    # then the next send to it is refused
    refused = api_client.post("/v1/messages", json=body, headers=h)
    assert refused.status_code == 422
    assert [r["code"] for r in refused.json()["error"]["fields"]["reasons"]] == ["suppressed"]


def test_the_fast_path_answers_errors_as_the_route_does(
    api_client: httpx.Client, smsc: Any, key: Any
) -> None:
    h = key("messages:send")
    # no key: 401 from the route's dependency
    assert api_client.post("/v1/messages", json={"to": "+1", "text": "x"}).status_code == 401
    # a body that is no JSON: the route's validation error, naming the body
    broken = api_client.post(
        "/v1/messages",
        content=b"{not json",
        headers={**h, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["code"] == "validation_failed"
    # a wrong type names the field as the route does (no "body." prefix)
    typed = api_client.post("/v1/messages", json={"to": "+1", "text": 5}, headers=h)
    assert typed.status_code == 422 and typed.json()["error"]["fields"]["field"] == "text"
    # an over-long Idempotency-Key is the route's header validation
    long_key = api_client.post(
        "/v1/messages",
        json={"to": "+12025550143", "text": "x"},
        headers={**h, "Idempotency-Key": "k" * 201},
    )
    assert long_key.status_code == 422
    # a good request answers the message as JSON with its status code
    ok = api_client.post("/v1/messages", json={"to": "+12025550143", "text": "x"}, headers=h)
    assert ok.status_code == 201 and ok.headers["content-type"] == "application/json"
    assert ok.json()["to"] == "+12025550143" and ok.json()["status"] == "queued"
