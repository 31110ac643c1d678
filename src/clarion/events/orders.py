"""Orders with line items: idempotent by the shop's order id, written in bulk.

Every newly stored order also becomes an ``order_completed`` event (``message_id`` =
``order:<external_id>``), dated when the order was placed, so segments, automations and
attribution read purchases from the same event stream as everything else; cancelled and refunded
orders are stored but raise no event. Re-sending an order that is already stored changes nothing
and counts as a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.events.bulk import json_insert
from clarion.events.models import ContactRef, IngestResult, Reject
from clarion.events.products import product_ids
from clarion.events.refs import resolve_refs
from clarion.events.service import insert_events
from clarion.events.sql import chunks
from clarion.events.tables import order_items
from clarion.events.tables import orders as orders_table

ORDER_EVENT = "order_completed"
NO_EVENT_STATUSES = frozenset({"cancelled", "refunded"})
_CHUNK = 1000
ORDER_COLUMNS = (
    "workspace_id", "contact_id", "external_id", "placed_at", "currency", "total", "status",
    "attributes", "created_at",
)  # fmt: skip
ITEM_COLUMNS = (
    "order_id", "workspace_id", "product_id", "sku", "name", "category", "quantity", "unit_price",
)  # fmt: skip


@dataclass
class LineItemIn:
    """One line of an order; name and category default to the catalogue's for the SKU."""

    sku: str
    quantity: int
    unit_price: float
    name: str | None = None
    category: str | None = None


@dataclass
class OrderIn:
    """One order as the shop reports it; ``total`` is computed from the items when absent."""

    contact: ContactRef
    external_id: str
    placed_at: datetime
    currency: str
    items: list[LineItemIn]
    total: float | None = None
    status: str = "placed"
    attributes: dict[str, Any] = field(default_factory=dict)


def _check(i: int, o: OrderIn) -> Reject | None:
    """Return why order ``i`` cannot be stored, or None if it can."""
    if not o.external_id or not o.external_id.strip() or len(o.external_id) > 200:
        return Reject(i, "external_id", o.external_id, "must be 1 to 200 characters")
    if o.placed_at.tzinfo is None:
        return Reject(i, "placed_at", o.placed_at.isoformat(), "a time needs its UTC offset")
    if not (isinstance(o.currency, str) and len(o.currency) == 3 and o.currency.isalpha()):
        return Reject(i, "currency", o.currency, "must be an ISO 4217 code such as USD")
    if not o.status or len(o.status) > 30:
        return Reject(i, "status", o.status, "must be 1 to 30 characters")
    if not o.items:
        return Reject(i, "items", [], "an order needs at least one line item")
    for j, it in enumerate(o.items):
        if not it.sku or not it.sku.strip() or len(it.sku) > 100:
            return Reject(i, f"items.{j}.sku", it.sku, "must be 1 to 100 characters")
        if not isinstance(it.quantity, int) or it.quantity <= 0:
            return Reject(i, f"items.{j}.quantity", it.quantity, "must be a positive integer")
        if it.unit_price < 0:
            return Reject(i, f"items.{j}.unit_price", it.unit_price, "must not be negative")
    if o.total is not None and o.total < 0:
        return Reject(i, "total", o.total, "must not be negative")
    return None


def order_total(o: OrderIn) -> float:
    """Return the order's total: as given, else the sum of quantity times unit price."""
    if o.total is not None:
        return round(float(o.total), 2)
    return round(sum(it.quantity * it.unit_price for it in o.items), 2)


def _first_of_each(batch: Sequence[OrderIn], candidates: list[int]) -> tuple[list[int], list[int]]:
    """Split positions into the first occurrence of each external id and the repeats."""
    seen: set[str] = set()
    first: list[int] = []
    repeats: list[int] = []
    for i in candidates:
        ext = batch[i].external_id.strip()
        (repeats if ext in seen else first).append(i)
        seen.add(ext)
    return first, repeats


def _item_rows(
    conn: sa.Connection, workspace_id: int, new: list[tuple[int, OrderIn]]
) -> list[dict[str, Any]]:
    catalogue = product_ids(conn, workspace_id, [it.sku.strip() for _, o in new for it in o.items])
    rows: list[dict[str, Any]] = []
    for order_id, o in new:
        for it in o.items:
            sku = it.sku.strip()
            known = catalogue.get(sku)
            rows.append(
                {
                    "order_id": order_id,
                    "workspace_id": workspace_id,
                    "product_id": known.id if known is not None else None,
                    "sku": sku,
                    "name": it.name or (known.name if known is not None else None),
                    "category": it.category or (known.category if known is not None else None),
                    "quantity": it.quantity,
                    "unit_price": round(float(it.unit_price), 2),
                }
            )
    return rows


def _order_event(
    order_id: int, o: OrderIn, contact_id: int, ws: int, now: datetime, categories: set[str]
) -> dict[str, Any]:
    total = order_total(o)
    return {
        "workspace_id": ws,
        "contact_id": contact_id,
        "name": ORDER_EVENT,
        "properties": {
            "order_id": order_id,
            "external_id": o.external_id.strip(),
            "total": total,
            "currency": o.currency.upper(),
            "items": sum(it.quantity for it in o.items),
            "skus": sorted({it.sku.strip() for it in o.items}),
            "categories": sorted(categories),
        },
        "occurred_at": o.placed_at,
        "received_at": now,
        "message_id": f"order:{o.external_id.strip()}",
        "source": "orders",
    }


def ingest_orders(conn: sa.Connection, actor: Actor, orders: Sequence[OrderIn]) -> IngestResult:
    """Store new orders with their line items; skip known ones; refuse invalid ones.

    Unknown contacts are created from the order's reference (a web shop's buyer is a contact).
    ``ids`` follow the input: the new order's id, or None for a duplicate or a refused order.
    """
    ws = actor.workspace_id
    now = utcnow()
    rejects: dict[int, Reject] = {}
    valid: list[int] = []
    for i, o in enumerate(orders):
        problem = _check(i, o)
        if problem is None:
            valid.append(i)
        else:
            rejects[i] = problem
    first, repeats = _first_of_each(orders, valid)
    contact_ids, ref_rejects = resolve_refs(
        conn, actor, [orders[i].contact for i in first], create=True, source="orders"
    )
    rows: list[dict[str, Any]] = []
    row_pos: list[int] = []
    for j, i in enumerate(first):
        cid = contact_ids[j]
        if cid is None:
            r = ref_rejects[j]
            rejects[i] = Reject(i, r.field, r.value, r.reason)
            continue
        o = orders[i]
        rows.append(
            {
                "workspace_id": ws,
                "contact_id": cid,
                "external_id": o.external_id.strip(),
                "placed_at": o.placed_at,
                "currency": o.currency.upper(),
                "total": order_total(o),
                "status": o.status,
                "attributes": o.attributes,
                "created_at": now,
            }
        )
        row_pos.append(i)

    ids: list[int | None] = [None] * len(orders)
    pos_by_ext = {rows[k]["external_id"]: row_pos[k] for k in range(len(rows))}
    contact_by_pos = {row_pos[k]: rows[k]["contact_id"] for k in range(len(rows))}
    for part in chunks(len(rows), _CHUNK):
        stored = json_insert(
            conn,
            orders_table,
            [rows[k] for k in part],
            ORDER_COLUMNS,
            conflict=("workspace_id", "external_id"),
            returning="id, external_id",
        )
        for new_id, ext in stored:
            ids[pos_by_ext[ext]] = int(new_id)

    new = [(ids[i], orders[i]) for i in row_pos if ids[i] is not None]
    new_orders = [(int(oid), o) for oid, o in new if oid is not None]
    items = _item_rows(conn, ws, new_orders)
    for part in chunks(len(items), _CHUNK * 5):
        json_insert(conn, order_items, [items[k] for k in part], ITEM_COLUMNS)
    categories: dict[int, set[str]] = {}
    for item in items:
        if item["category"]:
            categories.setdefault(item["order_id"], set()).add(item["category"])
    event_rows = [
        _order_event(
            ids[i] or 0, orders[i], contact_by_pos[i], ws, now, categories.get(ids[i] or 0, set())
        )
        for i in row_pos
        if ids[i] is not None and orders[i].status not in NO_EVENT_STATUSES
    ]
    insert_events(conn, event_rows)

    accepted = len(new_orders)
    duplicates = len(repeats) + (len(rows) - accepted)
    if accepted:
        record(
            conn,
            actor,
            "orders.ingest",
            "orders",
            None,
            {"accepted": accepted, "duplicates": duplicates, "rejected": len(rejects)},
        )
    return IngestResult(accepted, duplicates, [rejects[i] for i in sorted(rejects)], ids)
