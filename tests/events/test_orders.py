"""Orders and the product catalogue: idempotent bulk writes, catalogue fill-in, order events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.events.orders import LineItemIn, OrderIn, ingest_orders
from clarion.events.products import ProductIn, list_products, upsert_products
from clarion.events.service import ContactRef
from clarion.events.tables import events, order_items, orders, products

T0 = datetime(2026, 11, 11, 12, tzinfo=UTC)


def _order(ext: str, *items: LineItemIn, **kw: object) -> OrderIn:
    return OrderIn(
        ContactRef(external_id=kw.pop("who", "crm-1")), ext, T0, "cny", list(items), **kw
    )  # type: ignore[arg-type]


def test_products_upsert_by_sku(engine: Engine, actor: Actor) -> None:
    # given two products, one of them twice in the batch (the last wins)
    batch = [
        ProductIn("TEA-1", "Oolong", "Tea", 12.5, "usd"),
        ProductIn("TEA-2", "Puer", "Tea", 30.0, "USD"),
        ProductIn("TEA-1", "Oolong Premium", "Tea", 15.0, "USD"),
    ]
    with engine.begin() as conn:
        assert upsert_products(conn, actor, batch) == 2
    # when one is updated later
    with engine.begin() as conn:
        upsert_products(conn, actor, [ProductIn("TEA-2", "Puer cake", "Tea", 28.0, "USD")])
    # then the catalogue holds both with their latest values
    with engine.connect() as conn:
        rows = list_products(conn, actor.workspace_id, category="Tea")
    assert [(r["sku"], r["name"], r["price"], r["currency"]) for r in rows] == [
        ("TEA-1", "Oolong Premium", 15.0, "USD"),
        ("TEA-2", "Puer cake", 28.0, "USD"),
    ]


def test_an_invalid_product_refuses_the_batch_naming_it(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        upsert_products(conn, actor, [ProductIn("A", "a"), ProductIn("B", "b", currency="dollars")])
    assert (err.value.fields["field"], err.value.fields["row"]) == ("currency", 1)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(products)).scalar() == 0


def test_orders_are_stored_once_with_items_and_an_event(engine: Engine, actor: Actor) -> None:
    # given a catalogue entry for one of the SKUs
    with engine.begin() as conn:
        upsert_products(conn, actor, [ProductIn("TEA-1", "Oolong", "Tea", 12.5, "USD")])
    # when two orders arrive, one without a total, one cancelled
    batch = [
        _order("o-1", LineItemIn("TEA-1", 2, 90.0), LineItemIn("MUG-9", 1, 45.5, "Mug", "Kitchen")),
        _order("o-2", LineItemIn("TEA-1", 1, 90.0), status="cancelled", total=80.0),
    ]
    with engine.begin() as conn:
        res = ingest_orders(conn, actor, batch)
    # then both are stored for one new contact, with totals and catalogue names filled in
    assert (res.accepted, res.duplicates, res.rejects) == (2, 0, [])
    with engine.connect() as conn:
        got = conn.execute(sa.select(orders).order_by(orders.c.id)).all()
        items = conn.execute(sa.select(order_items).order_by(order_items.c.id)).all()
        evs = conn.execute(sa.select(events)).all()
    assert [(o.external_id, o.total, o.currency, o.status) for o in got] == [
        ("o-1", 225.5, "CNY", "placed"),
        ("o-2", 80.0, "CNY", "cancelled"),
    ]
    assert got[0].contact_id == got[1].contact_id
    assert [(i.sku, i.name, i.category, i.product_id is not None) for i in items] == [
        ("TEA-1", "Oolong", "Tea", True),
        ("MUG-9", "Mug", "Kitchen", False),
        ("TEA-1", "Oolong", "Tea", True),
    ]
    # and only the completed order became an order_completed event, dated when placed
    assert len(evs) == 1
    ev = evs[0]
    assert (ev.name, ev.message_id, ev.occurred_at) == ("order_completed", "order:o-1", T0)
    assert ev.properties["total"] == 225.5 and ev.properties["categories"] == ["Kitchen", "Tea"]
    # when the same orders are sent again (plus a repeat inside the batch)
    with engine.begin() as conn:
        again = ingest_orders(conn, actor, [*batch, batch[0]])
    # then nothing changes
    assert (again.accepted, again.duplicates, again.ids) == (0, 3, [None, None, None])
    with engine.connect() as conn:
        n_items = conn.execute(sa.select(sa.func.count()).select_from(order_items)).scalar()
    assert n_items == 3


def test_invalid_orders_are_refused_and_the_rest_stored(engine: Engine, actor: Actor) -> None:
    naive = OrderIn(ContactRef(external_id="c"), "o-3", datetime(2026, 1, 1), "USD", [])  # noqa: DTZ001
    batch = [
        _order("o-1", LineItemIn("A", 0, 1.0)),
        _order("o-2", LineItemIn("A", 1, 1.0)),
        naive,
        _order("o-4"),
        _order("o-5", LineItemIn("A", 1, 1.0), who=""),
    ]
    with engine.begin() as conn:
        res = ingest_orders(conn, actor, batch)
    assert res.accepted == 1 and res.ids[1] is not None
    assert [(r.index, r.field) for r in res.rejects] == [
        (0, "items.0.quantity"),
        (2, "placed_at"),
        (3, "items"),
        (4, "contact"),
    ]
