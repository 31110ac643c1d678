"""``clarion import events FILE`` and ``clarion import orders FILE``: thin sinks on the pipeline.

Rows are mapped and checked in the workers, then handed in chunks to the events feature's own
writers (``clarion.events.service.track`` and ``clarion.events.orders.ingest_orders``), which
resolve or create the contacts and skip what they have already stored.

Events: a column ``event`` (or ``name``), ``occurred_at`` (or ``timestamp``, ``time``), an
optional ``message_id``, the person as ``contact_id`` / ``external_id`` / ``phone`` / ``email``;
every other column is a property. Without a ``message_id`` column, one is derived from the row's
content, so re-importing the same file stores nothing twice (and identical rows are one event).

Orders: one row per line item (``order_id``, ``placed_at``, ``currency``, ``sku``, ``quantity``,
``unit_price``, optional ``name``, ``category``, ``total``, ``status``, and the person), rows of
one order next to each other; or, in JSON Lines, one order per line with an ``items`` list. Other
columns become the order's attributes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.cleaning import Reject
from clarion.imports.contacts import normalise_header, parse_when
from clarion.imports.pipeline import Cleaned, ImportReport, run_import
from clarion.imports.readers import Row, RowError

CONTACT_KEYS = {
    "contact_id": "contact_id",
    "external_id": "external_id",
    "customer_id": "external_id",
    "phone": "phone",
    "mobile": "phone",
    "email": "email",
    "e_mail": "email",
}
EVENT_FIELDS = {
    "event": "name",
    "name": "name",
    "event_name": "name",
    "occurred_at": "occurred_at",
    "timestamp": "occurred_at",
    "time": "occurred_at",
    "message_id": "message_id",
    "event_id": "message_id",
    "properties": "properties",
}
ORDER_FIELDS = {
    "order_id": "order_id",
    "order_external_id": "order_id",
    "order": "order_id",
    "placed_at": "placed_at",
    "date": "placed_at",
    "order_date": "placed_at",
    "currency": "currency",
    "total": "total",
    "status": "status",
    "sku": "sku",
    "quantity": "quantity",
    "qty": "quantity",
    "unit_price": "unit_price",
    "price": "unit_price",
    "item_name": "name",
    "product_name": "name",
    "category": "category",
    "items": "items",
}


@dataclass(frozen=True)
class EventsConfig:
    """The explicit column mapping (header -> field) for events or orders."""

    mapping: tuple[tuple[str, str], ...]


def _field(header: str, known: Mapping[str, str], mapping: Mapping[str, str]) -> str:
    explicit = mapping.get(header)
    if explicit is not None:
        return explicit
    norm = normalise_header(header)
    return CONTACT_KEYS.get(norm) or known.get(norm) or f"extra:{header.strip()}"


def _split(
    data: Mapping[str, Any], known: Mapping[str, str], mapping: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return (person keys, known fields, other columns) of one row, empty cells dropped."""
    person: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for header, value in data.items():
        if value is None or value == "":
            continue
        name = _field(header, known, mapping)
        if name in CONTACT_KEYS.values():
            person[name] = value
        elif name.startswith("extra:"):
            extra[name[6:]] = value
        elif name != "ignore":
            fields[name] = value
    return person, fields, extra


def _ref(person: Mapping[str, Any]) -> Any:
    from clarion.events.models import ContactRef

    cid = person.get("contact_id")
    return ContactRef(
        contact_id=int(cid) if cid is not None and str(cid).isdigit() else None,
        external_id=_text(person.get("external_id")),
        phone=_text(person.get("phone")),
        email=_text(person.get("email")),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def clean_events(rows: Sequence[Row], config: EventsConfig) -> Cleaned:
    """Map rows to ``TrackIn`` (runs in worker processes)."""
    from clarion.events.models import TrackIn

    mapping = dict(config.mapping)
    accepted: list[tuple[int, Any]] = []
    rejects: list[Reject] = []
    for number, data in rows:
        if isinstance(data, RowError):
            rejects.append(Reject(number, data.field, data.value, data.reason))
            continue
        person, fields, extra = _split(data, EVENT_FIELDS, mapping)
        if not fields.get("name"):
            rejects.append(Reject(number, "event", None, "missing"))
            continue
        occurred: datetime | None = None
        if "occurred_at" in fields:
            try:
                occurred = parse_when(str(fields["occurred_at"]))
            except ValueError:
                rejects.append(Reject(number, "occurred_at", fields["occurred_at"], "invalid_date"))
                continue
        props = dict(fields["properties"]) if isinstance(fields.get("properties"), dict) else {}
        props.update(extra)
        message_id = _text(fields.get("message_id")) or _digest(data)
        event = TrackIn(
            contact=_ref(person),
            name=str(fields["name"]),
            properties=props,
            occurred_at=occurred,
            message_id=message_id,
            source="import",
        )
        accepted.append((number, event))
    return Cleaned(accepted, rejects)


def _digest(data: Mapping[str, Any]) -> str:
    """Return a stable id for a row's content (so a re-import recognises it)."""
    body = orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)
    return "import:" + hashlib.sha256(body).hexdigest()[:40]


def clean_orders(rows: Sequence[Row], config: EventsConfig) -> Cleaned:
    """Group item rows into ``OrderIn`` by order id, in file order (runs in worker processes)."""
    from clarion.events.orders import LineItemIn, OrderIn

    mapping = dict(config.mapping)
    rejects: list[Reject] = []
    orders: dict[str, tuple[int, Any]] = {}
    for number, data in rows:
        if isinstance(data, RowError):
            rejects.append(Reject(number, data.field, data.value, data.reason))
            continue
        person, fields, extra = _split(data, ORDER_FIELDS, mapping)
        order_id = _text(fields.get("order_id"))
        if order_id is None:
            rejects.append(Reject(number, "order_id", None, "missing"))
            continue
        try:
            items = _items(fields, LineItemIn)
            existing = orders.get(order_id)
            if existing is not None:
                existing[1].items.extend(items)
                continue
            placed = parse_when(str(fields.get("placed_at", "")))
            total = float(fields["total"]) if "total" in fields else None
        except (ValueError, TypeError, KeyError) as exc:
            rejects.append(Reject(number, "_row", order_id, f"invalid: {exc}"))
            continue
        order = OrderIn(
            contact=_ref(person),
            external_id=order_id,
            placed_at=placed,
            currency=str(fields.get("currency", "")).upper(),
            items=items,
            total=total,
            status=str(fields.get("status", "placed")),
            attributes=extra,
        )
        orders[order_id] = (number, order)
    return Cleaned(list(orders.values()), rejects)


def _items(fields: Mapping[str, Any], item_type: Any) -> list[Any]:
    raw = fields.get("items")
    lines = raw if isinstance(raw, list) else [fields] if "sku" in fields else []
    return [
        item_type(
            sku=str(line["sku"]),
            quantity=int(line.get("quantity", 1)),
            unit_price=float(line["unit_price"]),
            name=_text(line.get("name")),
            category=_text(line.get("category")),
        )
        for line in lines
    ]


def _sink(
    conn: sa.Connection, actor: Actor, accepted: list[tuple[int, Any]], *, kind: str
) -> tuple[Counter[str], list[Reject]]:
    if not accepted:
        return Counter(), []
    numbers = [n for n, _ in accepted]
    if kind == "events":
        from clarion.events.service import track

        result = track(conn, actor, [e for _, e in accepted])
    else:
        from clarion.events.orders import ingest_orders

        result = ingest_orders(conn, actor, [o for _, o in accepted])
    counts: Counter[str] = Counter()
    if result.accepted:
        counts["stored"] = result.accepted
    if result.duplicates:
        counts["already_stored"] = result.duplicates
    rejects = [Reject(numbers[r.index], r.field, r.value, r.reason) for r in result.rejects]
    return counts, rejects


def _import(
    kind: str,
    engine: Engine,
    actor: Actor,
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    rejects_path: str | Path | None = None,
    progress: bool = False,
    fmt: str | None = None,
    encoding: str | None = None,
    workers: int | None = None,
) -> ImportReport:
    config = EventsConfig(tuple(sorted((mapping or {}).items())))
    clean = partial(clean_events if kind == "events" else clean_orders, config=config)
    return run_import(
        engine,
        actor,
        Path(path),
        kind=kind,
        clean=clean,
        sink=partial(_sink, kind=kind),
        fmt=fmt,
        encoding=encoding,
        rejects_path=Path(rejects_path) if rejects_path else None,
        progress=progress,
        workers=workers,
        group_by=None if kind == "events" else _order_key(mapping or {}),
    )


def _order_key(mapping: Mapping[str, str]) -> Any:
    """Return a function giving a row's order id, so a chunk never splits an order's rows."""

    def key(data: Mapping[str, Any]) -> Any:
        for header, value in data.items():
            if _field(header, ORDER_FIELDS, mapping) == "order_id":
                return value
        return None

    return key


def import_events(engine: Engine, actor: Actor, path: str | Path, **options: Any) -> ImportReport:
    """Import behavioural events from a file; return the report."""
    return _import("events", engine, actor, path, **options)


def import_orders(engine: Engine, actor: Actor, path: str | Path, **options: Any) -> ImportReport:
    """Import orders (one row per line item, or JSON Lines with ``items``); return the report."""
    return _import("orders", engine, actor, path, **options)
