"""Import events and orders through the same pipeline, into the events feature's writers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.service import resolve_contacts
from clarion.events.tables import events, order_items, orders
from clarion.imports.events import import_events, import_orders


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_events_are_imported_once_even_when_the_file_is_imported_twice(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    # given events without message ids, naming people by email or external id
    path = write_csv(
        [
            ["event", "occurred_at", "email", "external_id", "page", "amount"],
            ["viewed", "2026-11-01T10:00:00Z", "a@example.com", "", "/shoes", ""],
            ["viewed", "2026-11-01T10:05:00Z", "a@example.com", "", "/bags", ""],
            ["paid", "2026-11-02", "", "C9", "", "19.90"],
            ["", "2026-11-02", "b@example.com", "", "", ""],  # no event name
            ["paid", "last tuesday", "b@example.com", "", "", ""],  # bad date
        ],
        name="events.csv",
    )
    first = import_events(engine, actor, path)
    again = import_events(engine, actor, path)
    # then three events stored once, two rows rejected with reasons, re-import stores nothing
    assert first.outcomes["stored"] == 3 and first.rejected == 2
    assert dict(first.reasons) == {"event:missing": 1, "occurred_at:invalid_date": 1}
    assert again.outcomes["stored"] == 0 and again.outcomes["already_stored"] == 3
    assert _count(engine, events) == 3
    with engine.connect() as conn:
        props = conn.execute(
            sa.select(events.c.properties).where(events.c.name == "paid")
        ).scalar_one()
        people = resolve_contacts(
            conn, actor.workspace_id, emails=["a@example.com"], external_ids=["C9"]
        )
    assert props == {"amount": "19.90"}
    assert len(people) == 2  # the events' people were created as contacts


def test_orders_from_item_rows_and_json_lines(
    engine: Engine,
    actor: Actor,
    write_csv: Callable[..., Path],
    write_jsonl: Callable[[Sequence[object]], Path],
) -> None:
    # given a CSV with one row per line item, the rows of one order together
    path = write_csv(
        [
            ["order_id", "placed_at", "currency", "email", "sku", "quantity", "unit_price"],
            ["O1", "2026-10-01T12:00:00+08:00", "CNY", "li@example.com", "TEA", "2", "30"],
            ["O1", "2026-10-01T12:00:00+08:00", "CNY", "li@example.com", "CUP", "1", "15.5"],
            ["O2", "2026-10-03", "USD", "ann@example.com", "MUG", "1", "12"],
            ["O3", "2026-10-03", "USD", "ann@example.com", "MUG", "x", "12"],  # bad quantity
        ],
        name="orders.csv",
    )
    # when imported, and then again
    report = import_orders(engine, actor, path)
    again = import_orders(engine, actor, path)
    # then two orders with their items, one reject, nothing twice
    assert report.outcomes["stored"] == 2 and report.rejected == 1
    assert again.outcomes["stored"] == 0
    with engine.connect() as conn:
        o1 = conn.execute(sa.select(orders).where(orders.c.external_id == "O1")).one()
    assert o1.total == 75.5 and o1.currency == "CNY"
    assert _count(engine, order_items) == 3
    # and JSON Lines carry the items as a list
    jl = write_jsonl(
        [
            {
                "order_id": "O9",
                "placed_at": "2026-10-05T09:00:00Z",
                "currency": "EUR",
                "external_id": "K1",
                "items": [{"sku": "A", "quantity": 3, "unit_price": 2.5}],
                "channel": "web",
            }
        ]
    )
    assert import_orders(engine, actor, jl).outcomes["stored"] == 1
    with engine.connect() as conn:
        o9 = conn.execute(sa.select(orders).where(orders.c.external_id == "O9")).one()
    assert (o9.total, o9.attributes) == (7.5, {"channel": "web"})


def test_an_order_is_never_split_across_chunks() -> None:
    from clarion.imports.pipeline import _chunks
    from clarion.imports.readers import Row

    rows: list[Row] = [(i, {"order_id": f"O{i // 3}"}) for i in range(9)]
    sizes = [len(c) for c in _chunks(iter(rows), 2, lambda d: d["order_id"])]
    assert sizes == [3, 3, 3]
