"""The product catalogue: upserted by SKU, read by orders, segments and recommendations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.events.sql import chunks, upsert_insert
from clarion.events.tables import products as products_table

_CHUNK = 1000


@dataclass
class ProductIn:
    """One catalogue entry; ``sku`` is the merchant's own product code, unique per workspace."""

    sku: str
    name: str
    category: str | None = None
    price: float | None = None
    currency: str | None = None
    url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


def _check(i: int, p: ProductIn) -> None:
    """Raise ValidationFailed naming the record and field that does not fit."""

    def bad(fld: str, value: Any, why: str) -> ValidationFailed:
        return ValidationFailed(f"product {i}: {fld} {why}", field=fld, value=value, row=i)

    if not p.sku or not p.sku.strip() or len(p.sku) > 100:
        raise bad("sku", p.sku, "must be 1 to 100 characters")
    if not p.name or not p.name.strip() or len(p.name) > 300:
        raise bad("name", p.name, "must be 1 to 300 characters")
    if p.category is not None and len(p.category) > 200:
        raise bad("category", p.category, "must be at most 200 characters")
    if p.price is not None and p.price < 0:
        raise bad("price", p.price, "must not be negative")
    if p.currency is not None and not (len(p.currency) == 3 and p.currency.isalpha()):
        raise bad("currency", p.currency, "must be an ISO 4217 code such as USD")
    if p.url is not None and len(p.url) > 1000:
        raise bad("url", p.url, "must be at most 1000 characters")


def upsert_products(conn: sa.Connection, actor: Actor, products: Sequence[ProductIn]) -> int:
    """Insert or update catalogue entries by SKU (the last of a repeated SKU wins); return count.

    The whole batch is refused if one entry is invalid, because a half-loaded catalogue is harder
    to reason about than a clear error naming the entry.
    """
    for i, p in enumerate(products):
        _check(i, p)
    now = utcnow()
    latest: dict[str, dict[str, Any]] = {}
    for p in products:
        latest[p.sku.strip()] = {
            "workspace_id": actor.workspace_id,
            "sku": p.sku.strip(),
            "name": p.name.strip(),
            "category": p.category,
            "price": p.price,
            "currency": p.currency.upper() if p.currency else None,
            "url": p.url,
            "attributes": p.attributes,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
    rows = list(latest.values())
    for part in chunks(len(rows), _CHUNK):
        stmt = upsert_insert(conn, products_table)
        ex = stmt.excluded
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["workspace_id", "sku"],
                set_={
                    "name": ex.name,
                    "category": ex.category,
                    "price": ex.price,
                    "currency": ex.currency,
                    "url": ex.url,
                    "attributes": ex.attributes,
                    "active": ex.active,
                    "updated_at": ex.updated_at,
                },
            ),
            [rows[k] for k in part],
        )
    if rows:
        record(
            conn,
            actor,
            "products.upsert",
            "products",
            None,
            {"count": len(rows), "skus": [r["sku"] for r in rows[:20]]},
        )
    return len(rows)


def product_ids(conn: sa.Connection, workspace_id: int, skus: Sequence[str]) -> dict[str, Any]:
    """Return ``sku -> row(id, name, category, price, currency)`` for the SKUs that exist."""
    wanted = sorted(set(skus))
    found: dict[str, Any] = {}
    for part in chunks(len(wanted), _CHUNK):
        rows = conn.execute(
            sa.select(
                products_table.c.sku,
                products_table.c.id,
                products_table.c.name,
                products_table.c.category,
                products_table.c.price,
                products_table.c.currency,
            ).where(
                products_table.c.workspace_id == workspace_id,
                products_table.c.sku.in_([wanted[k] for k in part]),
            )
        ).all()
        found.update({r.sku: r for r in rows})
    return found


def list_products(
    conn: sa.Connection,
    workspace_id: int,
    *,
    category: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """Return catalogue entries in id order, a page at a time (``after_id`` is the cursor)."""
    q = sa.select(products_table).where(
        products_table.c.workspace_id == workspace_id, products_table.c.id > after_id
    )
    if category is not None:
        q = q.where(products_table.c.category == category)
    rows = conn.execute(q.order_by(products_table.c.id).limit(limit)).mappings()
    return [dict(r) for r in rows]
