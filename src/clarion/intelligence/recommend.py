"""Product recommendations per contact: implicit-feedback ALS with content-based fallbacks.

Collaborative filtering: ``implicit``'s alternating least squares on the contact x product
matrix of purchases (weight 1 per order line) and product views/clicks/add-to-carts (events
named in ``VIEW_EVENTS`` with a ``sku`` property, weight 0.3), confidence ``1 + alpha·log1p``.
Fallbacks, marked in each item's ``source``: a contact's favourite category supplies products
the factors cannot know yet (new products with no sales) -> ``content``; contacts with no
history get the recent best sellers -> ``popular`` (served from the run, not stored per contact).

The top N per contact is precomputed into ``contact_recommendations`` (one JSON row per
contact), so sending to a million contacts reads rows in id-ordered batches instead of scoring.

Evaluation on a time split: trained on everything before the last ``test_days``, scored on the
products each contact bought in those days (new to them unless ``repeat``), as precision@k and
recall@k, next to a popularity baseline on the same split.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp
import sqlalchemy as sa
from implicit.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from clarion.audit.service import Actor
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.events.bulk import json_insert
from clarion.events.tables import events, products
from clarion.intelligence import features as F
from clarion.intelligence.basket import product_dict
from clarion.intelligence.runs import ModelResult, latest_run
from clarion.intelligence.tables import contact_recommendations

VERSION = "als-1"
VIEW_EVENTS = ("product_viewed", "product_clicked", "product_added")
VIEW_WEIGHT = 0.3


def _views(
    conn: sa.Connection, workspace_id: int, until: datetime, since: datetime | None
) -> list[tuple[int, float, str]]:
    """Return (contact, epoch, sku) of product views/clicks in the window."""
    q = sa.select(events.c.contact_id, F.epoch(conn, events.c.occurred_at), events.c.properties)
    q = q.where(
        events.c.workspace_id == workspace_id,
        events.c.name.in_(VIEW_EVENTS),
        events.c.occurred_at < until,
    )
    if since is not None:
        q = q.where(events.c.occurred_at >= since)
    out = []
    for cid, at, props in conn.execute(q):
        sku = props.get("sku") if isinstance(props, dict) else None
        if isinstance(sku, str):
            out.append((int(cid), float(at), sku))
    return out


def interactions(
    lines: F.Lines, views: list[tuple[int, float, str]]
) -> tuple[F.IntArr, F.FloatArr, F.IntArr, F.FloatArr, list[str]]:
    """Return (contact, at, item, weight, skus): purchases and views over one sku vocabulary."""
    skus = [str(s) for s in lines.skus]
    code = {s: i for i, s in enumerate(skus)}
    v_item = []
    for _, _, s in views:
        if s not in code:
            code[s] = len(skus)
            skus.append(s)
        v_item.append(code[s])
    contact = np.concatenate([lines.contact_id, np.array([v[0] for v in views], np.int64)])
    at = np.concatenate([lines.at, np.array([v[1] for v in views], np.float64)])
    item = np.concatenate([lines.item, np.array(v_item, np.int64)])
    weight = np.concatenate([np.ones(len(lines.item)), np.full(len(views), VIEW_WEIGHT)])
    return contact, at, item, weight, skus


def user_items(
    rows: F.IntArr, item: F.IntArr, weight: F.FloatArr, shape: tuple[int, int], alpha: float
) -> sp.csr_matrix:
    """Return the confidence matrix ``alpha·log1p(total weight)`` (zero where no interaction)."""
    m = sp.csr_matrix((weight, (rows, item)), shape=shape, dtype=np.float64)
    m.sum_duplicates()
    m.data = (alpha * np.log1p(m.data)).astype(np.float64)
    return m.astype(np.float32).tocsr()


def fit_als(m: sp.csr_matrix, factors: int, iterations: int, seed: int) -> Any:
    """Fit ALS on one BLAS thread (implicit parallelises itself; nested threads thrash)."""
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors, iterations=iterations, regularization=0.05, random_state=seed
        )
        model.fit(m, show_progress=False)
    return model


def top_n(model: Any, m: sp.csr_matrix, users: F.IntArr, n: int, repeat: bool) -> F.IntArr:
    """Return the top ``n`` item codes for ``users`` (-1 pads), in batches."""
    out = np.full((len(users), n), -1, np.int64)
    step = 20_000
    with threadpool_limits(1, "blas"):
        for i in range(0, len(users), step):
            u = users[i : i + step]
            ids, _scores = model.recommend(u, m[u], N=n, filter_already_liked_items=not repeat)
            out[i : i + step, : ids.shape[1]] = ids
    return out


def popular(item: F.IntArr, at: F.FloatArr, since: float, n: int, n_items: int) -> F.IntArr:
    """Return the ``n`` items with most interactions since ``since`` (all time if none)."""
    recent = at >= since
    counts = np.bincount(item[recent] if recent.any() else item, minlength=n_items)
    return np.argsort(-counts, kind="stable")[:n]


def precision_recall(recs: F.IntArr, truth: sp.csr_matrix, k: int) -> tuple[float, float, int]:
    """Return mean precision@k and recall@k over the rows of ``truth`` that hold items."""
    has = np.diff(truth.indptr) > 0
    if not has.any():
        return 0.0, 0.0, 0
    r = recs[has, :k]
    t = truth[has]
    rows = np.repeat(np.arange(r.shape[0]), k)
    cols = r.ravel()
    valid = cols >= 0
    hit = np.zeros(len(cols))
    hit[valid] = np.asarray(t[rows[valid], cols[valid]]).ravel() > 0
    hits = hit.reshape(r.shape).sum(axis=1)
    size = np.diff(t.indptr)
    return float((hits / k).mean()), float((hits / size).mean()), int(has.sum())


def _evaluate(
    contact: F.IntArr,
    at: F.FloatArr,
    item: F.IntArr,
    weight: F.FloatArr,
    n_items: int,
    cut: float,
    k: int,
    cfg: dict[str, Any],
) -> dict[str, Any]:
    train = at < cut
    users, urow = np.unique(contact, return_inverse=True)
    shape = (len(users), n_items)
    m = user_items(urow[train], item[train], weight[train], shape, cfg["alpha"])
    test_rows, test_items = urow[~train & (weight >= 1)], item[~train & (weight >= 1)]
    truth = sp.csr_matrix(
        (np.ones(len(test_rows)), (test_rows, test_items)), shape=shape, dtype=np.float64
    )
    truth.sum_duplicates()
    if not cfg["repeat"]:  # only products new to the contact count
        truth = truth - truth.multiply(m > 0)
        truth.eliminate_zeros()
    known = np.diff(m.indptr) > 0
    truth = sp.csr_matrix(truth.multiply(known[:, None]))  # contacts with a history to learn from
    if truth.nnz == 0 or m.nnz == 0:
        return {"note": "no purchases after the split by contacts with a history before it"}
    model = fit_als(m, cfg["factors"], cfg["iterations"], cfg["seed"])
    eval_users = np.flatnonzero(np.diff(truth.indptr) > 0)
    recs = np.full((len(users), k), -1, np.int64)
    recs[eval_users] = top_n(model, m, eval_users, k, cfg["repeat"])
    p, r, n_eval = precision_recall(recs, truth, k)
    pop = popular(item[train], at[train], cut - 30 * F.DAY, k + 50, n_items)
    base = np.full((len(users), k), -1, np.int64)
    for u in eval_users.tolist():  # baseline: best sellers the contact has not bought
        bought = set(m.indices[m.indptr[u] : m.indptr[u + 1]].tolist()) if not cfg["repeat"] else ()
        picks = [i for i in pop.tolist() if i not in bought][:k]
        base[u, : len(picks)] = picks
    bp, br, _ = precision_recall(base, truth, k)
    return {
        "k": k,
        "contacts_evaluated": n_eval,
        f"precision_at_{k}": round(p, 4),
        f"recall_at_{k}": round(r, 4),
        f"popular_precision_at_{k}": round(bp, 4),
        f"popular_recall_at_{k}": round(br, 4),
    }


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    as_of: datetime | None = None,
    window_days: int | None = 365,
    n: int = 10,
    factors: int = 32,
    iterations: int = 12,
    alpha: float = 20.0,
    repeat: bool = False,
    test_days: int = 30,
    k: int = 5,
    seed: int = 0,
) -> ModelResult:
    """Fit on the window, store each customer's top ``n``; evaluate on the last ``test_days``."""
    until = as_of or utcnow()
    since = until - timedelta(days=window_days) if window_days else None
    cfg = {
        "window_days": window_days,
        "n": n,
        "factors": factors,
        "iterations": iterations,
        "alpha": alpha,
        "repeat": repeat,
        "test_days": test_days,
        "k": k,
        "seed": seed,
    }
    result = ModelResult("recommend", VERSION, cfg, since, until)
    lines = F.load_lines(conn, workspace_id, until, since)
    contact, at, item, weight, skus = interactions(lines, _views(conn, workspace_id, until, since))
    catalogue = F.load_products(conn, workspace_id)
    if len(contact) == 0:
        result.metrics = {"note": "no purchases or product views in the window"}
        result.output = {"popular": []}
        return result
    now = F.to_epoch(until)
    result.metrics = _evaluate(
        contact, at, item, weight, len(skus), now - test_days * F.DAY, k, cfg
    )
    users, urow = np.unique(contact, return_inverse=True)
    m = user_items(urow, item, weight, (len(users), len(skus)), alpha)
    model = fit_als(m, factors, iterations, seed)
    recs = top_n(model, m, np.arange(len(users)), n, repeat)
    pid = _product_ids(catalogue, skus)
    newest = _new_by_category(catalogue, set(skus))
    fav = _favourite_category(urow, item, lines.categories, len(users))
    pop = popular(item, at, now - 30 * F.DAY, n, len(skus))
    rows, top_sku = _rows(users, recs, pid, skus, fav, newest, n)
    result.traits = {"recommended_sku": top_sku}
    result.metrics["contacts"] = len(users)
    result.output = {"popular": [int(pid[i]) for i in pop.tolist() if pid[i] >= 0]}
    result.save_extra = lambda c, actor, run_id: _store(c, actor, run_id, rows)
    return result


def _product_ids(catalogue: list[Any], skus: list[str]) -> F.IntArr:
    by_sku = {r.sku: int(r.id) for r in catalogue}
    return np.array([by_sku.get(s, -1) for s in skus], np.int64)


def _new_by_category(catalogue: list[Any], sold: set[str]) -> dict[str, int]:
    """Return per category the newest active product nobody has bought or viewed yet."""
    out: dict[str, tuple[float, int]] = {}
    for r in catalogue:
        if r.sku in sold or r.category is None:
            continue
        if r.category not in out or r[3] > out[r.category][0]:
            out[r.category] = (float(r[3]), int(r.id))
    return {c: v[1] for c, v in out.items()}


def _favourite_category(
    urow: F.IntArr, item: F.IntArr, categories: list[str | None], n_users: int
) -> list[str | None]:
    """Return each user's most bought category (None without one)."""
    cats = [*categories, *([None] * (int(item.max()) + 1 - len(categories)))]
    names, code = np.unique(np.array([c or "" for c in cats], dtype=np.str_), return_inverse=True)
    m = (
        sp.csr_matrix(
            (np.ones(len(item)), (urow, code[item])), shape=(n_users, len(names))
        ).toarray()
        if len(names) <= 2000
        else None
    )
    if m is None:
        return [None] * n_users
    empty = np.flatnonzero(names == "")
    if len(empty):
        m[:, empty[0]] = -1
    best = m.argmax(axis=1)
    return [str(names[b]) or None if m[u, b] > 0 else None for u, b in enumerate(best.tolist())]


def _rows(
    users: F.IntArr,
    recs: F.IntArr,
    pid: F.IntArr,
    skus: list[str],
    fav: list[str | None],
    newest: dict[str, int],
    n: int,
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    rows = []
    top: dict[int, str] = {}
    sku_of = {int(p): skus[i] for i, p in enumerate(pid.tolist()) if p >= 0}
    for u, cid in enumerate(users.tolist()):
        items: list[list[Any]] = [
            [int(pid[i]), round(n - rank, 3), "cf"]
            for rank, i in enumerate(recs[u].tolist())
            if i >= 0 and pid[i] >= 0
        ]
        new = newest.get(fav[u] or "")
        if new is not None:  # a new product of the favourite category takes the last slot
            items = [*items[: n - 1], [new, 0.0, "content"]]
        if items:
            rows.append({"contact_id": cid, "items": items})
            top[cid] = sku_of.get(int(items[0][0]), "")
    return rows, top


def _store(conn: sa.Connection, actor: Actor, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Replace the workspace's stored recommendations with this run's."""
    ws = actor.workspace_id
    conn.execute(
        contact_recommendations.delete().where(contact_recommendations.c.workspace_id == ws)
    )
    now = utcnow()
    full = [
        {
            "contact_id": r["contact_id"],
            "workspace_id": ws,
            "items": r["items"],
            "run_id": run_id,
            "computed_at": now,
        }
        for r in rows
    ]
    for i in range(0, len(full), 20_000):
        json_insert(conn, contact_recommendations, full[i : i + 20_000], list(full[0]))


class Server:
    """Serve stored recommendations in batches: one query per batch, products cached.

    Built once per send (a campaign plan, a preview): ``for_contacts`` answers a batch of
    contact ids with product dicts; contacts without a stored list get the run's best sellers.
    """

    def __init__(
        self,
        conn: sa.Connection,
        workspace_id: int,
        *,
        products_cache: dict[int, dict[str, Any]] | None = None,
        popular: list[int] | None = None,
    ):
        self.conn = conn
        self.ws = workspace_id
        self._products: dict[int, dict[str, Any]] = (
            products_cache if products_cache is not None else {}
        )
        self._popular: list[int] | None = popular

    def popular_ids(self) -> list[int]:
        """Return the best sellers of the latest run (empty before any run)."""
        if self._popular is None:
            try:
                self._popular = list(
                    latest_run(self.conn, self.ws, "recommend")["output"].get("popular", [])
                )
            except Exception:
                self._popular = []
        return self._popular

    def _load_products(self, ids: set[int]) -> None:
        missing = [i for i in ids if i not in self._products]
        if not missing:
            return
        rows = self.conn.execute(
            sa.select(products).where(
                products.c.workspace_id == self.ws,
                in_values(self.conn, products.c.id, missing),
                products.c.active.is_(True),
            )
        ).all()
        for r in rows:
            self._products[int(r.id)] = product_dict(r)
        for i in missing:  # inactive or deleted: remembered as absent
            self._products.setdefault(i, {})

    def stored(self, contact_ids: list[int]) -> dict[int, list[list[Any]]]:
        """Return the stored ranked lists ``[[product_id, score, source], ...]`` by contact."""
        if not contact_ids:
            return {}
        rows = self.conn.execute(
            sa.select(
                contact_recommendations.c.contact_id, contact_recommendations.c["items"]
            ).where(
                contact_recommendations.c.workspace_id == self.ws,
                in_values(self.conn, contact_recommendations.c.contact_id, contact_ids),
            )
        ).all()
        return {int(r[0]): r[1] if not isinstance(r[1], str) else orjson.loads(r[1]) for r in rows}

    def for_contacts(self, contact_ids: list[int], n: int) -> dict[int, list[dict[str, Any]]]:
        """Return up to ``n`` available products per contact, best first."""
        lists = self.stored(contact_ids)
        pop = self.popular_ids()
        wanted = {int(i[0]) for items in lists.values() for i in items} | set(pop)
        self._load_products(wanted)
        out: dict[int, list[dict[str, Any]]] = {}
        for cid in contact_ids:
            items = lists.get(cid)
            ranked = [int(i[0]) for i in items] if items else []
            picks = [self._products[p] for p in ranked if self._products.get(p)][:n]
            if len(picks) < n:  # top up with best sellers not already listed
                seen = {p["id"] for p in picks}
                picks += [
                    self._products[p] for p in pop if p not in seen and self._products.get(p)
                ][: n - len(picks)]
            out[cid] = picks
        return out
