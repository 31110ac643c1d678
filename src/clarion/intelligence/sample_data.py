"""Load behaviour data into a workspace for benchmarks, evaluations and tests.

Two sources: a synthetic shop with known structure (personas with favourite categories and
hours, products bought in pairs, customers who stop buying, a referral network), and the real
public data sets of :mod:`clarion.intelligence.datasets`. Rows go in with one JSON-document
statement per chunk (:func:`clarion.events.bulk.json_insert`), straight into the contacts,
products, orders and events tables: this is bulk data loading for measurement, like an import,
not a path a person's change takes, so it skips the per-row services and the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from clarion.contacts.tables import contacts
from clarion.db.sql import in_values
from clarion.events.bulk import json_insert
from clarion.events.tables import events, order_items, orders, products
from clarion.intelligence import datasets
from clarion.intelligence.features import DAY
from clarion.intelligence.tables import contact_interactions

CHUNK = 50_000
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Tokyo")
# Hours UTC = local hour - offset: used only to place synthetic events near a local hour.
_ZONE_OFFSET = {
    "America/New_York": -5,
    "America/Los_Angeles": -8,
    "Europe/London": 0,
    "Europe/Berlin": 1,
    "Asia/Tokyo": 9,
}


def _insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    cols = list(rows[0]) if rows else []
    for i in range(0, len(rows), CHUNK):
        json_insert(conn, table, rows[i : i + CHUNK], cols)


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(float(epoch), UTC)


@dataclass(frozen=True)
class Loaded:
    """Ids of what was loaded: contact ids by position, product ids by position."""

    contact_ids: list[int]
    product_ids: list[int]


def load(
    conn: sa.Connection,
    workspace_id: int,
    *,
    n_contacts: int,
    zones: Sequence[str],
    skus: Sequence[str],
    categories: Sequence[str | None],
    prices: Sequence[float],
    order_contact: np.ndarray[Any, Any],
    order_at: np.ndarray[Any, Any],
    line_order: np.ndarray[Any, Any],
    line_product: np.ndarray[Any, Any],
    line_quantity: np.ndarray[Any, Any] | None = None,
    events_contact: np.ndarray[Any, Any] | None = None,
    events_at: np.ndarray[Any, Any] | None = None,
    event_name: str = "link_clicked",
    prefix: str = "s",
    emails: bool = True,
) -> Loaded:
    """Insert contacts, products, orders (totals from their lines) and engagement events.

    Orders are positions into ``order_contact``/``order_at``; lines point at order and product
    positions. Returns the database ids of the contacts and products, by position.
    """
    now = datetime.now(UTC)
    _insert(
        conn,
        contacts,
        [
            {
                "workspace_id": workspace_id,
                "external_id": f"{prefix}{i}",
                "phone": f"+1555{i:07d}",
                "email": f"{prefix}{i}@example.com" if emails and i % 3 else None,
                "timezone": zones[i],
                "attributes": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n_contacts)
        ],
    )
    cids = list(
        conn.execute(
            sa.select(contacts.c.id)
            .where(
                contacts.c.workspace_id == workspace_id, contacts.c.external_id.like(f"{prefix}%")
            )
            .order_by(contacts.c.id)
        ).scalars()
    )[-n_contacts:]
    _insert(
        conn,
        products,
        [
            {
                "workspace_id": workspace_id,
                "sku": sku,
                "name": f"Product {sku}",
                "category": categories[j],
                "price": prices[j],
                "currency": "USD",
                "url": f"https://shop.example/p/{sku}",
                "attributes": {},
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for j, sku in enumerate(skus)
        ],
    )
    pids = list(
        conn.execute(
            sa.select(products.c.id)
            .where(
                products.c.workspace_id == workspace_id,
                in_values(conn, products.c.sku, list(skus)),
            )
            .order_by(products.c.id)
        ).scalars()
    )
    qty = line_quantity if line_quantity is not None else np.ones(len(line_order), np.int64)
    price_arr = np.asarray(prices, np.float64)
    totals = np.bincount(
        line_order, weights=price_arr[line_product] * qty, minlength=len(order_contact)
    )
    _insert(
        conn,
        orders,
        [
            {
                "workspace_id": workspace_id,
                "contact_id": cids[c],
                "external_id": f"{prefix}o{k}",
                "placed_at": _ts(t),
                "currency": "USD",
                "total": round(float(tot), 2),
                "status": "placed",
                "attributes": {},
                "created_at": now,
            }
            for k, (c, t, tot) in enumerate(
                zip(order_contact.tolist(), order_at.tolist(), totals.tolist(), strict=True)
            )
        ],
    )
    first_order = conn.execute(
        sa.select(sa.func.min(orders.c.id)).where(
            orders.c.workspace_id == workspace_id, orders.c.external_id == f"{prefix}o0"
        )
    ).scalar_one()
    # Ids follow input order (json_insert keeps it), so order k has id first_order + k.
    _insert(
        conn,
        order_items,
        [
            {
                "order_id": int(first_order) + o,
                "workspace_id": workspace_id,
                "product_id": pids[p],
                "sku": skus[p],
                "category": categories[p],
                "quantity": int(q),
                "unit_price": float(prices[p]),
            }
            for o, p, q in zip(
                line_order.tolist(), line_product.tolist(), qty.tolist(), strict=True
            )
        ],
    )
    if events_contact is not None and events_at is not None and len(events_contact):
        _insert(
            conn,
            events,
            [
                {
                    "workspace_id": workspace_id,
                    "contact_id": cids[c],
                    "name": event_name,
                    "properties": {},
                    "occurred_at": _ts(t),
                    "received_at": now,
                }
                for c, t in zip(events_contact.tolist(), events_at.tolist(), strict=True)
            ],
        )
    return Loaded(cids, pids)


def synthetic(
    conn: sa.Connection,
    workspace_id: int,
    *,
    n_contacts: int,
    n_lines: int,
    n_products: int = 2000,
    n_categories: int = 20,
    seed: int = 7,
    until: datetime | None = None,
    days: int = 540,
) -> Loaded:
    """Load a synthetic shop of ``n_contacts`` and about ``n_lines`` order lines.

    Structure the models should find: five personas (each with favourite categories, a
    spending level and a local hour at which they shop and click), products with a companion
    bought in the same order 40% of the time, a third of customers who stop buying at a random
    moment, and a referral graph where early customers refer many later ones.
    """
    rng = np.random.default_rng(seed)
    end = (until or datetime.now(UTC)).timestamp()
    start = end - days * DAY
    persona = rng.integers(0, 5, n_contacts)
    zone_idx = rng.integers(0, len(ZONES), n_contacts)
    zones = [ZONES[z] for z in zone_idx.tolist()]
    hour_of = (np.array([9, 12, 18, 20, 22])[persona] + rng.integers(-1, 2, n_contacts)) % 24
    rate = np.array([0.4, 1.0, 2.5, 0.7, 1.6])[persona] * rng.gamma(2.0, 0.5, n_contacts)
    churn_at = np.where(
        rng.random(n_contacts) < 0.35, start + rng.random(n_contacts) * (end - start), np.inf
    )
    # Products: category, Zipf popularity, a companion in the same category.
    cat_of = rng.integers(0, n_categories, n_products)
    pop = 1.0 / np.arange(1, n_products + 1) ** 0.8
    rng.shuffle(pop)
    companion = rng.permutation(n_products)
    fav = (persona[:, None] * 4 + np.arange(3)[None, :]) % n_categories  # 3 favourites
    # Orders spread over contacts by their rate.
    # 3.0 lines per order (1 + Poisson 1.6 + 0.4 companions); churners lose about 17.5%.
    n_orders = max(1, int(n_lines / 2.475))
    weights = rate / rate.sum()
    o_contact = rng.choice(n_contacts, n_orders, p=weights)
    o_at = start + rng.random(n_orders) * (end - start)
    alive = o_at < churn_at[o_contact]
    o_contact, o_at = o_contact[alive], o_at[alive]
    day0 = np.floor((o_at + _offsets(zone_idx[o_contact]) * 3600) / DAY) * DAY
    o_at = day0 - _offsets(zone_idx[o_contact]) * 3600 + _hour_noise(rng, hour_of[o_contact])
    o_at = np.minimum(o_at, end - 60)
    n_orders = len(o_contact)
    size = 1 + rng.poisson(1.6, n_orders)
    l_order = np.repeat(np.arange(n_orders), size)
    # Each line: from a favourite category (80%) or anywhere, by popularity.
    by_cat = [np.flatnonzero(cat_of == c) for c in range(n_categories)]
    cat_p = [pop[ix] / pop[ix].sum() for ix in by_cat]
    pick_fav = rng.random(len(l_order)) < 0.8
    cats = np.where(
        pick_fav,
        fav[o_contact[l_order], rng.integers(0, 3, len(l_order))],
        rng.integers(0, n_categories, len(l_order)),
    )
    l_product = np.empty(len(l_order), np.int64)
    for c in range(n_categories):
        sel = np.flatnonzero(cats == c)
        if len(sel) and len(by_cat[c]):
            l_product[sel] = rng.choice(by_cat[c], len(sel), p=cat_p[c])
    # Companions: the first line of 40% of orders brings its companion along.
    firsts = np.concatenate([[0], np.cumsum(size)[:-1]])
    take = firsts[rng.random(n_orders) < 0.4]
    l_order = np.concatenate([l_order, l_order[take]])
    l_product = np.concatenate([l_product, companion[l_product[take]]])
    # Engagement: clicks at the persona's local hour, about one per two orders.
    n_ev = n_orders // 2
    e_contact = rng.choice(n_contacts, n_ev, p=weights)
    e_day = np.floor((start + rng.random(n_ev) * (end - start)) / DAY) * DAY
    e_at = e_day - _offsets(zone_idx[e_contact]) * 3600 + _hour_noise(rng, hour_of[e_contact])
    e_at = np.minimum(e_at, end - 60)
    prices = np.round(rng.gamma(2.0, 12.0, n_products) + 1.0, 2)
    loaded = load(
        conn,
        workspace_id,
        n_contacts=n_contacts,
        zones=zones,
        skus=[f"SKU{j:05d}" for j in range(n_products)],
        categories=[f"category-{c:02d}" for c in cat_of.tolist()],
        prices=prices.tolist(),
        order_contact=o_contact,
        order_at=o_at,
        line_order=l_order,
        line_product=l_product,
        events_contact=e_contact,
        events_at=e_at,
        prefix=f"syn{seed}-",
    )
    _referrals(conn, workspace_id, loaded.contact_ids, rng, start, end)
    return loaded


def _offsets(zone_idx: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    offsets = np.array([_ZONE_OFFSET[z] for z in ZONES], np.float64)
    out: np.ndarray[Any, Any] = offsets[zone_idx]
    return out


def _hour_noise(rng: np.random.Generator, hour: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Return seconds into a local day near ``hour`` (most within an hour of it)."""
    h = (hour + np.rint(rng.normal(0, 0.8, len(hour)))) % 24
    return h * 3600 + rng.integers(0, 3600, len(hour))


def _referrals(
    conn: sa.Connection,
    workspace_id: int,
    cids: list[int],
    rng: np.random.Generator,
    start: float,
    end: float,
) -> None:
    """Add referrals by preferential attachment: popular referrers gain more referrals."""
    n = len(cids)
    m = n // 5
    if n < 2 or m == 0:
        return
    targets = rng.choice(np.arange(1, n), m, replace=False)
    # A referrer earlier in the list; the square of a uniform favours the first contacts.
    sources = np.floor((rng.random(m) ** 2) * targets).astype(np.int64)
    at = start + rng.random(m) * (end - start)
    _insert(
        conn,
        contact_interactions,
        [
            {
                "workspace_id": workspace_id,
                "source_contact_id": cids[s],
                "target_contact_id": cids[t],
                "kind": "referral",
                "weight": 1.0,
                "at": _ts(a),
                "ref": f"syn-ref-{t}",
            }
            for s, t, a in zip(sources.tolist(), targets.tolist(), at.tolist(), strict=True)
        ],
    )


def cdnow(conn: sa.Connection, workspace_id: int) -> Loaded:
    """Load the CDNOW purchases: one order of one line per purchase, priced at its dollars."""
    d = datasets.cdnow()
    keys, contact_pos = np.unique(d.customer, return_inverse=True)
    n = len(d.customer)
    # One "product" per purchase value keeps order totals exact without a catalogue.
    prices, product = np.unique(np.round(d.dollars, 2), return_inverse=True)
    return load(
        conn,
        workspace_id,
        n_contacts=len(keys),
        zones=["America/New_York"] * len(keys),
        skus=[f"CD-{p:.2f}" for p in prices.tolist()],
        categories=["cd"] * len(prices),
        prices=prices.tolist(),
        order_contact=contact_pos,
        order_at=d.at,
        line_order=np.arange(n),
        line_product=product,
        prefix="cdnow-",
        emails=False,
    )


def instacart(conn: sa.Connection, workspace_id: int, *, until: datetime) -> Loaded:
    """Load the Instacart sample; order times are rebuilt from the days between orders.

    Each user's last order is placed 1 to 30 days (a fixed draw per user) before ``until`` and
    earlier ones go back by ``days_since_prior_order``, at their ``order_hour_of_day`` in the
    user's zone (New York). Spreading the last orders over a month keeps recency (and so the
    RFM groups) from encoding the hour of each user's last order.
    """
    d = datasets.instacart()
    okeys, first = np.unique(d.order_id, return_index=True)
    o_user, o_num = d.user[first], d.order_number[first]
    o_gap, o_hour = np.nan_to_num(d.days_since_prior[first]), d.hour[first]
    ukeys, o_contact = np.unique(o_user, return_inverse=True)
    order = np.lexsort((o_num, o_contact))
    days_back = np.zeros(len(okeys))
    for u in range(len(ukeys)):  # a few hundred users: cumulative gaps per user
        ix = order[o_contact[order] == u]
        gaps = o_gap[ix]
        days_back[ix] = (gaps[::-1].cumsum()[::-1] - gaps)[::1] if len(ix) else 0
    offset = np.random.default_rng(11).integers(1, 31, len(ukeys))[o_contact]
    day = np.floor(until.timestamp() / DAY) * DAY - (offset + days_back) * DAY
    o_at = day + (o_hour + 5) * 3600  # New York is UTC-5 (winter)
    pkeys, l_product = np.unique(d.product, return_inverse=True)
    l_order = np.searchsorted(okeys, d.order_id)
    return load(
        conn,
        workspace_id,
        n_contacts=len(ukeys),
        zones=["America/New_York"] * len(ukeys),
        skus=[f"IC{p}" for p in pkeys.tolist()],
        categories=[None] * len(pkeys),
        prices=[1.0] * len(pkeys),
        order_contact=o_contact,
        order_at=o_at,
        line_order=l_order,
        line_product=l_product,
        prefix="ic-",
        emails=False,
    )
