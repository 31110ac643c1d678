"""Basket rules: "people who buy X also buy Y", with support, confidence and lift.

Orders become a sparse order x product incidence matrix; item counts are its column sums and
pair counts the sparse product ``XᵀX`` restricted to frequent items, so every one-to-one rule is
counted exactly in one pass of compiled code. (mlxtend's apriori wants a dense one-hot frame:
600,000 orders x 2,000 products would be 1.2 GB of booleans for the same pair counts.) Rules
from one item to one item are what a message can use ("you bought X: try Y"); longer
antecedents are left out on purpose.

Evaluation on a time split: rules mined on the earlier 80% of orders, and for the top rules the
confidence and lift they show on the later 20% (do they hold on orders the miner never saw?).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import scipy.sparse as sp
import sqlalchemy as sa

from clarion.audit.service import Actor
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.events.bulk import json_insert
from clarion.events.tables import products
from clarion.intelligence import features as F
from clarion.intelligence.runs import ModelResult
from clarion.intelligence.tables import basket_rules

VERSION = "pairs-1"


@dataclass(frozen=True)
class Rules:
    """Rules as parallel arrays of item codes and measures, best lift first."""

    antecedent: F.IntArr
    consequent: F.IntArr
    orders: F.IntArr
    support: F.FloatArr
    confidence: F.FloatArr
    lift: F.FloatArr


def incidence(order_id: F.IntArr, item: F.IntArr, n_items: int) -> sp.csr_matrix:
    """Return the binary order x item matrix (an item twice in an order counts once)."""
    _, row = np.unique(order_id, return_inverse=True)
    m = sp.csr_matrix(
        (np.ones(len(row), np.float32), (row, item)), shape=(int(row.max()) + 1, n_items)
    )
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data = np.minimum(m.data, 1.0)
    return m


def mine(
    x: sp.csr_matrix,
    *,
    min_support: float = 0.0005,
    min_orders: int = 5,
    min_confidence: float = 0.05,
    min_lift: float = 1.2,
    max_rules: int = 20_000,
) -> Rules:
    """Return one-to-one rules above the thresholds from incidence matrix ``x``."""
    n = x.shape[0]
    floor = max(min_orders, int(np.ceil(min_support * n)))
    count = np.asarray(x.sum(axis=0)).ravel()
    freq = np.flatnonzero(count >= floor)
    xf = x[:, freq].tocsc().astype(np.float32)
    pairs = (xf.T @ xf).tocoo()
    a, b, c = pairs.row, pairs.col, np.rint(pairs.data).astype(np.int64)
    keep = (a != b) & (c >= floor)
    a, b, c = freq[a[keep]], freq[b[keep]], c[keep]
    conf = c / count[a]
    lift = conf / (count[b] / n)
    keep = (conf >= min_confidence) & (lift >= min_lift)
    a, b, c, conf, lift = a[keep], b[keep], c[keep], conf[keep], lift[keep]
    order = np.lexsort((-conf, -lift))[:max_rules]
    return Rules(a[order], b[order], c[order], c[order] / n, conf[order], lift[order])


def holdout(rules: Rules, x_test: sp.csr_matrix, top: int = 200) -> dict[str, Any]:
    """Return how the ``top`` rules (by lift) hold on later orders ``x_test``."""
    k = min(top, len(rules.lift))
    if k == 0 or x_test.shape[0] == 0:
        return {"rules_checked": 0}
    a, b = rules.antecedent[:k], rules.consequent[:k]
    xc = x_test.tocsc()
    n = x_test.shape[0]
    has_a = np.asarray(xc[:, a].sum(axis=0)).ravel()
    both = np.asarray(xc[:, a].multiply(xc[:, b]).sum(axis=0)).ravel()
    base_b = np.asarray(xc[:, b].sum(axis=0)).ravel() / n
    seen = has_a > 0
    conf = np.divide(both, has_a, out=np.zeros(k), where=seen)
    lift = np.divide(conf, base_b, out=np.zeros(k), where=base_b > 0)
    return {
        "rules_checked": k,
        "rules_seen_in_test": int(seen.sum()),
        "train_confidence_mean": round(float(rules.confidence[:k][seen].mean()), 4)
        if seen.any()
        else None,
        "test_confidence_mean": round(float(conf[seen].mean()), 4) if seen.any() else None,
        "train_lift_median": round(float(np.median(rules.lift[:k][seen])), 2)
        if seen.any()
        else None,
        "test_lift_median": round(float(np.median(lift[seen])), 2) if seen.any() else None,
        "share_lift_above_1": round(float((lift[seen] > 1).mean()), 4) if seen.any() else None,
    }


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    as_of: datetime | None = None,
    window_days: int | None = 365,
    min_support: float = 0.0005,
    min_orders: int = 5,
    min_confidence: float = 0.05,
    min_lift: float = 1.2,
    test_share: float = 0.2,
) -> ModelResult:
    """Mine rules from the window's orders; evaluate on a time split of the same orders."""
    until = as_of or utcnow()
    since = until - timedelta(days=window_days) if window_days else None
    lines = F.load_lines(conn, workspace_id, until, since)
    params = {
        "window_days": window_days,
        "min_support": min_support,
        "min_orders": min_orders,
        "min_confidence": min_confidence,
        "min_lift": min_lift,
    }
    result = ModelResult("basket", VERSION, params, since, until)
    if len(lines.order_id) == 0:
        result.metrics = {"note": "no orders in the window"}
        return result
    thresholds: dict[str, Any] = {
        "min_support": min_support,
        "min_orders": min_orders,
        "min_confidence": min_confidence,
        "min_lift": min_lift,
    }
    n_items = len(lines.skus)
    cut = np.quantile(lines.at, 1 - test_share)
    early = lines.at < cut
    metrics: dict[str, Any] = {"orders": len(np.unique(lines.order_id)), "items": n_items}
    if early.any() and (~early).any():
        train = incidence(lines.order_id[early], lines.item[early], n_items)
        test = incidence(lines.order_id[~early], lines.item[~early], n_items)
        metrics["holdout"] = holdout(mine(train, **thresholds), test)
    rules = mine(incidence(lines.order_id, lines.item, n_items), **thresholds)
    metrics["rules"] = len(rules.lift)
    skus = lines.skus
    rows = [
        {
            "antecedent": str(skus[a]),
            "consequent": str(skus[b]),
            "orders": int(c),
            "support": float(s),
            "confidence": float(cf),
            "lift": float(lf),
        }
        for a, b, c, s, cf, lf in zip(
            rules.antecedent.tolist(),
            rules.consequent.tolist(),
            rules.orders.tolist(),
            rules.support.tolist(),
            rules.confidence.tolist(),
            rules.lift.tolist(),
            strict=True,
        )
    ]
    nxt = next_purchase(lines, rules, n_items)
    result.traits = {"basket_next_sku": {c: str(skus[i]) for c, i in nxt.items()}}
    metrics["contacts_with_next_sku"] = len(nxt)
    result.metrics = metrics
    result.output = {"top_rules": rows[:20]}
    result.save_extra = lambda c, actor, run_id: _store(c, actor, run_id, rows)
    return result


def next_purchase(lines: F.Lines, rules: Rules, n_items: int) -> dict[int, int]:
    """Return per contact the item the best rule suggests after their latest rule-bearing buy.

    For each antecedent the consequent of highest confidence is kept; each contact's most
    recent purchase of such an antecedent gives the suggestion, unless they own it already.
    """
    if len(rules.lift) == 0 or len(lines.item) == 0:
        return {}
    best = np.full(n_items, -1, np.int64)
    conf = np.full(n_items, -1.0)
    for a, b, c in zip(
        rules.antecedent.tolist(), rules.consequent.tolist(), rules.confidence.tolist(), strict=True
    ):
        if c > conf[a]:
            best[a], conf[a] = b, c
    has = best[lines.item] >= 0
    order = np.lexsort((lines.at[has], lines.contact_id[has]))
    contact, item = lines.contact_id[has][order], lines.item[has][order]
    last = np.flatnonzero(np.r_[contact[1:] != contact[:-1], True])
    owned = set(zip(lines.contact_id.tolist(), lines.item.tolist(), strict=True))
    out = {}
    for cid, it in zip(contact[last].tolist(), item[last].tolist(), strict=True):
        if (cid, int(best[it])) not in owned:
            out[cid] = int(best[it])
    return out


def _store(conn: sa.Connection, actor: Actor, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Replace the workspace's rules with this run's."""
    ws = actor.workspace_id
    conn.execute(basket_rules.delete().where(basket_rules.c.workspace_id == ws))
    full = [{"workspace_id": ws, "run_id": run_id, **r} for r in rows]
    for i in range(0, len(full), 20_000):
        json_insert(conn, basket_rules, full[i : i + 20_000], list(full[0]))


def rules_for(
    conn: sa.Connection,
    workspace_id: int,
    *,
    sku: str | None = None,
    limit: int = 20,
    min_lift: float = 0.0,
) -> list[dict[str, Any]]:
    """Return stored rules (best lift first), those starting from ``sku`` when given."""
    q = sa.select(basket_rules).where(
        basket_rules.c.workspace_id == workspace_id, basket_rules.c.lift >= min_lift
    )
    if sku is not None:
        q = q.where(basket_rules.c.antecedent == sku)
    rows = conn.execute(
        q.order_by(basket_rules.c.lift.desc(), basket_rules.c.id).limit(limit)
    ).all()
    return [
        {
            "antecedent": r.antecedent,
            "consequent": r.consequent,
            "orders": r.orders,
            "support": r.support,
            "confidence": r.confidence,
            "lift": r.lift,
        }
        for r in rows
    ]


def also_bought(
    conn: sa.Connection, workspace_id: int, skus: list[str], n: int
) -> dict[str, list[dict[str, Any]]]:
    """Return for each of ``skus`` up to ``n`` active products bought with it (by confidence)."""
    if not skus:
        return {}
    rows = conn.execute(
        sa.select(
            basket_rules.c.antecedent,
            basket_rules.c.confidence,
            products.c.id,
            products.c.sku,
            products.c.name,
            products.c.category,
            products.c.price,
            products.c.currency,
            products.c.url,
        )
        .select_from(
            basket_rules.join(
                products,
                sa.and_(
                    products.c.workspace_id == basket_rules.c.workspace_id,
                    products.c.sku == basket_rules.c.consequent,
                ),
            )
        )
        .where(
            basket_rules.c.workspace_id == workspace_id,
            in_values(conn, basket_rules.c.antecedent, skus),
            products.c.active.is_(True),
        )
        .order_by(basket_rules.c.antecedent, basket_rules.c.confidence.desc())
    ).all()
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in skus}
    for r in rows:
        if len(out[r.antecedent]) < n:
            out[r.antecedent].append(product_dict(r))
    return out


def product_dict(r: Any) -> dict[str, Any]:
    """Return the product fields a template may show."""
    return {
        "id": r.id,
        "sku": r.sku,
        "name": r.name,
        "category": r.category,
        "price": r.price,
        "currency": r.currency,
        "url": r.url,
    }
