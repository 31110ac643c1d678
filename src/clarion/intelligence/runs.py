"""Model runs: the provenance of every trait a model writes.

A run row records which model, which version and parameters, which data window, when, and the
evaluation it printed; each trait it writes carries ``source=<model>`` and
``model_version="<version> run <id>"``, so a trait seen in a segment or a template leads back to
the run (and its window and metrics) that produced it.

Models compute on a read-only connection and then write in one short transaction
(:func:`save_run`): on SQLite a write transaction locks the database, so it must not span
seconds of model fitting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import NotFound
from clarion.intelligence.tables import model_runs
from clarion.traits.service import set_traits

TraitValues = Mapping[int, float | str]


@dataclass
class ModelResult:
    """What one model computed, ready to be saved: traits, evaluation, anything else to keep."""

    model: str
    version: str
    params: dict[str, Any]
    window_start: datetime | None
    window_end: datetime
    traits: dict[str, TraitValues] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    #: Writes what is not a trait (rules, ranked lists) with the run id, in the same transaction.
    save_extra: Callable[[sa.Connection, Actor, int], None] | None = None


def _plain(obj: Any) -> Any:
    """Return ``obj`` with numpy scalars and arrays turned into JSON-friendly Python values."""
    return orjson.loads(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY, default=_default))


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, datetime):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def trait_version(version: str, run_id: int) -> str:
    """Return the ``model_version`` written on traits: the model's version and its run id."""
    return f"{version} run {run_id}"


def save_run(conn: sa.Connection, actor: Actor, result: ModelResult) -> int:
    """Record the run, write its traits with provenance, and return the run id."""
    now = utcnow()
    n_contacts = max((len(v) for v in result.traits.values()), default=0)
    run_id = int(
        conn.execute(
            model_runs.insert()
            .values(
                workspace_id=actor.workspace_id,
                model=result.model,
                version=result.version,
                params=_plain(result.params),
                window_start=result.window_start,
                window_end=result.window_end,
                status="finished",
                contacts=n_contacts,
                metrics=_plain(result.metrics),
                output=_plain(result.output),
                started_at=now,
                finished_at=now,
            )
            .returning(model_runs.c.id)
        ).scalar_one()
    )
    version = trait_version(result.version, run_id)
    for name, values in result.traits.items():
        set_traits(conn, actor, name, values, source=result.model, version=version)
    if result.save_extra is not None:
        result.save_extra(conn, actor, run_id)
    record(
        conn,
        actor,
        "intelligence.run",
        "model_run",
        run_id,
        {"model": result.model, "version": result.version, "contacts": n_contacts},
    )
    return run_id


def _run_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "model": r.model,
        "version": r.version,
        "params": r.params,
        "window_start": r.window_start,
        "window_end": r.window_end,
        "status": r.status,
        "contacts": r.contacts,
        "metrics": r.metrics,
        "output": r.output,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
    }


def latest_run(conn: sa.Connection, workspace_id: int, model: str) -> dict[str, Any]:
    """Return the newest finished run of ``model`` in the workspace."""
    row = conn.execute(
        sa.select(model_runs)
        .where(
            model_runs.c.workspace_id == workspace_id,
            model_runs.c.model == model,
            model_runs.c.status == "finished",
        )
        .order_by(model_runs.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound(f"no finished {model} run in this workspace yet", model=model)
    return _run_dict(row)


def get_run(conn: sa.Connection, workspace_id: int, run_id: int) -> dict[str, Any]:
    """Return one run of the workspace."""
    row = conn.execute(
        sa.select(model_runs).where(
            model_runs.c.workspace_id == workspace_id, model_runs.c.id == run_id
        )
    ).first()
    if row is None:
        raise NotFound(f"model run {run_id} not found", run_id=run_id)
    return _run_dict(row)


def list_runs(
    conn: sa.Connection, workspace_id: int, model: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Return the workspace's runs, newest first (without their bulky output)."""
    q = sa.select(model_runs).where(model_runs.c.workspace_id == workspace_id)
    if model:
        q = q.where(model_runs.c.model == model)
    rows = conn.execute(q.order_by(model_runs.c.id.desc()).limit(limit)).all()
    out = []
    for r in rows:
        d = _run_dict(r)
        d.pop("output")
        out.append(d)
    return out
