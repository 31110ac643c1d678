"""Read the behaviour every model learns from into numpy arrays, with set-based SQL.

Each loader is one SELECT over an indexed window (``placed_at`` / ``occurred_at`` in
``[since, until)``) returning plain columns; timestamps come back as epoch seconds computed by the
database (``unixepoch`` on SQLite, ``EXTRACT(EPOCH ...)`` on PostgreSQL), so a few million rows
become arrays without a Python datetime per row. Models work on these arrays and never issue a
query per contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from clarion.contacts.tables import contacts
from clarion.events.tables import events, order_items, orders, products
from clarion.workspaces.tables import workspaces

IntArr = npt.NDArray[np.int64]
FloatArr = npt.NDArray[np.float64]

DAY = 86400.0
#: Event names that are not engagement (profile updates, the order echo of ``orders``).
NOT_ENGAGEMENT = ("identify", "order_completed")


def epoch(conn: sa.Connection, col: Any) -> Any:
    """Return an SQL expression for ``col`` (a UTCDateTime) as epoch seconds."""
    if conn.dialect.name == "sqlite":
        return sa.func.unixepoch(col)
    return sa.extract("epoch", col)


def to_epoch(t: datetime) -> float:
    """Return an aware datetime as epoch seconds."""
    return t.timestamp()


def _window(col: Any, since: datetime | None, until: datetime) -> list[Any]:
    conds = [col < until]
    if since is not None:
        conds.append(col >= since)
    return conds


@dataclass(frozen=True)
class Orders:
    """One entry per order: who, when (epoch s), how much."""

    order_id: IntArr
    contact_id: IntArr
    at: FloatArr
    total: FloatArr


@dataclass(frozen=True)
class Lines:
    """One entry per order line, with products as dense codes into ``skus``."""

    order_id: IntArr
    contact_id: IntArr
    at: FloatArr
    item: IntArr  # index into skus
    quantity: FloatArr
    skus: npt.NDArray[np.str_]
    categories: list[str | None]  # category of each sku (its last seen category)


@dataclass(frozen=True)
class Engagement:
    """Engagement moments (events other than profile updates): who, when, which kind."""

    contact_id: IntArr
    at: FloatArr
    kind: IntArr  # index into names
    names: list[str]


@dataclass(frozen=True)
class ContactBase:
    """Every contact of the workspace: id, zone (resolved), channels reachable, created."""

    ids: IntArr
    zone: list[str]
    has_phone: FloatArr
    has_email: FloatArr
    created: FloatArr


def _arr(rows: Sequence[Any], i: int, dtype: Any) -> Any:
    return np.fromiter((r[i] for r in rows), dtype=dtype, count=len(rows))


def load_orders(
    conn: sa.Connection, workspace_id: int, until: datetime, since: datetime | None = None
) -> Orders:
    """Return the workspace's orders placed in ``[since, until)`` (cancelled ones left out)."""
    q = sa.select(
        orders.c.id, orders.c.contact_id, epoch(conn, orders.c.placed_at), orders.c.total
    ).where(
        orders.c.workspace_id == workspace_id,
        orders.c.status != "cancelled",
        *_window(orders.c.placed_at, since, until),
    )
    rows = conn.execute(q).all()
    return Orders(
        _arr(rows, 0, np.int64),
        _arr(rows, 1, np.int64),
        _arr(rows, 2, np.float64),
        np.fromiter((float(r[3] or 0) for r in rows), np.float64, len(rows)),
    )


def load_lines(
    conn: sa.Connection, workspace_id: int, until: datetime, since: datetime | None = None
) -> Lines:
    """Return the order lines of orders placed in ``[since, until)``."""
    q = (
        sa.select(
            order_items.c.order_id,
            orders.c.contact_id,
            epoch(conn, orders.c.placed_at),
            order_items.c.sku,
            order_items.c.category,
            order_items.c.quantity,
        )
        .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
        .where(
            orders.c.workspace_id == workspace_id,
            orders.c.status != "cancelled",
            *_window(orders.c.placed_at, since, until),
        )
    )
    rows = conn.execute(q).all()
    sku_list = [r[3] for r in rows]
    skus, item = np.unique(np.array(sku_list, dtype=np.str_), return_inverse=True)
    cat_of: dict[int, str | None] = {}
    for code, r in zip(item.tolist(), rows, strict=True):
        cat_of[code] = r[4]
    return Lines(
        _arr(rows, 0, np.int64),
        _arr(rows, 1, np.int64),
        _arr(rows, 2, np.float64),
        item.astype(np.int64),
        _arr(rows, 5, np.float64),
        skus,
        [cat_of.get(i) for i in range(len(skus))],
    )


def load_engagement(
    conn: sa.Connection, workspace_id: int, until: datetime, since: datetime | None = None
) -> Engagement:
    """Return engagement events (clicks, replies, views...) in ``[since, until)``.

    Whatever features record engagement as events (tracking's clicks, inbound replies, web
    views) is read here by name; a workspace with none of them gives empty arrays.
    """
    q = sa.select(events.c.contact_id, epoch(conn, events.c.occurred_at), events.c.name).where(
        events.c.workspace_id == workspace_id,
        events.c.name.not_in(NOT_ENGAGEMENT),
        *_window(events.c.occurred_at, since, until),
    )
    rows = conn.execute(q).all()
    names, kind = np.unique(np.array([r[2] for r in rows], dtype=np.str_), return_inverse=True)
    return Engagement(
        _arr(rows, 0, np.int64),
        _arr(rows, 1, np.float64),
        kind.astype(np.int64),
        [str(n) for n in names],
    )


def load_contacts(conn: sa.Connection, workspace_id: int) -> ContactBase:
    """Return every contact of the workspace with its resolved time zone and channels."""
    ws_zone = conn.execute(
        sa.select(workspaces.c.timezone).where(workspaces.c.id == workspace_id)
    ).scalar_one_or_none()
    rows = conn.execute(
        sa.select(
            contacts.c.id,
            sa.func.coalesce(contacts.c.timezone, contacts.c.phone_timezone),
            contacts.c.phone.is_not(None),
            contacts.c.email.is_not(None),
            epoch(conn, contacts.c.created_at),
        )
        .where(contacts.c.workspace_id == workspace_id)
        .order_by(contacts.c.id)
    ).all()
    default = ws_zone or "UTC"
    return ContactBase(
        _arr(rows, 0, np.int64),
        [r[1] or default for r in rows],
        np.fromiter((1.0 if r[2] else 0.0 for r in rows), np.float64, len(rows)),
        np.fromiter((1.0 if r[3] else 0.0 for r in rows), np.float64, len(rows)),
        _arr(rows, 4, np.float64),
    )


def load_products(conn: sa.Connection, workspace_id: int) -> list[Any]:
    """Return the active products (id, sku, category, created) for content-based fallbacks."""
    return list(
        conn.execute(
            sa.select(
                products.c.id,
                products.c.sku,
                products.c.category,
                epoch(conn, products.c.created_at),
            ).where(products.c.workspace_id == workspace_id, products.c.active.is_(True))
        ).all()
    )


def index_of(ids: IntArr, values: IntArr) -> IntArr:
    """Return the position of each of ``values`` in the sorted ``ids`` (-1 when absent)."""
    pos = np.searchsorted(ids, values)
    pos = np.clip(pos, 0, max(len(ids) - 1, 0))
    found = (len(ids) > 0) & (ids[pos] == values) if len(ids) else np.zeros(len(values), bool)
    return np.where(found, pos, -1).astype(np.int64)


def order_aggregates(o: Orders, ids: IntArr, as_of: float) -> dict[str, FloatArr]:
    """Return per-contact RFM-style aggregates (aligned with sorted ``ids``) as of ``as_of``.

    ``recency_days`` is NaN for a contact without orders; the others are 0 then.
    """
    n = len(ids)
    pos = index_of(ids, o.contact_id)
    keep = (pos >= 0) & (o.at < as_of)
    p, at, total = pos[keep], o.at[keep], o.total[keep]
    freq = np.bincount(p, minlength=n).astype(np.float64)
    money = np.bincount(p, weights=total, minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, p, at)
    first = np.full(n, np.inf)
    np.minimum.at(first, p, at)
    has = freq > 0
    recency = np.where(has, (as_of - last) / DAY, np.nan)
    tenure = np.where(has, (as_of - first) / DAY, 0.0)
    recent30 = np.bincount(p[at >= as_of - 30 * DAY], minlength=n).astype(np.float64)
    recent90 = np.bincount(p[at >= as_of - 90 * DAY], minlength=n).astype(np.float64)
    aov = np.divide(money, freq, out=np.zeros(n), where=has)
    gap = np.divide(tenure, np.maximum(freq - 1, 1), out=np.zeros(n), where=freq > 1)
    return {
        "recency_days": recency,
        "frequency": freq,
        "monetary": money,
        "tenure_days": tenure,
        "orders_30d": recent30,
        "orders_90d": recent90,
        "avg_order_value": aov,
        "avg_days_between": gap,
    }


def engagement_counts(e: Engagement, ids: IntArr, as_of: float, days: float) -> FloatArr:
    """Return each contact's number of engagement events in the ``days`` before ``as_of``."""
    pos = index_of(ids, e.contact_id)
    keep = (pos >= 0) & (e.at < as_of) & (e.at >= as_of - days * DAY)
    return np.bincount(pos[keep], minlength=len(ids)).astype(np.float64)
