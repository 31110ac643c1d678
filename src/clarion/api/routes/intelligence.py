"""Intelligence API under /v1/intelligence: run models, read runs, rules, recommendations.

Running a model writes traits that segments read, so it needs ``segments:write``; reading runs
and rules needs ``segments:read``; a contact's recommendations (what a customer's own systems
fetch at send time) need ``contacts:read``; recording mentions, shares and referrals needs
``events:write``. Model runs are synchronous: the response is the saved run with its
evaluation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from clarion.api.deps import ConnDep, EngineDep, require
from clarion.audit.service import Actor
from clarion.intelligence import basket, budget, influence, runs, service, template_helpers
from clarion.intelligence.recommend import Server

router = APIRouter(prefix="/v1/intelligence", tags=["intelligence"])
Reader = Annotated[Actor, Depends(require("segments:read"))]
Runner = Annotated[Actor, Depends(require("segments:write"))]
ContactReader = Annotated[Actor, Depends(require("contacts:read"))]
EventWriter = Annotated[Actor, Depends(require("events:write"))]

ModelName = Literal["rfm", "clusters", "basket", "recommend", "send_time", "churn", "influence"]

# Templates rendered by this process (previews, test sends) get the model-backed helpers.
template_helpers.install()


class RunIn(BaseModel):
    """Parameters of a model run; see each model's ``compute`` for the ones it takes."""

    as_of: datetime | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class BudgetRunIn(BaseModel):
    """Allocate a budget over the RFM groups (or another text trait) and channels."""

    budget: float = Field(gt=0)
    channels: dict[str, dict[str, float]] = Field(
        description='e.g. {"sms": {"cost": 0.04, "factor": 1.0}, "email": {"cost": 0.002}}'
    )
    channel_max_share: dict[str, float] = Field(default_factory=dict)
    segment_trait: str = "rfm_group"


class BatchIn(BaseModel):
    contact_ids: list[int] = Field(min_length=1, max_length=10_000)
    n: int = Field(3, ge=1, le=20)


class InteractionIn(BaseModel):
    source_contact_id: int
    target_contact_id: int
    kind: Literal["mention", "share", "referral"]
    weight: float = Field(1.0, gt=0)
    at: datetime | None = None
    ref: str | None = Field(None, max_length=200)


@router.post("/models/{model}/run")
def run_route(model: ModelName, body: RunIn, actor: Runner, engine: EngineDep) -> dict[str, Any]:
    """Run one model now; return the run with its evaluation and timings."""
    params = dict(body.params)
    if body.as_of is not None:
        params["as_of"] = body.as_of
    return service.run(engine, actor, model, **params)


@router.post("/budget/run")
def budget_run_route(body: BudgetRunIn, actor: Runner, engine: EngineDep) -> dict[str, Any]:
    """Allocate a budget from the workspace's traits and mark contacts with ``budget_channel``."""
    return service.run(engine, actor, "budget", **body.model_dump())


@router.post("/budget/allocate")
def allocate_route(problem: budget.Problem, actor: Reader) -> dict[str, Any]:
    """Solve a stated allocation problem (exact and evolutionary); nothing is stored."""
    return budget.allocate(problem)


@router.get("/runs")
def runs_route(
    actor: Reader,
    conn: ConnDep,
    model: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """List model runs, newest first."""
    return runs.list_runs(conn, actor.workspace_id, model, limit)


@router.get("/runs/{run_id}")
def run_get_route(run_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return one run with its evaluation and output."""
    return runs.get_run(conn, actor.workspace_id, run_id)


@router.get("/models/{model}/latest")
def latest_route(model: str, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return the newest finished run of a model."""
    return runs.latest_run(conn, actor.workspace_id, model)


@router.get("/basket/rules")
def rules_route(
    actor: Reader,
    conn: ConnDep,
    sku: str | None = None,
    min_lift: float = 0.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[dict[str, Any]]:
    """Browse basket rules, best lift first; ``sku`` for "people who buy X also buy"."""
    return basket.rules_for(conn, actor.workspace_id, sku=sku, limit=limit, min_lift=min_lift)


@router.get("/recommendations/{contact_id}")
def recommendations_route(
    contact_id: int,
    actor: ContactReader,
    conn: ConnDep,
    n: Annotated[int, Query(ge=1, le=20)] = 3,
) -> dict[str, Any]:
    """Return up to ``n`` recommended products for one contact."""
    items = Server(conn, actor.workspace_id).for_contacts([contact_id], n)[contact_id]
    return {"contact_id": contact_id, "items": items}


@router.post("/recommendations:batch")
def recommendations_batch_route(
    body: BatchIn, actor: ContactReader, conn: ConnDep
) -> dict[str, Any]:
    """Return recommendations for up to 10,000 contacts in one call."""
    got = Server(conn, actor.workspace_id).for_contacts(body.contact_ids, body.n)
    return {"recommendations": [{"contact_id": c, "items": got[c]} for c in body.contact_ids]}


@router.post("/interactions")
def interactions_route(
    body: list[InteractionIn], actor: EventWriter, conn: ConnDep
) -> dict[str, int]:
    """Record mentions, shares and referrals between contacts (the influence graph)."""
    n = influence.record_interactions(conn, actor, [i.model_dump() for i in body])
    return {"accepted": n}
