"""Benchmark: the send API under a steady open-loop load, latency of accepted-and-persisted.

A real server (uvicorn, one process, a subprocess on a loopback socket, as `clarion serve` runs
it) receives ``POST /v1/messages`` at a fixed rate (``--rate``, default 500 requests/s) from an
asyncio load generator (httpx). The load is open-loop: request i is due at t0 + i/rate whether or
not earlier ones have answered, and its latency is counted from that due time, so a stalled
server shows up in the figures instead of slowing the generator down (no coordinated
omission). Every request is an order confirmation: a saved template rendered for a contact
(``contact_id``) with order variables, transactional, with an Idempotency-Key; a 201 means the
message went through validation, compliance, rendering and routing and is committed in the
outbox. The count of rows is checked against the 201s afterwards.

    .venv/bin/python bench/bench_send_api.py                 # 500/s for 20 s, both databases
    .venv/bin/python bench/bench_send_api.py --tiny          # 100/s for 2 s
    .venv/bin/python bench/bench_send_api.py --db sqlite --rate 800 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from _common import PG_ADMIN_URL, pg_reachable, scratch_url
from bench_event_api import cpu_seconds, serve

IN_FLIGHT = 64
TEMPLATE = "Hi {{ contact.first_name }}, order {{ order.id }} ({{ order.total }}) is confirmed."


def prepare(url: str, contacts: int) -> str:
    """Migrate, create contacts, a route, the template and an API key; return the key."""
    from clarion.audit.service import Actor
    from clarion.contacts.service import ContactIn, upsert_contacts
    from clarion.db import migrate
    from clarion.db.engine import create_engine_for
    from clarion.delivery.routes import RouteCreate, create_route
    from clarion.messages.service import save_template
    from clarion.workspaces.service import create_api_key, ensure_workspace

    eng = create_engine_for(url)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        actor = Actor(ensure_workspace(conn), "cli", "bench")
        recs = [
            ContactIn(external_id=f"c{i}", first_name=f"Ann{i}", phone=f"+1202{i + 5550000:07d}")
            for i in range(contacts)
        ]
        upsert_contacts(conn, actor, recs)
        create_route(conn, actor, RouteCreate(name="sim", connector="sim"))
        save_template(conn, actor, name="order", body=TEMPLATE, purpose="transactional")
        _, token = create_api_key(conn, actor, "bench", ["messages:send", "messages:read"])
    eng.dispose()
    return token


def bodies(n: int, contacts: int, run: str) -> list[tuple[bytes, str]]:
    """Return (JSON body, idempotency key) per request, built before the clock starts."""
    out = []
    for i in range(n):
        body = {
            "contact_id": 1 + i % contacts,
            "template": "order",
            "variables": {"order": {"id": f"A-{i}", "total": "49.90 USD"}},
            "metadata": {"order_id": f"A-{i}"},
        }
        out.append((orjson.dumps(body), f"{run}-{i}"))
    return out


async def load(base: str, token: str, reqs: list[tuple[bytes, str]], rate: float) -> Any:
    """Fire ``reqs`` at ``rate`` per second (open loop); return latencies (s) and statuses."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # At most IN_FLIGHT requests on the wire: httpx's pool scans every waiting request on each
    # response, so thousands queued inside it would make the generator, not the server, the
    # bottleneck. A request waiting for a slot is still timed from its due time.
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    slots = asyncio.Semaphore(IN_FLIGHT)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:

        async def one(body: bytes, key: str, due: float) -> None:
            async with slots:
                try:
                    r = await c.post("/v1/messages", content=body, headers={"Idempotency-Key": key})
                    code = r.status_code
                except httpx.TransportError as exc:  # counted, not fatal: the figure says so
                    code = 0
                    errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - due)
            statuses[code] = statuses.get(code, 0) + 1

        tasks = []
        t0 = time.perf_counter()
        for i, (body, key) in enumerate(reqs):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, key, due)))
        await asyncio.gather(*tasks)
        took = time.perf_counter() - t0
    if errors:
        print(f"  {len(errors)} transport errors, first: {errors[0]}")
    return latencies, statuses, took


def warm_up(base: str, token: str, reqs: list[tuple[bytes, str]]) -> None:
    """Send a few requests untimed: imports, caches and the first connections."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
        for body, key in reqs[:50]:
            c.post("/v1/messages", content=body, headers={"Idempotency-Key": "warm-" + key})


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run(kind: str, args: argparse.Namespace) -> None:
    with scratch_url(kind) as url:
        token = prepare(url, args.contacts)
        n = int(args.rate * args.seconds)
        reqs = bodies(n, args.contacts, "run")
        with serve(url, 1) as (base, pid):
            warm_up(base, token, reqs)
            cpu0 = cpu_seconds(pid)
            latencies, statuses, took = asyncio.run(load(base, token, reqs, args.rate))
            cpu1 = cpu_seconds(pid)
        eng = sa.create_engine(url)
        with eng.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE idempotency_key LIKE 'run-%'")
            ).scalar_one()
        eng.dispose()
        # Every 201 is a row; anything else (a dropped connection) is printed, never hidden.
        assert stored == statuses.get(201, 0), (statuses, stored, n)
        ms = [x * 1000 for x in latencies]
        print(
            f"{kind:10s} {n:,} sends at {args.rate:,.0f}/s offered ({n / took:,.0f}/s achieved): "
            f"p50 {pct(ms, 50):.1f} ms, p90 {pct(ms, 90):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
            f"max {max(ms):.1f} ms (target p99 <= 25 ms); {stored:,} rows persisted; "
            f"answers {dict(sorted(statuses.items()))}"
        )
        per = (cpu1 - cpu0) / n
        print(
            f"{'':10s} API process CPU {per * 1e3:.2f} ms/send ({1 / per:,.0f} sends per "
            f"CPU-second); load average {os.getloadavg()[0]:.1f}"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="100/s for 2 s: a seconds-long smoke run")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--rate", type=float, default=500.0, help="requests per second offered")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--contacts", type=int, default=10_000)
    args = p.parse_args()
    if args.tiny:
        args.rate, args.seconds, args.contacts = 100.0, 2.0, 200
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print(f"postgresql skipped: unreachable at {PG_ADMIN_URL}")
            continue
        run(kind, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
