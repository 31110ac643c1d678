"""The ingestion API over a real socket: bearer keys, single and batch calls, JSON errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from httpx import Client, Response
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.events.tables import events, orders
from clarion.workspaces.service import create_api_key


def _key(engine: Engine, actor: Actor, *scopes: str) -> dict[str, str]:
    with engine.begin() as conn:
        _, token = create_api_key(conn, actor, "test", list(scopes))
    return {"Authorization": f"Bearer {token}"}


def test_track_batch_stores_events_and_reports_rejects(
    engine: Engine, actor: Actor, client: Client
) -> None:
    # given a key allowed to write events
    auth = _key(engine, actor, "events:write")
    body = {
        "events": [
            {"contact": {"external_id": "u1"}, "name": "page_view", "message_id": "m1",
             "timestamp": "2026-11-20T10:00:00+08:00", "properties": {"path": "/"}},
            {"contact": {"phone": "+8613812345678"}, "name": "app_open", "source": "app"},
            {"contact": {}, "name": "page_view"},
        ]
    }  # fmt: skip
    # when the batch is posted twice
    first = client.post("/v1/track/batch", json=body, headers=auth)
    second = client.post("/v1/track/batch", json=body, headers=auth)
    # then the valid events are stored once, the retry only adds the event without a message id
    assert first.status_code == 200, first.text
    got = first.json()
    assert (got["accepted"], got["duplicates"], got["rejected"]) == (2, 0, 1)
    assert got["rejects"][0]["index"] == 2 and got["rejects"][0]["field"] == "contact"
    assert second.json()["accepted"] == 1 and second.json()["duplicates"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 3


def test_concurrent_batches_are_all_stored(engine: Engine, actor: Actor, client: Client) -> None:
    # given four clients posting 200-event batches at the same time
    auth = _key(engine, actor, "events:write")
    bodies = [
        {"events": [{"contact": {"external_id": f"u{k % 7}"}, "name": "page_view",
                     "message_id": f"b{b}-{k}"} for k in range(200)]}
        for b in range(8)
    ]  # fmt: skip
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda body: client.post("/v1/track/batch", json=body, headers=auth), bodies)
        )
    # then every batch succeeds and every event is stored once, for seven contacts
    assert [a.status_code for a in answers] == [200] * 8
    assert sum(a.json()["accepted"] for a in answers) == 1600
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 1600
        owners = conn.execute(sa.select(sa.func.count(sa.distinct(events.c.contact_id)))).scalar()
    assert owners == 7


def test_concurrent_identify_of_one_new_person_makes_one_contact(
    engine: Engine, actor: Actor, client: Client
) -> None:
    auth = _key(engine, actor, "events:write")

    def call(n: int) -> Response:
        body = {"contact": {"external_id": "new-1"}, "traits": {"visits": n}}
        return client.post("/v1/identify", json=body, headers=auth)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(call, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.json()["contact_id"] for a in answers}) == 1


def test_single_calls_and_their_errors(engine: Engine, actor: Actor, client: Client) -> None:
    auth = _key(engine, actor, "events:write")
    # when a person is identified, then tracked, and an order placed
    who = client.post(
        "/v1/identify",
        json={"contact": {"email": "ann@example.com"}, "traits": {"first_name": "Ann"}},
        headers=auth,
    )
    assert who.status_code == 200, who.text
    cid = who.json()["contact_id"]
    tracked = client.post(
        "/v1/track", json={"contact": {"contact_id": cid}, "name": "signup"}, headers=auth
    )
    order = {
        "contact": {"email": "ann@example.com"},
        "external_id": "A-1",
        "placed_at": "2026-11-20T10:00:00Z",
        "currency": "EUR",
        "items": [{"sku": "S1", "quantity": 2, "unit_price": 9.5}],
    }
    placed = client.post("/v1/orders", json=order, headers=auth)
    again = client.post("/v1/orders", json=order, headers=auth)
    # then each answers with ids, and the repeated order is a duplicate
    assert tracked.status_code == 200 and tracked.json()["duplicate"] is False
    assert placed.json()["duplicate"] is False and again.json() == {"id": None, "duplicate": True}
    with engine.connect() as conn:
        assert conn.execute(sa.select(orders.c.contact_id, orders.c.total)).one() == (cid, 19.0)
    # when a single event is refused by the service or by the schema
    bad_ref = client.post("/v1/track", json={"contact": {"phone": "12"}, "name": "x"}, headers=auth)
    bad_qty = client.post(
        "/v1/orders", json={**order, "items": [{"sku": "S", "quantity": 0, "unit_price": 1}]},
        headers=auth,
    )  # fmt: skip
    # then the error body names the code and the field
    assert bad_ref.status_code == 422
    assert bad_ref.json()["error"]["code"] == "validation_failed"
    assert bad_ref.json()["error"]["fields"]["field"] == "contact.phone"
    assert bad_qty.status_code == 422
    assert bad_qty.json()["error"]["fields"]["field"] == "items.0.quantity"


def test_products_can_be_upserted_and_listed(engine: Engine, actor: Actor, client: Client) -> None:
    auth = _key(engine, actor, "events:write", "reports:read")
    items = [{"sku": f"P{i}", "name": f"Product {i}", "category": "Tea"} for i in range(3)]
    put = client.put("/v1/products", json={"products": items}, headers=auth)
    assert put.json() == {"upserted": 3}
    got = client.get("/v1/products", params={"limit": 2}, headers=auth)
    assert got.status_code == 200, got.text
    page = got.json()
    rest = client.get(
        "/v1/products", params={"after_id": page["next_after_id"]}, headers=auth
    ).json()
    assert [p["sku"] for p in page["products"] + rest["products"]] == ["P0", "P1", "P2"]
    assert rest["next_after_id"] is None


def test_keys_need_the_events_write_scope(engine: Engine, actor: Actor, client: Client) -> None:
    body = {"contact": {"external_id": "u1"}, "name": "x"}
    missing = client.post("/v1/track", json=body)
    wrong = client.post("/v1/track", json=body, headers=_key(engine, actor, "contacts:read"))
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
    assert wrong.status_code == 403 and wrong.json()["error"]["fields"] == {"scope": "events:write"}
