"""Best send time: each contact's best local hour, from when they engaged, shrunk to a prior.

Moments of engagement (events such as clicks, replies and views, and orders) are turned into
hours in the contact's own zone (their ``timezone``, else their number's zone, else the
workspace's; daylight saving included, by converting once per distinct zone and UTC hour). Each
contact's 24-hour histogram, lightly smoothed around the clock, is combined with a prior:
their segment's pattern (the ``segment_trait``, RFM group by default) or everyone's, as

    p(h) = (n(h) + m · prior(h)) / (n + m)

which is the posterior mean under a Dirichlet prior of strength ``m``. ``m`` is chosen by
empirical Bayes: the value that best predicts each contact's most recent engagement hour from
the ones before (held-out log-likelihood over a grid). A contact with two clicks thus mostly
follows their segment; one with fifty follows themselves.

The ``best_hour`` trait (0-23, local) is what the campaign planner's ``send_time: best_hour``
reads. Evaluation: on each contact's latest engagement, held out, the share predicted within an
hour, against everyone's single best hour and against the contact's own history alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import sqlalchemy as sa

from clarion.db.types import utcnow
from clarion.intelligence import features as F
from clarion.intelligence.runs import ModelResult
from clarion.traits.tables import contact_traits

VERSION = "eb-hours-1"
M_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def local_hours(at: F.FloatArr, zones: list[str]) -> F.IntArr:
    """Return the local hour (0-23) of each epoch time in the zone at the same position."""
    out = np.zeros(len(at), np.int64)
    zarr = np.array(zones, dtype=np.str_) if zones else np.zeros(0, np.str_)
    for z in np.unique(zarr).tolist():
        sel = np.flatnonzero(zarr == z)
        try:
            tz: Any = ZoneInfo(z)
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
        hour_start = np.floor(at[sel] / 3600.0)
        uniq, inv = np.unique(hour_start, return_inverse=True)
        offs = np.array(
            [
                datetime.fromtimestamp(h * 3600.0, tz).utcoffset().total_seconds()  # type: ignore[union-attr]
                for h in uniq.tolist()
            ]
        )
        out[sel] = (np.floor((at[sel] + offs[inv]) / 3600.0) % 24).astype(np.int64)
    return out


def histograms(rows: F.IntArr, hours: F.IntArr, n_rows: int) -> F.FloatArr:
    """Return an n_rows x 24 count matrix."""
    return np.bincount(rows * 24 + hours, minlength=n_rows * 24).reshape(n_rows, 24).astype(float)


def smooth(h: F.FloatArr) -> F.FloatArr:
    """Spread each count a little to the neighbouring hours (around the clock)."""
    out: F.FloatArr = 0.6 * h + 0.2 * (np.roll(h, 1, axis=-1) + np.roll(h, -1, axis=-1))
    return out


def priors(h: F.FloatArr, group: F.IntArr, n_groups: int) -> F.FloatArr:
    """Return per row its group's hour distribution, itself shrunk toward everyone's."""
    total = h.sum(axis=0) + 1e-9
    glob = total / total.sum()
    g = np.zeros((n_groups, 24))
    np.add.at(g, group, h)
    g = (g + 24 * glob) / (g.sum(axis=1, keepdims=True) + 24)
    out: F.FloatArr = g[group]
    return out


def posterior(h: F.FloatArr, prior: F.FloatArr, m: float) -> F.FloatArr:
    """Return the Dirichlet posterior mean of each row's hour distribution."""
    n = h.sum(axis=1, keepdims=True)
    out: F.FloatArr = (h + m * prior) / np.maximum(n + m, 1e-12)
    return out


def _split_last(rows: F.IntArr, at: F.FloatArr, n_rows: int) -> F.IntArr:
    """Return the index of each row's latest moment (-1 for rows without one)."""
    last = np.full(n_rows, -1, np.int64)
    order = np.lexsort((at, rows))
    ends = np.flatnonzero(np.r_[rows[order][1:] != rows[order][:-1], True])
    last[rows[order][ends]] = order[ends]
    return last


def fit_m(
    rows: F.IntArr, hours: F.IntArr, at: F.FloatArr, group: F.IntArr, n_rows: int, n_groups: int
) -> tuple[float, dict[str, Any]]:
    """Choose the prior strength by held-out log-likelihood; return it and the evaluation."""
    last = _split_last(rows, at, n_rows)
    held = np.zeros(len(rows), bool)
    held[last[last >= 0]] = True
    counts = np.bincount(rows, minlength=n_rows)
    h_train = smooth(histograms(rows[~held], hours[~held], n_rows))
    prior = priors(h_train, group, n_groups)
    ev = np.flatnonzero((last >= 0) & (counts >= 3))
    if len(ev) == 0:
        return 4.0, {"note": "no contact with three or more engagements: prior strength 4"}
    truth = hours[last[ev]]
    ll = {}
    hit = {}
    for m in M_GRID:
        p = posterior(h_train[ev], prior[ev], m) if m > 0 else _own(h_train[ev], prior[ev])
        ll[m] = float(np.log(np.maximum(p[np.arange(len(ev)), truth], 1e-9)).mean())
        hit[m] = _within(p.argmax(axis=1), truth)
    best = max((m for m in M_GRID if m > 0), key=lambda m: ll[m])
    glob_best = int(h_train.sum(axis=0).argmax())
    return best, {
        "contacts_evaluated": len(ev),
        "prior_strength": best,
        "loglik_by_strength": {str(m): round(v, 4) for m, v in ll.items()},
        "within_1h": round(hit[best], 4),
        "within_1h_own_history_only": round(hit[0.0], 4),
        "within_1h_everyone_best_hour": round(_within(np.full(len(ev), glob_best), truth), 4),
        "within_1h_segment_prior_only": round(_within(prior[ev].argmax(axis=1), truth), 4),
    }


def _own(h: F.FloatArr, prior: F.FloatArr) -> F.FloatArr:
    """Return the contact's own distribution (the prior only where they have nothing)."""
    n = h.sum(axis=1, keepdims=True)
    return np.where(n > 0, h / np.maximum(n, 1e-12), prior)


def _within(pred: F.IntArr, truth: F.IntArr) -> float:
    d = np.abs(pred - truth) % 24
    return float((np.minimum(d, 24 - d) <= 1).mean())


def _groups(
    conn: sa.Connection, workspace_id: int, ids: F.IntArr, trait: str | None
) -> tuple[F.IntArr, int]:
    """Return each contact's group code from a text trait (0: no value), and the group count."""
    if not trait:
        return np.zeros(len(ids), np.int64), 1
    rows = conn.execute(
        sa.select(contact_traits.c.contact_id, contact_traits.c.value_text).where(
            contact_traits.c.workspace_id == workspace_id, contact_traits.c.name == trait
        )
    ).all()
    names = sorted({str(r[1]) for r in rows if r[1] is not None})
    code = {n: i + 1 for i, n in enumerate(names)}
    out = np.zeros(len(ids), np.int64)
    if rows:
        cid = np.array([r[0] for r in rows], np.int64)
        val = np.array([code.get(str(r[1]), 0) for r in rows], np.int64)
        pos = F.index_of(ids, cid)
        out[pos[pos >= 0]] = val[pos >= 0]
    return out, len(names) + 1


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    as_of: datetime | None = None,
    window_days: int | None = 365,
    segment_trait: str | None = "rfm_group",
) -> ModelResult:
    """Compute ``best_hour`` for every contact with engagement or orders in the window."""
    until = as_of or utcnow()
    since = until - timedelta(days=window_days) if window_days else None
    base = F.load_contacts(conn, workspace_id)
    eng = F.load_engagement(conn, workspace_id, until, since)
    o = F.load_orders(conn, workspace_id, until, since)
    contact = np.concatenate([eng.contact_id, o.contact_id])
    at = np.concatenate([eng.at, o.at])
    params = {"window_days": window_days, "segment_trait": segment_trait}
    result = ModelResult("send_time", VERSION, params, since, until)
    pos = F.index_of(base.ids, contact)
    contact, at, pos = contact[pos >= 0], at[pos >= 0], pos[pos >= 0]
    if len(contact) == 0:
        result.metrics = {"note": "no engagement or orders in the window"}
        return result
    ids, rows = np.unique(contact, return_inverse=True)
    zones = [base.zone[p] for p in pos.tolist()]
    hours = local_hours(at, zones)
    group, n_groups = _groups(conn, workspace_id, ids, segment_trait)
    m, metrics = fit_m(rows, hours, at, group, len(ids), n_groups)
    h = smooth(histograms(rows, hours, len(ids)))
    p = posterior(h, priors(h, group, n_groups), m)
    best = p.argmax(axis=1)
    n = np.bincount(rows, minlength=len(ids))
    keys = ids.tolist()
    result.traits = {
        "best_hour": dict(zip(keys, best.tolist(), strict=True)),
        "best_hour_weight": dict(zip(keys, np.round(n / (n + m), 3).tolist(), strict=True)),
    }
    metrics["contacts"] = len(ids)
    metrics["hour_histogram_everyone"] = np.bincount(hours, minlength=24).tolist()
    result.metrics = metrics
    return result
