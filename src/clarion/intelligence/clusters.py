"""Customer clusters on behaviour, with the number of clusters chosen from the data.

Features per customer: log recency, frequency and spend, average order value, orders in the last
90 days, the share of items bought in each of the top categories, the channels they can be
reached on, and engagement in the last 90 days. They are standardised; MiniBatchKMeans is fitted
for each k in a range and the k with the best silhouette on a sample wins (silhouette is
quadratic in the rows, so it is measured on a few thousand). Each cluster gets a profile a
person can read: the features where its mean differs most from everyone's, in standard
deviations ("frequency +1.8 sd, recency -0.9 sd"), and a label made of the top two.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from clarion.db.types import utcnow
from clarion.intelligence import features as F
from clarion.intelligence.runs import ModelResult

VERSION = "kmeans-1"
TOP_CATEGORIES = 8


def feature_matrix(
    o: F.Orders,
    lines: F.Lines,
    eng: F.Engagement,
    base: F.ContactBase,
    ids: F.IntArr,
    as_of: float,
) -> tuple[F.FloatArr, list[str]]:
    """Return the behaviour features of ``ids`` (sorted) and their names."""
    agg = F.order_aggregates(o, ids, as_of)
    cols = {
        "days_since_order": np.log1p(np.nan_to_num(agg["recency_days"], nan=3650.0)),
        "frequency": np.log1p(agg["frequency"]),
        "spend": np.log1p(agg["monetary"]),
        "order_value": np.log1p(agg["avg_order_value"]),
        "orders_90d": np.log1p(agg["orders_90d"]),
    }
    pos = F.index_of(ids, lines.contact_id)
    keep = pos >= 0
    cat_names = np.array([c or "(none)" for c in lines.categories], dtype=np.str_)
    line_cat = cat_names[lines.item[keep]] if len(lines.item) else np.zeros(0, np.str_)
    if len(line_cat):
        names, cat_code = np.unique(line_cat, return_inverse=True)
        counts = np.bincount(cat_code, minlength=len(names))
        top = np.argsort(-counts)[:TOP_CATEGORIES]
        totals = np.bincount(pos[keep], minlength=len(ids)).astype(np.float64)
        for c in top.tolist():
            sel = cat_code == c
            share = np.bincount(pos[keep][sel], minlength=len(ids)) / np.maximum(totals, 1)
            if len(names) > 1:
                cols[f"share_{names[c]}"] = share
    bpos = F.index_of(base.ids, ids)
    ok = bpos >= 0
    cols["sms"] = np.where(ok, base.has_phone[np.maximum(bpos, 0)], 0.0)
    cols["email"] = np.where(ok, base.has_email[np.maximum(bpos, 0)], 0.0)
    cols["engagement_90d"] = np.log1p(F.engagement_counts(eng, ids, as_of, 90))
    # Constant columns carry no information and would divide by zero when standardised.
    cols = {k: v for k, v in cols.items() if np.ptp(v) > 0}
    return np.column_stack(list(cols.values())), list(cols)


def choose_k(
    x: F.FloatArr, ks: range, *, seed: int = 0, sample: int = 4000
) -> tuple[int, dict[int, float], Any]:
    """Fit k-means for every k; return the best k by silhouette, all scores, the best model."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), min(sample, len(x)), replace=False)
    scores: dict[int, float] = {}
    models: dict[int, Any] = {}
    for k in ks:
        if k >= len(idx):
            break
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        km.fit(x)
        labels = km.predict(x[idx])
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(x[idx], labels))
        models[k] = km
    if not scores:
        raise ValueError("not enough distinct customers to cluster")
    best = max(scores, key=lambda k: scores[k])
    return best, scores, models[best]


def profiles(
    x: F.FloatArr, labels: F.IntArr, names: list[str], top: int = 3
) -> list[dict[str, Any]]:
    """Return per cluster its size and the features that set it apart (in sd of everyone)."""
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    out = []
    for c in np.unique(labels).tolist():
        sel = labels == c
        z = (x[sel].mean(axis=0) - mean) / sd
        order = np.argsort(-np.abs(z))[:top]
        apart = [
            {"feature": names[i], "sd": round(float(z[i]), 2), "direction": _dir(z[i])}
            for i in order.tolist()
        ]
        label = ", ".join(f"{a['direction']} {a['feature']}" for a in apart[:2])
        out.append({"cluster": c, "size": int(sel.sum()), "label": label, "stands_out": apart})
    return out


def _dir(z: float) -> str:
    return "high" if z > 0 else "low"


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    as_of: datetime | None = None,
    window_days: int | None = 730,
    k_min: int = 2,
    k_max: int = 8,
    seed: int = 0,
) -> ModelResult:
    """Cluster the workspace's customers (contacts with an order in the window)."""
    until = as_of or utcnow()
    since = until - timedelta(days=window_days) if window_days else None
    o = F.load_orders(conn, workspace_id, until, since)
    lines = F.load_lines(conn, workspace_id, until, since)
    eng = F.load_engagement(conn, workspace_id, until, since)
    base = F.load_contacts(conn, workspace_id)
    ids = np.unique(o.contact_id)
    params = {"window_days": window_days, "k_min": k_min, "k_max": k_max, "seed": seed}
    result = ModelResult("clusters", VERSION, params, since, until)
    if len(ids) < 10:
        result.metrics = {"note": f"{len(ids)} customers: too few to cluster"}
        return result
    raw, names = feature_matrix(o, lines, eng, base, ids, F.to_epoch(until))
    x = StandardScaler().fit_transform(raw)
    k, scores, km = choose_k(x, range(k_min, k_max + 1), seed=seed)
    labels = km.predict(x)
    profs = profiles(x, labels, names)
    label_of = {p["cluster"]: p["label"] for p in profs}
    keys = ids.tolist()
    result.traits = {
        "cluster": dict(zip(keys, labels.tolist(), strict=True)),
        "cluster_label": {c: label_of[lab] for c, lab in zip(keys, labels.tolist(), strict=True)},
    }
    result.metrics = {
        "k": k,
        "silhouette_by_k": {str(kk): round(v, 4) for kk, v in scores.items()},
        "customers": len(ids),
        "features": names,
    }
    result.output = {"profiles": profs}
    return result
