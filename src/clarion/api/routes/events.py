"""Ingestion API: identify, track (single and batch), orders (single and batch), products.

Routes only translate JSON into the events service's records and back. A batch is accepted in
part: valid records are stored and the refused ones are listed with their index, field and
reason; a single record that is refused is a 422 error naming the field.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from clarion.api.deps import ConnDep, EngineDep, require
from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.events.models import ContactRef, IngestResult, TrackIn
from clarion.events.orders import LineItemIn, OrderIn, ingest_orders
from clarion.events.products import ProductIn, list_products, upsert_products
from clarion.events.service import identify, track

router = APIRouter(prefix="/v1", tags=["events"])

_SQLITE_GATE = threading.Lock()


@contextmanager
def _gate(engine: Engine) -> Iterator[None]:
    """On SQLite, let one ingestion request of this process at a time reach the database.

    SQLite admits one writer, and every write transaction begins ``IMMEDIATE``. The others wait
    in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and so wastes most of
    the time the lock is free; queuing on a lock hands the database over at once. PostgreSQL
    writes concurrently and is not gated.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_GATE:
        yield


@contextmanager
def _transaction(engine: Engine) -> Iterator[sa.Connection]:
    """Yield a connection in a transaction, gated on SQLite.

    Routes open it themselves, after FastAPI has parsed and validated the body, so the write
    lock is never held while JSON is being read.
    """
    with _gate(engine), engine.begin() as conn:
        yield conn


MAX_BATCH = 5000
Writer = Annotated[Actor, Depends(require("events:write"))]
Reader = Annotated[Actor, Depends(require("reports:read"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactRefBody(_Body):
    """The person: the first of contact_id, external_id, phone, email that is given."""

    contact_id: int | None = None
    external_id: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)

    def to_ref(self) -> ContactRef:
        return ContactRef(self.contact_id, self.external_id, self.phone, self.email)


class IdentifyBody(_Body):
    contact: ContactRefBody
    traits: dict[str, Any] = Field(default_factory=dict)
    message_id: str | None = Field(None, max_length=200)
    timestamp: datetime | None = None
    source: str = Field("api", max_length=50)


class TrackBody(_Body):
    contact: ContactRefBody
    name: str = Field(min_length=1, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None
    message_id: str | None = Field(None, max_length=200)
    source: str = Field("api", max_length=50)

    def to_track(self) -> TrackIn:
        return TrackIn(
            self.contact.to_ref(),
            self.name,
            self.properties,
            self.timestamp,
            self.message_id,
            self.source,
        )


class TrackBatchBody(_Body):
    events: list[TrackBody] = Field(min_length=1, max_length=MAX_BATCH)
    create_contacts: bool = True


class LineItemBody(_Body):
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(gt=0)
    unit_price: float = Field(ge=0)
    name: str | None = Field(None, max_length=300)
    category: str | None = Field(None, max_length=200)


class OrderBody(_Body):
    contact: ContactRefBody
    external_id: str = Field(min_length=1, max_length=200)
    placed_at: datetime
    currency: str = Field(min_length=3, max_length=3)
    items: list[LineItemBody] = Field(min_length=1)
    total: float | None = Field(None, ge=0)
    status: str = Field("placed", min_length=1, max_length=30)
    attributes: dict[str, Any] = Field(default_factory=dict)

    def to_order(self) -> OrderIn:
        return OrderIn(
            self.contact.to_ref(),
            self.external_id,
            self.placed_at,
            self.currency,
            [LineItemIn(i.sku, i.quantity, i.unit_price, i.name, i.category) for i in self.items],
            self.total,
            self.status,
            self.attributes,
        )


class OrderBatchBody(_Body):
    orders: list[OrderBody] = Field(min_length=1, max_length=MAX_BATCH)


class ProductBody(_Body):
    sku: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    category: str | None = Field(None, max_length=200)
    price: float | None = Field(None, ge=0)
    currency: str | None = Field(None, min_length=3, max_length=3)
    url: str | None = Field(None, max_length=1000)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProductBatchBody(_Body):
    products: list[ProductBody] = Field(min_length=1, max_length=MAX_BATCH)


def _result(res: IngestResult) -> dict[str, Any]:
    return {
        "accepted": res.accepted,
        "duplicates": res.duplicates,
        "rejected": len(res.rejects),
        "rejects": [
            {"index": r.index, "field": r.field, "value": r.value, "reason": r.reason}
            for r in res.rejects
        ],
        "ids": res.ids,
    }


def _single(res: IngestResult) -> dict[str, Any]:
    """Turn a one-record result into ``{id, duplicate}`` or the record's error."""
    if res.rejects:
        r = res.rejects[0]
        raise ValidationFailed(f"{r.field}: {r.reason}", field=r.field, value=r.value)
    return {"id": res.ids[0], "duplicate": res.duplicates == 1}


@router.post("/identify")
def identify_route(body: IdentifyBody, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Create or update a contact's profile from traits."""
    with _transaction(engine) as conn:
        cid = identify(
            conn,
            actor,
            body.contact.to_ref(),
            body.traits,
            message_id=body.message_id,
            occurred_at=body.timestamp,
            source=body.source,
        )
    return {"contact_id": cid}


@router.post("/track")
def track_route(body: TrackBody, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Record one event."""
    event = body.to_track()
    with _transaction(engine) as conn:
        res = track(conn, actor, [event])
    return _single(res)


@router.post("/track/batch")
def track_batch_route(body: TrackBatchBody, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Record up to 5,000 events; refused ones are listed, the rest are stored."""
    events = [e.to_track() for e in body.events]
    with _transaction(engine) as conn:
        res = track(conn, actor, events, create_contacts=body.create_contacts)
    return _result(res)


@router.post("/orders")
def order_route(body: OrderBody, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Record one order with its line items (idempotent by external_id)."""
    order = body.to_order()
    with _transaction(engine) as conn:
        res = ingest_orders(conn, actor, [order])
    return _single(res)


@router.post("/orders/batch")
def order_batch_route(body: OrderBatchBody, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Record up to 5,000 orders; refused ones are listed, the rest are stored."""
    orders = [o.to_order() for o in body.orders]
    with _transaction(engine) as conn:
        res = ingest_orders(conn, actor, orders)
    return _result(res)


@router.put("/products")
def products_upsert_route(
    body: ProductBatchBody, actor: Writer, engine: EngineDep
) -> dict[str, int]:
    """Insert or update catalogue entries by SKU."""
    items = [ProductIn(**p.model_dump()) for p in body.products]
    with _transaction(engine) as conn:
        return {"upserted": upsert_products(conn, actor, items)}


@router.get("/products")
def products_list_route(
    actor: Reader,
    conn: ConnDep,
    category: str | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """List the catalogue a page at a time; pass the last id back as ``after_id``."""
    rows = list_products(
        conn, actor.workspace_id, category=category, limit=limit, after_id=after_id
    )
    return {"products": rows, "next_after_id": rows[-1]["id"] if len(rows) == limit else None}
