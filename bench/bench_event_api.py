"""Benchmark: event ingestion through the REST API in batches, on SQLite and PostgreSQL.

A real server (uvicorn, one process, started as a subprocess on a loopback socket with an
ephemeral port) receives ``POST /v1/track/batch`` calls of ``--batch`` events from ``--clients``
threads. Events name known contacts by external id (5% name new people, who are created), each
carries a unique message id. The whole stream is then replayed to measure the de-duplication
path (every event already stored). The count in the database is checked against what was sent.

    .venv/bin/python bench/bench_event_api.py               # 100,000 events, both databases
    .venv/bin/python bench/bench_event_api.py --tiny        # 2,000 events, seconds
    .venv/bin/python bench/bench_event_api.py --db sqlite --events 50000 --batch 1000
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from _common import PG_ADMIN_URL, pg_reachable, scratch_url

NAMES = ("page_view", "product_view", "add_to_cart", "app_open", "cart_abandoned")


def prepare(url: str, contacts: int) -> str:
    """Migrate, create ``contacts`` contacts and an API key; return the key."""
    from clarion.audit.service import Actor
    from clarion.contacts.service import ContactIn, upsert_contacts
    from clarion.db import migrate
    from clarion.db.engine import create_engine_for
    from clarion.workspaces.service import create_api_key, ensure_workspace

    eng = create_engine_for(url)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        actor = Actor(ensure_workspace(conn), "cli", "bench")
        recs = [ContactIn(external_id=f"c{i}", country="US") for i in range(contacts)]
        upsert_contacts(conn, actor, recs)
        _, token = create_api_key(conn, actor, "bench", ["events:write"])
    eng.dispose()
    return token


def payloads(events: int, batch: int, contacts: int, seed: int = 5) -> list[bytes]:
    """Return the request bodies, serialised up front so the client costs little."""
    r = random.Random(seed)
    bodies: list[bytes] = []
    for start in range(0, events, batch):
        evs: list[dict[str, Any]] = []
        for n in range(start, min(start + batch, events)):
            who = f"c{r.randrange(contacts)}" if r.random() < 0.95 else f"new{n}"
            evs.append(
                {
                    "contact": {"external_id": who},
                    "name": r.choice(NAMES),
                    "properties": {"sku": f"SKU-{r.randrange(200)}", "price": r.randrange(5, 300)},
                    "timestamp": f"2026-11-{r.randint(1, 21):02d}T{r.randint(0, 23):02d}:15:00Z",
                    "message_id": f"bench-{n}",
                    "source": "web",
                }
            )
        bodies.append(orjson.dumps({"events": evs}))
    return bodies


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(url: str, workers: int) -> Iterator[tuple[str, int]]:
    """Run the API in a subprocess on a pre-bound loopback socket; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Accepted sockets inherit TCP_NODELAY on Linux; without it a response written in two parts
    # waits ~40 ms for the client's delayed ACK (Nagle), which would dominate every request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    env = {**os.environ, "CLARION_DATABASE_URL": url, "CLARION_ENVIRONMENT": "test"}
    cmd = [sys.executable, "-m", "uvicorn", "clarion.api.app:create_app", "--factory"]
    cmd += ["--fd", str(sock.fileno()), "--log-level", "warning", "--no-access-log"]
    cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()])
    try:
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sock.close()


def post_all(base: str, token: str, bodies: list[bytes], clients: int) -> tuple[float, int, int]:
    """Post every body from ``clients`` threads; return seconds, accepted and duplicates."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    lock = threading.Lock()
    totals = [0, 0]
    queue = list(reversed(bodies))
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                resp = c.post("/v1/track/batch", content=body)
                if resp.status_code != 200:
                    errors.append(resp.text[:300])
                    return
                got = resp.json()
                with lock:
                    totals[0] += got["accepted"]
                    totals[1] += got["duplicates"]

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"request failed: {errors[0]}")
    return took, totals[0], totals[1]


def warm_up(base: str, token: str) -> None:
    """Send one small batch so imports, caches and the first connection are not timed."""
    body = {"events": [{"contact": {"external_id": "c0"}, "name": "warm_up", "message_id": "w"}]}
    with httpx.Client(base_url=base, timeout=120) as c:
        r = c.post("/v1/track/batch", json=body, headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()


def count_events(url: str) -> int:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        n = int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())
    eng.dispose()
    return n


def run(kind: str, args: argparse.Namespace) -> None:
    with scratch_url(kind) as url:
        token = prepare(url, args.contacts)
        bodies = payloads(args.events, args.batch, args.contacts)
        with serve(url, args.workers) as (base, pid):
            warm_up(base, token)
            cpu0 = cpu_seconds(pid)
            took, accepted, dups = post_all(base, token, bodies, args.clients)
            cpu1 = cpu_seconds(pid)
            again, accepted2, dups2 = post_all(base, token, bodies, args.clients)
        stored = count_events(url)
        assert accepted == stored - 1 == args.events, (accepted, stored, args.events)
        assert (accepted2, dups2, dups) == (0, args.events, 0)
        print(
            f"{kind:10s} {args.events:>9,} events in batches of {args.batch} from "
            f"{args.clients} clients, {args.workers} workers: "
            f"{args.events / took:>8,.0f} events/s ({took:.2f} s); "
            f"replay (all duplicates): {args.events / again:>8,.0f} events/s"
        )
        if args.workers == 1:
            # Load-independent: what the API process itself spends (the database server's own
            # work on PostgreSQL is not included).
            per = (cpu1 - cpu0) / args.events
            print(
                f"{'':10s} API process CPU: {per * 1e6:,.0f} us/event, i.e. "
                f"{1 / per:,.0f} events per CPU-second; load average {os.getloadavg()[0]:.1f}"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="2,000 events: a seconds-long smoke run")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = p.parse_args()
    if args.tiny:
        args.events, args.contacts = 2_000, 500
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print(f"postgresql: unreachable at {PG_ADMIN_URL}, skipped")
            continue
        run(kind, args)


if __name__ == "__main__":
    main()
