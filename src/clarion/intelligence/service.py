"""Run the models: read on a read-only connection, compute, save in one short transaction.

Each ``run_*`` returns the saved run (id, metrics, output): what the CLI prints and the API
returns. :func:`run_all` runs them in dependency order (RFM groups feed the send-time prior
and the budget's segments; churn risk feeds the budget's response).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from threadpoolctl import threadpool_limits

from clarion.audit.service import Actor
from clarion.db.engine import read_only
from clarion.errors import ValidationFailed
from clarion.intelligence import (
    basket,
    budget,
    churn,
    clusters,
    influence,
    recommend,
    rfm,
    send_time,
    template_helpers,
)
from clarion.intelligence.runs import ModelResult, get_run, save_run

Compute = Callable[..., ModelResult]

MODELS: dict[str, Compute] = {
    "rfm": rfm.compute,
    "clusters": clusters.compute,
    "basket": basket.compute,
    "recommend": recommend.compute,
    "send_time": send_time.compute,
    "churn": churn.compute,
    "influence": influence.compute,
    "budget": budget.compute,
}
#: The order of ``all``: what later models read comes first.
ALL = ("rfm", "churn", "clusters", "basket", "recommend", "send_time", "influence")


def run(engine: Engine, actor: Actor, model: str, **params: Any) -> dict[str, Any]:
    """Compute ``model`` for the actor's workspace, save it, and return the run."""
    compute = MODELS.get(model)
    if compute is None:
        raise ValidationFailed(
            f"unknown model; one of {', '.join(MODELS)}", field="model", value=model
        )
    started = time.perf_counter()
    if model == "influence":
        with engine.begin() as conn:  # referrals named by orders/events join the graph first
            influence.sync_referrals(conn, actor)
    # One BLAS/OpenMP thread: spinning worker threads stall on a shared CPU (see churn.py).
    with read_only(engine) as conn, threadpool_limits(1):
        result = compute(conn, actor.workspace_id, **params)
    computed = time.perf_counter() - started
    with engine.begin() as conn:
        run_id = save_run(conn, actor, result)
    template_helpers.clear_cache()
    with read_only(engine) as conn:
        out = get_run(conn, actor.workspace_id, run_id)
    out["seconds"] = {
        "compute": round(computed, 3),
        "save": round(time.perf_counter() - started - computed, 3),
    }
    return out


def run_all(
    engine: Engine, actor: Actor, *, params: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Run every model but the budget (which needs a budget) in dependency order."""
    params = params or {}
    return [run(engine, actor, m, **params.get(m, {})) for m in ALL]
