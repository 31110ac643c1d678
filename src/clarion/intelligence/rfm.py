"""RFM: recency, frequency and monetary quintile scores and named customer groups.

Scores are quintiles of the customers who ordered in the window (5 = most recent / most
frequent / highest spend), by average rank so that ties (the many one-order customers) share a
score. Groups come from the R score and the rounded mean of the F and M scores on the usual
5x5 RFM grid (champions, loyal, potential loyalist, new, promising, need attention, about to
sleep, at risk, can't lose, hibernating, lost).

Evaluation: the same scores computed ``horizon_days`` earlier, and for each group the share of
its customers who ordered again in the following ``horizon_days``; a sound grouping shows
champions buying again far more often than hibernating or lost customers. The AUC of the summed
score for "ordered again" condenses that into one figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from clarion.db.types import utcnow
from clarion.intelligence import features as F
from clarion.intelligence.runs import ModelResult

VERSION = "rfm-1"

GROUPS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new_customer",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)

# Rows: R score 1..5; columns: FM score 1..5.
_GRID = np.array(
    [
        ["lost", "hibernating", "at_risk", "at_risk", "cant_lose"],
        ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"],
        ["about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"],
        ["promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"],
        ["new_customer", "potential_loyalist", "potential_loyalist", "champions", "champions"],
    ]
)


def quintile(values: F.FloatArr) -> F.IntArr:
    """Return 1..5 quintile scores of ``values`` (higher value, higher score; ties share)."""
    if len(values) == 0:
        return np.zeros(0, np.int64)
    pct = (rankdata(values, method="average") - 0.5) / len(values)
    return np.clip(np.floor(pct * 5).astype(np.int64) + 1, 1, 5)


def score(
    recency_days: F.FloatArr, frequency: F.FloatArr, monetary: F.FloatArr
) -> tuple[F.IntArr, F.IntArr, F.IntArr, np.ndarray[Any, Any]]:
    """Return R, F, M scores (1..5) and group names for customers with at least one order."""
    r = quintile(-recency_days)
    f = quintile(frequency)
    m = quintile(monetary)
    fm = np.clip(np.floor((f + m) / 2 + 0.5).astype(np.int64), 1, 5)
    return r, f, m, _GRID[r - 1, fm - 1]


def _evaluate(o: F.Orders, ids: F.IntArr, as_of: float, horizon: float) -> dict[str, Any]:
    cut = as_of - horizon * F.DAY
    agg = F.order_aggregates(o, ids, cut)
    buyers = agg["frequency"] > 0
    if buyers.sum() < 10:
        return {"note": "fewer than 10 customers before the evaluation cut-off"}
    r, f, m, groups = score(
        agg["recency_days"][buyers], agg["frequency"][buyers], agg["monetary"][buyers]
    )
    pos = F.index_of(ids, o.contact_id)
    later = (o.at >= cut) & (o.at < as_of) & (pos >= 0)
    again = np.bincount(pos[later], minlength=len(ids))[buyers] > 0
    table = {}
    for g in GROUPS:
        sel = groups == g
        if sel.any():
            table[g] = {
                "customers": int(sel.sum()),
                "ordered_again": round(float(again[sel].mean()), 4),
            }
    total = (r + f + m).astype(np.float64)
    auc = float(roc_auc_score(again, total)) if 0 < again.sum() < len(again) else None
    return {
        "cutoff_days_before": horizon,
        "customers": int(buyers.sum()),
        "base_rate": round(float(again.mean()), 4),
        "auc_rfm_sum": None if auc is None else round(auc, 4),
        "by_group": table,
    }


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    as_of: datetime | None = None,
    window_days: int | None = None,
    horizon_days: int = 90,
) -> ModelResult:
    """Score every customer with an order in the window; evaluate on an earlier cut-off."""
    until = as_of or utcnow()
    since = until - timedelta(days=window_days) if window_days else None
    o = F.load_orders(conn, workspace_id, until, since)
    ids = np.unique(o.contact_id)
    now = F.to_epoch(until)
    agg = F.order_aggregates(o, ids, now)
    r, f, m, groups = score(agg["recency_days"], agg["frequency"], agg["monetary"])
    keys = ids.tolist()
    counts = {g: int((groups == g).sum()) for g in GROUPS if (groups == g).any()}
    return ModelResult(
        model="rfm",
        version=VERSION,
        params={"window_days": window_days, "horizon_days": horizon_days},
        window_start=since,
        window_end=until,
        traits={
            "rfm_r": dict(zip(keys, r.tolist(), strict=True)),
            "rfm_f": dict(zip(keys, f.tolist(), strict=True)),
            "rfm_m": dict(zip(keys, m.tolist(), strict=True)),
            "rfm_group": dict(zip(keys, groups.tolist(), strict=True)),
        },
        metrics=_evaluate(o, ids, now, horizon_days),
        output={"groups": counts},
    )
