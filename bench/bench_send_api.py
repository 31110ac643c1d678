"""Benchmark: the send API under a steady open-loop load, latency of accepted-and-persisted.

A real server (``clarion serve --no-worker``: one process, the same uvicorn configuration as
production, on a pre-bound loopback socket passed with ``--fd``) receives ``POST /v1/messages``
at a fixed rate (``--rate``, default 500 requests/s) from an asyncio load generator speaking
HTTP/1.1 on keep-alive connections. The load is open-loop: request i is due at t0 + i/rate
whether or not earlier ones have answered, and its latency is counted from that due time, so a
stalled server shows up in the figures instead of slowing the generator down (no coordinated
omission). Every request is an order confirmation: a saved template rendered for a contact
(``contact_id``) with order variables, transactional, with an Idempotency-Key; a 201 means the
message went through validation, compliance, rendering and routing and is committed in the
outbox. The count of rows is checked against the 201s afterwards.

Besides the latencies it prints the CPU each part spent per send: the API process, the
PostgreSQL backends serving it (``/proc`` of the pids in ``pg_stat_activity``) and the load
generator itself, with the load average at the start and the end: on a shared 2-core machine
the CPU figures are what the code costs, the wall-clock ones what the machine gave it.

    .venv/bin/python bench/bench_send_api.py                 # 500/s for 20 s, both databases
    .venv/bin/python bench/bench_send_api.py --tiny          # 100/s for 2 s
    .venv/bin/python bench/bench_send_api.py --db sqlite --rate 800 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from _common import PG_ADMIN_URL, pg_reachable, scratch_url
from bench_event_api import cpu_seconds

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


@contextmanager
def serve(url: str, processes: int = 1) -> Iterator[tuple[str, int]]:
    """Run ``clarion serve --no-worker`` on a pre-bound loopback socket; yield URL and pid."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Accepted sockets inherit TCP_NODELAY on Linux; without it a response written in two parts
    # waits ~40 ms for the client's delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    env = {**os.environ, "CLARION_DATABASE_URL": url, "CLARION_ENVIRONMENT": "test"}
    exe = Path(sys.executable).with_name("clarion")
    cmd = [str(exe), "serve", "--no-worker", "--fd", str(sock.fileno())]
    cmd += ["--log-level", "WARNING", "--processes", str(processes)]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()], stdout=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sock.close()


def children_cpu(pid: int) -> float:
    """Return the CPU seconds of process ``pid`` and its direct children (Linux /proc)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        for kid in kids:
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(kid))
    return total


def backend_cpu(url: str) -> dict[int, float]:
    """Return CPU seconds per PostgreSQL backend of ``url``'s database (none for SQLite)."""
    if not url.startswith("postgresql"):
        return {}
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        pids = conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        out = {}
        for pid in pids:
            with contextlib.suppress(OSError):  # gone in between
                out[int(pid)] = cpu_seconds(int(pid))
    eng.dispose()
    return out


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


def raw_requests(base: str, token: str, reqs: list[tuple[bytes, str]]) -> list[bytes]:
    """Return each request as the bytes of an HTTP/1.1 POST, built before the clock starts."""
    host = base.removeprefix("http://")
    out = []
    for body, key in reqs:
        head = (
            f"POST /v1/messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def load(base: str, token: str, reqs: list[tuple[bytes, str]], rate: float) -> Any:
    """Fire ``reqs`` at ``rate`` per second (open loop); return latencies (s) and statuses.

    The generator speaks HTTP/1.1 over keep-alive sockets itself (asyncio streams, requests
    prebuilt as bytes): an httpx client spent 4-7 ms of CPU per request here, more than the
    server, so on two shared cores it, not the server, set the pace. Up to IN_FLIGHT requests
    are on the wire; a request waiting for a free connection is still timed from its due time.
    """
    host, port = base.removeprefix("http://").split(":")
    raw = raw_requests(base, token, reqs)
    queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while (item := await queue.get()) is not None:
                data, due = item
                try:
                    writer.write(data)
                    head = await reader.readuntil(b"\r\n\r\n")
                    code = int(head[9:12])
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
                except (OSError, asyncio.IncompleteReadError, IndexError) as exc:
                    code = 0  # counted, not fatal: the figure says so
                    errors.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                latencies.append(time.perf_counter() - due)
                statuses[code] = statuses.get(code, 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(IN_FLIGHT)]
    t0 = time.perf_counter()
    for i, data in enumerate(raw):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((data, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
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


def profile(pid: int, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """Start py-spy on the server (and its children) for the timed run; raw stacks to ``out``."""
    exe = Path(sys.executable).with_name("py-spy")
    cmd = [str(exe), "record", "-f", "raw", "--threads", "--subprocesses", "-r", "200"]
    cmd += ["-d", str(int(seconds)), "-o", out, "--pid", str(pid)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run(kind: str, args: argparse.Namespace) -> None:
    with scratch_url(kind) as url:
        token = prepare(url, args.contacts)
        n = int(args.rate * args.seconds)
        reqs = bodies(n, args.contacts, "run")
        with serve(url, args.processes) as (base, pid):
            warm_up(base, token, reqs)
            spy = profile(pid, args.profile, args.seconds) if args.profile else None
            load0, db0, own0 = os.getloadavg()[0], backend_cpu(url), time.process_time()
            cpu0 = children_cpu(pid)  # the server, and its children when several processes
            latencies, statuses, took = asyncio.run(load(base, token, reqs, args.rate))
            cpu1 = children_cpu(pid)
            own1, db1 = time.process_time(), backend_cpu(url)
            if spy is not None:
                spy.wait()
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
            f"p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
            f"max {max(ms):.1f} ms (target p99 <= 25 ms); {stored:,} rows persisted; "
            f"answers {dict(sorted(statuses.items()))}"
        )
        per = (cpu1 - cpu0) / n
        db = sum(c - db0.get(p, 0.0) for p, c in db1.items()) / n
        gen = (own1 - own0) / n
        print(
            f"{'':10s} CPU per send: API process {per * 1e3:.2f} ms ({1 / per:,.0f} sends per "
            f"CPU-second), database server {db * 1e3:.2f} ms"
            f"{' (in process)' if kind == 'sqlite' else ''}, load generator {gen * 1e3:.2f} ms;"
            f" load average {load0:.1f} -> {os.getloadavg()[0]:.1f}"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="100/s for 2 s: a seconds-long smoke run")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--rate", type=float, default=500.0, help="requests per second offered")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--contacts", type=int, default=10_000)
    p.add_argument("--processes", type=int, default=1, help="clarion serve --processes")
    p.add_argument("--profile", metavar="PATH", help="py-spy the server's timed run into PATH")
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
