"""Budget allocation: split a budget over segment x channel cells to maximise expected value.

The problem: cells (segment, channel) with a cost per contact, a predicted response rate, a
value per response and a reachable audience; choose how many contacts ``x`` to reach in each

    maximise  Σ x·response·value
    subject to Σ x·cost ≤ budget;  Σ_channels x ≤ segment size (a person is reached once);
               Σ_segment x·cost ≤ share_c · budget per capped channel;
               Σ_segment x·cost ≥ min_spend_c per channel with a floor;  0 ≤ x ≤ audience.

It is linear, so ``scipy.optimize.linprog`` (HiGHS) gives the exact optimum and ``milp`` the
exact optimum in whole contacts. An evolutionary search (scipy's ``differential_evolution``
with the same linear constraints, no gradient polish) is run on the same problem and reported
beside it with its gap: the evolutionary answer is there to be checked, never trusted alone;
the exact answer is the one applied. (It earns its keep once a response curve stops being
linear, e.g. saturation, which the LP cannot express.)

From data (:func:`problem_from_traits`): segments are the ``rfm_group`` trait's values, their
response is one minus their mean ``churn_risk`` (or the RFM run's measured repurchase rate)
times a per-channel factor, their value the segment's average order value, and a cell's
audience the segment's contacts reachable on that channel. The allocation is written as the
``budget_channel`` trait on the contacts chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, Field, field_validator, model_validator
from scipy.optimize import (
    Bounds,
    LinearConstraint,
    differential_evolution,
    linprog,
    milp,
)

from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.events.tables import orders
from clarion.intelligence.runs import ModelResult
from clarion.traits.tables import contact_traits

VERSION = "lp-de-1"


class Cell(BaseModel):
    """One segment x channel option."""

    segment: str
    channel: str
    cost: float = Field(gt=0, description="cost of reaching one contact")
    response: float = Field(ge=0, le=1, description="predicted response probability")
    value: float = Field(ge=0, description="value of one response")
    audience: int = Field(ge=0, description="contacts of the segment reachable on the channel")


class Problem(BaseModel):
    """A budget allocation problem."""

    budget: float = Field(gt=0)
    segments: dict[str, int] = Field(description="segment -> number of contacts")
    cells: list[Cell] = Field(min_length=1)
    channel_max_share: dict[str, float] = Field(default_factory=dict)
    channel_min_spend: dict[str, float] = Field(default_factory=dict)

    @field_validator("channel_max_share")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        for ch, s in v.items():
            if not 0 <= s <= 1:
                raise ValueError(f"channel_max_share.{ch} must be between 0 and 1, got {s}")
        return v

    @model_validator(mode="after")
    def _known_segments(self) -> Problem:
        for i, c in enumerate(self.cells):
            if c.segment not in self.segments:
                raise ValueError(f"cells[{i}].segment {c.segment!r} is not in segments")
        return self


@dataclass(frozen=True)
class Solution:
    """Contacts per cell, its spend and expected value."""

    x: np.ndarray[Any, Any]
    spend: float
    value: float


def _matrices(p: Problem) -> tuple[np.ndarray[Any, Any], ...]:
    """Return (gain, A_ub, b_ub, upper) with all constraints as A_ub·x ≤ b_ub."""
    n = len(p.cells)
    cost = np.array([c.cost for c in p.cells])
    gain = np.array([c.response * c.value for c in p.cells])
    rows, b = [cost], [p.budget]
    for seg, size in p.segments.items():
        rows.append(np.array([1.0 if c.segment == seg else 0.0 for c in p.cells]))
        b.append(float(size))
    for ch, share in p.channel_max_share.items():
        rows.append(np.where([c.channel == ch for c in p.cells], cost, 0.0))
        b.append(share * p.budget)
    for ch, floor in p.channel_min_spend.items():
        rows.append(-np.where([c.channel == ch for c in p.cells], cost, 0.0))
        b.append(-floor)
    upper = np.array([float(c.audience) for c in p.cells])
    return gain, np.vstack(rows).reshape(-1, n), np.array(b), upper


def _solution(p: Problem, x: np.ndarray[Any, Any]) -> Solution:
    cost = np.array([c.cost for c in p.cells])
    gain = np.array([c.response * c.value for c in p.cells])
    return Solution(x, float(cost @ x), float(gain @ x))


def solve_lp(p: Problem) -> Solution:
    """Return the exact continuous optimum (HiGHS)."""
    gain, a, b, upper = _matrices(p)
    res = linprog(-gain, A_ub=a, b_ub=b, bounds=list(zip(np.zeros(len(upper)), upper, strict=True)))
    if res.status != 0:
        raise ValidationFailed(f"the allocation problem has no solution: {res.message}")
    return _solution(p, np.asarray(res.x))


def solve_milp(p: Problem) -> Solution:
    """Return the exact optimum in whole contacts."""
    gain, a, b, upper = _matrices(p)
    res = milp(
        -gain,
        constraints=LinearConstraint(a, -np.inf, b),
        integrality=np.ones(len(upper), dtype=np.int64),
        bounds=Bounds(np.zeros(len(upper)), upper),
    )
    if res.x is None:
        raise ValidationFailed(
            f"the allocation problem has no whole-contact solution: {res.message}"
        )
    return _solution(p, np.round(res.x))


def solve_evolutionary(p: Problem, *, seed: int = 0, maxiter: int = 300) -> Solution:
    """Return differential evolution's answer on the same constraints (no polish)."""
    gain, a, b, upper = _matrices(p)
    if not (upper > 0).any():
        return _solution(p, np.zeros(len(upper)))
    hi = np.maximum(upper, 1e-9)

    def loss(x: np.ndarray[Any, Any]) -> Any:
        return -(gain @ x)  # x is (cells, population): the whole population at once

    res = differential_evolution(
        loss,
        bounds=Bounds(np.zeros(len(hi)), hi),
        constraints=LinearConstraint(a, -np.inf, b),
        seed=seed,
        maxiter=maxiter,
        popsize=20,
        tol=1e-8,
        polish=False,
        init="sobol",
        vectorized=True,
        updating="deferred",
    )
    x = np.clip(res.x, 0, upper)
    return _solution(p, x)


def allocate(p: Problem, *, seed: int = 0) -> dict[str, Any]:
    """Solve exactly and by evolution; return the allocation and the comparison."""
    lp, ip, de = solve_lp(p), solve_milp(p), solve_evolutionary(p, seed=seed)
    gap = (lp.value - de.value) / lp.value if lp.value > 0 else 0.0
    cells = [
        {
            **c.model_dump(),
            "contacts": int(ip.x[i]),
            "spend": round(float(ip.x[i] * c.cost), 2),
            "expected_value": round(float(ip.x[i] * c.response * c.value), 2),
            "contacts_lp": round(float(lp.x[i]), 2),
            "contacts_evolutionary": round(float(de.x[i]), 2),
        }
        for i, c in enumerate(p.cells)
    ]
    return {
        "budget": p.budget,
        "cells": cells,
        "exact_value": round(ip.value, 2),
        "exact_spend": round(ip.spend, 2),
        "lp_value": round(lp.value, 2),
        "evolutionary_value": round(de.value, 2),
        "evolutionary_spend": round(de.spend, 2),
        "evolutionary_gap": round(gap, 4),
    }


def problem_from_traits(
    conn: sa.Connection,
    workspace_id: int,
    *,
    budget: float,
    channels: dict[str, dict[str, float]],
    channel_max_share: dict[str, float] | None = None,
    segment_trait: str = "rfm_group",
) -> tuple[Problem, dict[str, dict[str, list[int]]]]:
    """Build the problem from the workspace's traits; also return reachable ids per cell.

    ``channels``: ``{"sms": {"cost": 0.04, "factor": 1.0}, "email": {...}}``; ``factor`` scales
    a segment's response on that channel (sms and email are the channels known here).
    """
    for ch, cfg in channels.items():
        if ch not in ("sms", "email"):
            raise ValidationFailed("channels are sms or email", field="channels", value=ch)
        if cfg.get("cost", 0) <= 0:
            raise ValidationFailed("a channel needs a positive cost", field=f"channels.{ch}.cost")
    seg = contact_traits.alias("seg")
    churn = contact_traits.alias("churn")
    rows = conn.execute(
        sa.select(
            seg.c.contact_id,
            seg.c.value_text,
            churn.c.value_num,
            contacts.c.phone,
            contacts.c.email,
        )
        .select_from(
            seg.join(contacts, contacts.c.id == seg.c.contact_id).outerjoin(
                churn, sa.and_(churn.c.contact_id == seg.c.contact_id, churn.c.name == "churn_risk")
            )
        )
        .where(seg.c.workspace_id == workspace_id, seg.c.name == segment_trait)
        .order_by(seg.c.contact_id)
    ).all()
    if not rows:
        raise ValidationFailed(
            f"no contact has the {segment_trait} trait yet: run that model first",
            field="segment_trait",
            value=segment_trait,
        )
    aov = dict(
        conn.execute(
            sa.select(contact_traits.c.value_text, sa.func.avg(orders.c.total))
            .select_from(
                contact_traits.join(orders, orders.c.contact_id == contact_traits.c.contact_id)
            )
            .where(
                contact_traits.c.workspace_id == workspace_id,
                contact_traits.c.name == segment_trait,
            )
            .group_by(contact_traits.c.value_text)
        ).all()
    )
    sizes: dict[str, int] = {}
    resp: dict[str, list[float]] = {}
    reach: dict[str, dict[str, list[int]]] = {}
    for cid, s, risk, phone, email in rows:
        sizes[s] = sizes.get(s, 0) + 1
        resp.setdefault(s, []).append(1.0 - risk if risk is not None else 0.5)
        for ch, addr in (("sms", phone), ("email", email)):
            if ch in channels and addr:
                reach.setdefault(s, {}).setdefault(ch, []).append(int(cid))
    cells = [
        Cell(
            segment=s,
            channel=ch,
            cost=cfg["cost"],
            response=min(1.0, float(np.mean(resp[s])) * cfg.get("factor", 1.0)),
            value=float(aov.get(s) or 0.0),
            audience=len(reach.get(s, {}).get(ch, [])),
        )
        for s in sorted(sizes)
        for ch, cfg in channels.items()
    ]
    problem = Problem(
        budget=budget,
        segments=sizes,
        cells=cells,
        channel_max_share=channel_max_share or {},
    )
    return problem, reach


def compute(
    conn: sa.Connection,
    workspace_id: int,
    *,
    budget: float,
    channels: dict[str, dict[str, float]],
    channel_max_share: dict[str, float] | None = None,
    segment_trait: str = "rfm_group",
    seed: int = 0,
) -> ModelResult:
    """Allocate ``budget`` over the workspace's segments; mark the chosen contacts."""
    problem, reach = problem_from_traits(
        conn,
        workspace_id,
        budget=budget,
        channels=channels,
        channel_max_share=channel_max_share,
        segment_trait=segment_trait,
    )
    out = allocate(problem, seed=seed)
    chosen: dict[int, str] = {}
    # Within a segment, the better-paying channel picks its contacts first.
    for cell in sorted(out["cells"], key=lambda c: -(c["response"] * c["value"] / c["cost"])):
        left = cell["contacts"]
        for cid in reach.get(cell["segment"], {}).get(cell["channel"], []):
            if left <= 0:
                break
            if cid not in chosen:
                chosen[cid] = cell["channel"]
                left -= 1
    for cells in reach.values():  # everyone else in a segment: explicitly not this time
        for ids in cells.values():
            for cid in ids:
                chosen.setdefault(cid, "none")
    params = {
        "budget": budget,
        "channels": channels,
        "channel_max_share": channel_max_share or {},
        "segment_trait": segment_trait,
        "seed": seed,
    }
    result = ModelResult("budget", VERSION, params, None, utcnow())
    result.traits = {"budget_channel": chosen}
    result.metrics = {k: v for k, v in out.items() if k != "cells"}
    result.output = {"cells": out["cells"]}
    return result
