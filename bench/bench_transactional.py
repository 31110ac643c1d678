"""Benchmark: transactional sends while a large campaign is dispatching, accepted -> submitted.

The question: does a million-message campaign delay an order confirmation? Set-up: ``--campaign``
consenting contacts and a launched campaign to all of them (planned into the outbox), the SMSC
simulator in its own process (`clarion smsc`), the API in its own process (uvicorn), and a
worker (`Worker.run`, as `clarion worker` runs it: bulk loop, transactional lane and periodic
jobs) in this one. Once the campaign is being dispatched, a client sends transactional messages
through ``POST /v1/messages`` at ``--rate`` per second until the campaign is done (or
``--seconds`` passed). The figure is, per transactional message, ``submitted_at - queued_at``
from the outbox (the API's commit to the simulator's submit_sm_resp), with the campaign's
throughput over the same window to show it really was dispatching.

    .venv/bin/python bench/bench_transactional.py                    # 1,000,000, both databases
    .venv/bin/python bench/bench_transactional.py --tiny             # 3,000 recipients, seconds
    .venv/bin/python bench/bench_transactional.py --db sqlite --campaign 200000 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _common import PG_ADMIN_URL, pg_reachable, scratch_engine
from bench_campaign import seed, setup_campaign
from bench_event_api import serve
from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.channels.smpp.service import create_connector
from clarion.delivery.tables import messages, status_is
from clarion.workspaces.service import create_api_key, ensure_workspace


def start_smsc() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from clarion.cli.main import main; main()", "smsc", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    port = int(orjson.loads(proc.stdout.readline())["smpp"].rsplit(":", 1)[1])
    return proc, port


def progress(eng: Engine, cid: int, planned: int) -> tuple[int, int]:
    """Return (campaign messages submitted or further, still queued or sending).

    Counted through the outbox's partial index of open messages (``status_is``): a count by
    status over the whole campaign read a million rows each time, on the same two cores as
    the dispatch it watches.
    """
    with eng.connect() as conn:
        waiting = int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    messages.c.campaign_id == cid, status_is("queued", "sending")
                )
            ).scalar_one()
        )
    return planned - waiting, waiting


def client(
    base: str, token: str, rate: float, stop: threading.Event, ids: list[int], errors: list[str]
) -> None:
    """Send one order confirmation every 1/rate seconds until ``stop``."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        i = 0
        t0 = time.perf_counter()
        while not stop.is_set():
            body = {
                "to": f"+1303555{i % 10000:04d}",
                "text": f"Acme: order A-{i} is confirmed.",
                "validity_s": 3600,
            }
            r = c.post("/v1/messages", json=body, headers={"Idempotency-Key": f"tx-{i}"})
            if r.status_code != 201:
                errors.append(r.text[:300])
                return
            ids.append(int(r.json()["id"]))
            i += 1
            wait = t0 + i / rate - time.perf_counter()
            if wait > 0:
                stop.wait(wait)


def warm_up(base: str) -> None:
    """Wait until the API process answers (its start-up is not part of the figure)."""
    with httpx.Client(base_url=base, timeout=120) as c:
        c.get("/healthz").raise_for_status()


async def work(eng: Engine, ws: int, stop: asyncio.Event) -> Any:
    from clarion.delivery.worker import run_worker

    return await run_worker(eng, ws, stop, batch_size=2000, send_chunk=500, lease_ttl=30)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run(kind: str, args: argparse.Namespace) -> None:
    with scratch_engine(kind, pool_size=8) as eng:
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
        actor = Actor(ws, "cli", "bench")
        t = time.perf_counter()
        seed(eng, ws, args.campaign)
        smsc, port = start_smsc()
        with eng.begin() as conn:
            create_connector(
                conn,
                actor,
                "sim",
                {
                    "host": "127.0.0.1",
                    "port": port,
                    "system_id": "clarion",
                    "password": "secret",
                    "window": 256,
                    "binds": 2,
                },
            )
            _, token = create_api_key(conn, actor, "bench", ["messages:send"])
        cid = setup_campaign(eng, actor, "sim")
        report = launch(eng, actor, cid)
        print(
            f"[{kind}] {report.planned:,} campaign messages planned in "
            f"{time.perf_counter() - t:.0f} s (seed + plan)"
        )
        ids: list[int] = []
        errors: list[str] = []
        stop_client = threading.Event()
        stop_worker = asyncio.Event()
        url = eng.url.render_as_string(hide_password=False)
        with serve(url, 1) as (base, _pid):
            warm_up(base)
            loop = asyncio.new_event_loop()
            worker_thread = threading.Thread(
                target=loop.run_until_complete, args=(work(eng, ws, stop_worker),)
            )
            cpu0 = time.process_time()
            worker_thread.start()
            # Start the transactional client once the campaign is visibly going out.
            deadline = time.perf_counter() + 120
            while progress(eng, cid, report.planned)[0] < min(2000, report.planned // 10):
                if time.perf_counter() > deadline:
                    raise SystemExit("the campaign did not start dispatching")
                time.sleep(0.25)
            start_done, _ = progress(eng, cid, report.planned)
            t_start = time.perf_counter()
            sender = threading.Thread(
                target=client, args=(base, token, args.rate, stop_client, ids, errors)
            )
            sender.start()
            while time.perf_counter() - t_start < args.seconds:
                _, waiting = progress(eng, cid, report.planned)
                if not waiting:
                    break
                time.sleep(2.0)
            stop_client.set()
            sender.join()
            end_done, still_waiting = progress(eng, cid, report.planned)
            window = time.perf_counter() - t_start
            time.sleep(1.0)  # the last transactional sends reach the simulator
            loop.call_soon_threadsafe(stop_worker.set)
            worker_thread.join(60)
            cpu = time.process_time() - cpu0
        smsc.send_signal(signal.SIGTERM)
        smsc.wait(10)
        if errors:
            raise SystemExit(f"a send failed: {errors[0]}")
        with eng.connect() as conn:
            rows = conn.execute(
                sa.select(
                    messages.c.queued_at, messages.c.claimed_at, messages.c.submitted_at
                ).where(messages.c.id.in_(ids))
            ).all()
        lat = [(s - q).total_seconds() * 1000 for q, _, s in rows if s is not None]
        # Where the time goes: waiting to be claimed (poll + the claim's transaction), then
        # on the wire (the connector's window, shared with the campaign) and the write-back.
        claim = [(c - q).total_seconds() * 1000 for q, c, s in rows if s is not None]
        wire = [(s - c).total_seconds() * 1000 for _, c, s in rows if s is not None]
        unsent = len(rows) - len(lat)
        rate = (end_done - start_done) / window
        print(
            f"[{kind}] {len(ids):,} transactional sends at {args.rate:g}/s during {window:.1f} s "
            f"of campaign dispatch ({rate:,.0f} campaign messages/s; "
            f"{still_waiting:,} still queued at the end)"
        )
        if lat:
            print(
                f"[{kind}] accepted -> submitted: p50 {pct(lat, 50):.0f} ms, p95 "
                f"{pct(lat, 95):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms "
                f"(target p50 <= 200 ms); {unsent} not submitted"
            )
            print(
                f"[{kind}]   of which queued -> claimed p50 {pct(claim, 50):.0f} ms, "
                f"p95 {pct(claim, 95):.0f} ms; claimed -> submitted p50 {pct(wire, 50):.0f} ms, "
                f"p95 {pct(wire, 95):.0f} ms"
            )
        print(f"[{kind}] worker process CPU {cpu:.1f} s; load average {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="3,000 recipients: a smoke run")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--campaign", type=int, default=1_000_000, help="campaign recipients")
    p.add_argument("--rate", type=float, default=10.0, help="transactional sends per second")
    p.add_argument("--seconds", type=float, default=600.0, help="longest measuring window")
    args = p.parse_args(argv)
    if args.tiny:
        args.campaign, args.rate, args.seconds = 3000, 20.0, 3.0
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print(f"[postgresql] skipped: unreachable at {PG_ADMIN_URL}")
            continue
        run(kind, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
