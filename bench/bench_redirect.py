"""Benchmark: the short-link redirect ``GET /l/{code}`` with every click recorded.

A real server (uvicorn, started as a subprocess on a pre-bound loopback socket) answers
``--requests`` redirects for per-recipient codes (each request a different code, as in a
campaign: no cache can help) from ``--connections`` keep-alive connections. The load generator
is a minimal asyncio HTTP/1.1 client on raw sockets so that it, not the server, costs little of
the two cores. 5% of the requests come from a link-preview bot. After the run the clicks in the
database are counted: every redirect answered must be there (recorded, or filtered for bots).

    .venv/bin/python bench/bench_redirect.py                  # 50,000 redirects, both databases
    .venv/bin/python bench/bench_redirect.py --tiny           # 1,000 redirects, seconds
    .venv/bin/python bench/bench_redirect.py --db sqlite --requests 200000 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from _common import pg_reachable, scratch_url

BOT = b"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
PHONE = b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


def prepare(url: str, n: int) -> list[str]:
    """Migrate and mint ``n`` per-recipient links in chunks (as the planner does)."""
    from clarion.audit.service import Actor
    from clarion.db import migrate
    from clarion.db.engine import create_engine_for
    from clarion.tracking.links import LinkMinter
    from clarion.workspaces.service import ensure_workspace

    eng = create_engine_for(url)
    migrate.upgrade(eng)
    codes: list[str] = []
    with eng.begin() as conn:
        ws = ensure_workspace(conn)
        actor = Actor(ws, "cli", "bench")
    t0 = time.perf_counter()
    for start in range(0, n, 5000):
        with eng.begin() as conn:
            minter = LinkMinter(conn, actor.workspace_id, campaign_id=1)
            for i in range(start, min(n, start + 5000)):
                minter.recipient = (i + 1, None)
                codes.append(minter.link("https://shop.example/sale").rsplit("/", 1)[1])
            minter.flush()
    took = time.perf_counter() - t0
    print(f"  minted {n:,} links in {took:.2f} s ({n / took:,.0f} links/s)")
    eng.dispose()
    return codes


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(url: str, workers: int) -> Iterator[tuple[int, int]]:
    """Run the API in a subprocess on a pre-bound loopback socket; yield (port, pid)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    env = {**os.environ, "CLARION_DATABASE_URL": url, "CLARION_ENVIRONMENT": "test"}
    cmd = [sys.executable, "-m", "uvicorn", "clarion.api.app:create_app", "--factory"]
    cmd += ["--fd", str(sock.fileno()), "--log-level", "warning", "--no-access-log"]
    cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, pass_fds=[sock.fileno()])
    try:
        yield port, proc.pid
    finally:
        proc.terminate()  # a clean shutdown: in-flight requests finish first
        proc.wait(timeout=30)
        sock.close()


async def _connection(
    port: int, queue: list[tuple[str, bool]], latencies: list[float], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while queue:
            code, bot = queue.pop()
            ua = BOT if bot else PHONE
            t0 = time.perf_counter()
            writer.write(
                b"GET /l/" + code.encode() + b" HTTP/1.1\r\nHost: bench\r\nUser-Agent: " + ua
                + b"\r\n\r\n"
            )  # fmt: skip
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(
    port: int, codes: list[str], connections: int
) -> tuple[float, list[float], dict[int, int]]:
    """Request every code once over ``connections`` connections; return seconds and results."""
    queue = [(c, i % 20 == 0) for i, c in enumerate(codes)]
    queue.reverse()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, queue, latencies, statuses) for _ in range(connections))
    )
    return time.perf_counter() - t0, latencies, statuses


def counts(url: str) -> tuple[int, int]:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE filtered IS NULL),"
                " count(*) FILTER (WHERE filtered IS NOT NULL) FROM link_clicks"
            )
        ).one()
    eng.dispose()
    return int(row[0]), int(row[1])


def run(kind: str, args: argparse.Namespace) -> None:
    with scratch_url(kind) as url:
        print(f"{kind}:")
        codes = prepare(url, args.requests + 200)
        warm, codes = codes[:200], codes[200:]
        with serve(url, args.workers) as (port, pid):
            asyncio.run(load(port, warm, 8))  # imports, pools, first connections: not timed
            cpu0, own0 = cpu_seconds(pid), time.process_time()
            took, lat, statuses = asyncio.run(load(port, codes, args.connections))
            cpu1, own1 = cpu_seconds(pid), time.process_time()
        people, bots = counts(url)
        people, bots = people - 190, bots - 10  # the warm-up's 200 (every 20th a bot)
        assert statuses == {302: len(codes)}, statuses
        assert people + bots == len(codes), (people, bots, len(codes))
        assert bots == sum(1 for i in range(len(codes)) if i % 20 == 0), bots
        lat.sort()
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        print(
            f"  {len(codes):,} redirects over {args.connections} connections, "
            f"{args.workers} worker(s): {len(codes) / took:,.0f} redirects/s ({took:.2f} s), "
            f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"
        )
        print(
            f"  recorded: {people:,} clicks + {bots:,} filtered previews = every redirect; "
            f"server CPU {(cpu1 - cpu0) / len(codes) * 1e6:,.0f} us/redirect"
            + (" (worker processes not counted)" if args.workers > 1 else "")
            + f", load generator CPU {(own1 - own0):.1f} s; "
            f"load average {os.getloadavg()[0]:.1f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="1,000 redirects: a seconds-long smoke run")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--requests", type=int, default=50_000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = p.parse_args()
    if args.tiny:
        args.requests, args.connections = 1_000, 16
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql: unreachable, skipped")
            continue
        run(kind, args)


if __name__ == "__main__":
    main()
