"""Social influence: PageRank and centrality on the contacts' interaction graph.

``contact_interactions`` holds who mentioned, shared or referred whom (the social feature writes
mentions and shares; referrals are synced here from orders and events that name a
``referrer_contact_id``). The graph has an edge from whoever was influenced to whoever
influenced them, weighted: a mention or a share credits its target, a referral credits the
referrer. networkx's PageRank on it gives ``influence_pagerank`` (scaled so that 1.0 is the
average contact in the graph); in-degree gives ``influence_reach`` (distinct contacts who
credit them).

Evaluation on a time split: does PageRank on interactions before the last ``test_days`` find
the contacts who gain most new credits after it? Reported as Spearman correlation and the share
of the top 1% by PageRank who are in the top 1% of later gainers, against plain in-degree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import networkx as nx
import numpy as np
import sqlalchemy as sa
from scipy.stats import spearmanr

from clarion.audit.service import Actor, record
from clarion.contacts.tables import contacts
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.events.bulk import json_insert
from clarion.events.tables import events, orders
from clarion.intelligence import features as F
from clarion.intelligence.runs import ModelResult
from clarion.intelligence.tables import contact_interactions

VERSION = "pagerank-1"
KINDS = ("mention", "share", "referral")
REFERRAL_EVENTS = ("referral", "referred", "friend_referred")
REFERRER_KEY = "referrer_contact_id"


def record_interactions(conn: sa.Connection, actor: Actor, rows: Sequence[dict[str, Any]]) -> int:
    """Store interactions ``{source_contact_id, target_contact_id, kind, weight?, at?, ref?}``.

    Rows with a ``ref`` already stored for the same kind are skipped, so a re-sync adds
    nothing. Returns how many rows were offered after validation.
    """
    ws = actor.workspace_id
    clean = []
    for i, r in enumerate(rows):
        kind = r.get("kind")
        if kind not in KINDS:
            raise ValidationFailed(
                f"kind must be one of {', '.join(KINDS)}", row=i, field="kind", value=kind
            )
        src, dst = r.get("source_contact_id"), r.get("target_contact_id")
        if not isinstance(src, int) or not isinstance(dst, int) or src == dst:
            raise ValidationFailed(
                "source_contact_id and target_contact_id are two different contact ids",
                row=i,
                field="source_contact_id",
                value=[src, dst],
            )
        weight = float(r.get("weight", 1.0))
        if not weight > 0:
            raise ValidationFailed("weight must be positive", row=i, field="weight", value=weight)
        clean.append(
            {
                "workspace_id": ws,
                "source_contact_id": src,
                "target_contact_id": dst,
                "kind": kind,
                "weight": weight,
                "at": r.get("at") or utcnow(),
                "ref": r.get("ref"),
            }
        )
    ids = sorted({c["source_contact_id"] for c in clean} | {c["target_contact_id"] for c in clean})
    if ids:
        known = _known(conn, ws, ids)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValidationFailed(
                f"{len(unknown)} contact id(s) not in this workspace",
                field="source_contact_id",
                value=unknown[:10],
            )
    for i in range(0, len(clean), 20_000):
        json_insert(
            conn,
            contact_interactions,
            clean[i : i + 20_000],
            list(clean[0]),
            conflict=("workspace_id", "kind", "ref"),
        )
    if clean:
        record(
            conn,
            actor,
            "intelligence.interactions",
            "contact_interactions",
            None,
            {"rows": len(clean)},
        )
    return len(clean)


def sync_referrals(conn: sa.Connection, actor: Actor) -> int:
    """Copy referrals named by orders' attributes and referral events into the graph."""
    ws = actor.workspace_id
    found: list[dict[str, Any]] = []
    q_orders = sa.select(
        orders.c.external_id,
        orders.c.contact_id,
        orders.c.placed_at,
        orders.c.attributes[REFERRER_KEY].as_string(),
    ).where(orders.c.workspace_id == ws, orders.c.attributes[REFERRER_KEY].as_string().is_not(None))
    for ext, cid, at, ref in conn.execute(q_orders):
        found.append(_referral(ref, cid, at, f"order:{ext}"))
    q_events = sa.select(
        events.c.id,
        events.c.contact_id,
        events.c.occurred_at,
        events.c.properties[REFERRER_KEY].as_string(),
    ).where(events.c.workspace_id == ws, events.c.name.in_(REFERRAL_EVENTS))
    for eid, cid, at, ref in conn.execute(q_events):
        if ref is not None:
            found.append(_referral(ref, cid, at, f"event:{eid}"))
    rows = [r for r in found if r and r["source_contact_id"] != r["target_contact_id"]]
    known = _known(conn, ws, sorted({r["source_contact_id"] for r in rows}))
    rows = [r for r in rows if r["source_contact_id"] in known]
    return record_interactions(conn, actor, rows) if rows else 0


def _known(conn: sa.Connection, workspace_id: int, ids: list[int]) -> set[int]:
    """Return which of ``ids`` are contacts of the workspace."""
    out: set[int] = set()
    for i in range(0, len(ids), 5000):
        out.update(
            conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.workspace_id == workspace_id,
                    in_values(conn, contacts.c.id, ids[i : i + 5000]),
                )
            ).scalars()
        )
    return out


def _referral(ref: Any, cid: int, at: datetime, key: str) -> dict[str, Any]:
    try:
        src = int(ref)
    except (TypeError, ValueError):
        return {}
    return {
        "source_contact_id": src,
        "target_contact_id": int(cid),
        "kind": "referral",
        "at": at,
        "ref": key,
    }


def _edges(
    conn: sa.Connection, workspace_id: int, until: datetime
) -> tuple[F.IntArr, F.IntArr, F.FloatArr, F.FloatArr]:
    """Return (influenced, influencer, weight, at) for every interaction before ``until``."""
    rows = conn.execute(
        sa.select(
            contact_interactions.c.source_contact_id,
            contact_interactions.c.target_contact_id,
            contact_interactions.c.kind,
            contact_interactions.c.weight,
            F.epoch(conn, contact_interactions.c.at),
        ).where(
            contact_interactions.c.workspace_id == workspace_id,
            contact_interactions.c.at < until,
        )
    ).all()
    src = np.array([r[0] for r in rows], np.int64)
    dst = np.array([r[1] for r in rows], np.int64)
    ref = np.array([r[2] == "referral" for r in rows], bool)
    frm = np.where(ref, dst, src)  # a referral credits its source (the referrer)
    to = np.where(ref, src, dst)
    return (
        frm,
        to,
        np.array([r[3] for r in rows], np.float64),
        np.array([r[4] for r in rows], np.float64),
    )


def pagerank(frm: F.IntArr, to: F.IntArr, w: F.FloatArr) -> tuple[F.IntArr, F.FloatArr]:
    """Return the graph's nodes (sorted) and PageRank scaled so the mean is 1."""
    g: nx.DiGraph[int] = nx.DiGraph()
    agg: dict[tuple[int, int], float] = {}
    for a, b, x in zip(frm.tolist(), to.tolist(), w.tolist(), strict=True):
        agg[(a, b)] = agg.get((a, b), 0.0) + x
    g.add_weighted_edges_from((a, b, x) for (a, b), x in agg.items())
    if g.number_of_nodes() == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    pr = nx.pagerank(g, alpha=0.85, weight="weight")
    nodes = np.array(sorted(pr), np.int64)
    score = np.array([pr[n] for n in nodes.tolist()]) * len(nodes)
    return nodes, score


def reach(frm: F.IntArr, to: F.IntArr, nodes: F.IntArr) -> F.FloatArr:
    """Return for each node the number of distinct contacts crediting it."""
    pairs = np.unique(np.column_stack([frm, to]), axis=0) if len(frm) else np.zeros((0, 2))
    pos = F.index_of(nodes, pairs[:, 1].astype(np.int64))
    return np.bincount(pos[pos >= 0], minlength=len(nodes)).astype(np.float64)


def _evaluate(
    frm: F.IntArr, to: F.IntArr, w: F.FloatArr, at: F.FloatArr, cut: float
) -> dict[str, Any]:
    early = at < cut
    nodes, score = pagerank(frm[early], to[early], w[early])
    if len(nodes) < 20 or (~early).sum() == 0:
        return {"note": "too few interactions before or after the split to evaluate"}
    later = F.index_of(nodes, to[~early])
    gain = np.bincount(later[later >= 0], minlength=len(nodes)).astype(np.float64)
    deg = reach(frm[early], to[early], nodes)
    top = max(1, len(nodes) // 100)
    best_gain = set(np.argsort(-gain, kind="stable")[:top].tolist())

    def overlap(s: F.FloatArr) -> float:
        return len(best_gain & set(np.argsort(-s, kind="stable")[:top].tolist())) / top

    return {
        "nodes_before_split": len(nodes),
        "credits_after_split": int((~early).sum()),
        "spearman_pagerank": round(float(spearmanr(score, gain).statistic), 4),
        "spearman_in_degree": round(float(spearmanr(deg, gain).statistic), 4),
        "top1pct_overlap_pagerank": round(overlap(score), 4),
        "top1pct_overlap_in_degree": round(overlap(deg), 4),
    }


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    as_of: datetime | None = None,
    test_days: int = 90,
) -> ModelResult:
    """Rank every contact in the interaction graph by influence."""
    until = as_of or utcnow()
    frm, to, w, at = _edges(conn, workspace_id, until)
    result = ModelResult("influence", VERSION, {"test_days": test_days}, None, until)
    if len(frm) == 0:
        result.metrics = {"note": "no interactions (mentions, shares, referrals) yet"}
        return result
    nodes, score = pagerank(frm, to, w)
    r = reach(frm, to, nodes)
    keys = nodes.tolist()
    result.traits = {
        "influence_pagerank": dict(zip(keys, np.round(score, 4).tolist(), strict=True)),
        "influence_reach": dict(zip(keys, r.tolist(), strict=True)),
    }
    top = np.argsort(-score)[:10]
    result.metrics = {
        "nodes": len(nodes),
        "edges": len(frm),
        **_evaluate(frm, to, w, at, F.to_epoch(until) - test_days * 86400.0),
    }
    result.output = {
        "top": [
            {"contact_id": keys[i], "pagerank": round(float(score[i]), 3), "reach": int(r[i])}
            for i in top.tolist()
        ]
    }
    return result
