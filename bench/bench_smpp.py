"""Benchmark: one SMPP connector against the simulator on loopback, receipts on.

The simulator runs in its own process (``clarion smsc``), as an SMSC would; the connector's
settings are stored in and read back from the database given by ``--db`` (the only use of the
database here). Producers call ``Connector.submit`` in a loop, so nothing grows with the number
of messages: memory is sampled as it runs to show it stays flat.

    .venv/bin/python bench/bench_smpp.py                 # 1,000,000 messages
    .venv/bin/python bench/bench_smpp.py --tiny          # a few seconds, for make test
    .venv/bin/python bench/bench_smpp.py --messages 200000 --binds 2 --window 512
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

import orjson
import sqlalchemy as sa

from _common import PG_ADMIN_URL, pg_reachable, scratch_engine
from clarion.audit.service import Actor
from clarion.channels.base import OutboundMessage, Receipt
from clarion.channels.smpp.client import Connector
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.service import connector_config, create_connector
from clarion.workspaces.service import ensure_workspace


def rss_mib(pid: int | None = None) -> float:
    """Return the resident memory of a process in MiB (Linux /proc)."""
    with open(f"/proc/{pid or 'self'}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds(pid: int | None = None) -> float:
    """Return user+system CPU seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid or 'self'}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_config(eng: sa.Engine, port: int, args: argparse.Namespace) -> ConnectorConfig:
    """Store the connector in the database and read it back as a worker would."""
    with eng.begin() as conn:
        ws = ensure_workspace(conn)
        create_connector(
            conn,
            Actor.system(ws, "bench"),
            "simulator",
            {
                "host": "127.0.0.1",
                "port": port,
                "system_id": "clarion",
                "password": "secret",
                "binds": args.binds,
                "window": args.window,
                "submit_id_format": "hex",
                "receipt_id_format": "hex",
                "response_timeout": 30.0,
            },
        )
        return connector_config(conn, ws, "simulator")


async def start_simulator() -> tuple[asyncio.subprocess.Process, int]:
    """Start ``clarion smsc`` on a free port in its own process; return it and the port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from clarion.cli.main import main; main()",
        "smsc",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    where = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    return proc, int(where["smpp"].rsplit(":", 1)[1])


async def run(cfg: ConnectorConfig, total: int, producers: int, sim_pid: int) -> dict[str, object]:
    """Send ``total`` messages and wait for every receipt; return the figures."""
    receipts = matched = 0

    def on_receipt(r: Receipt) -> None:
        nonlocal receipts, matched
        receipts += 1
        matched += r.ref is not None

    connector = Connector(cfg, on_receipt)
    await connector.start()
    segments = [b"Your order has shipped. Track it at https://t.example/abc"]
    next_index = 0
    failed = 0
    memory: list[tuple[int, float]] = []
    sample_every = max(total // 10, 1)

    async def producer() -> None:
        nonlocal next_index, failed
        while next_index < total:
            i = next_index
            next_index += 1
            result = await connector.submit(
                OutboundMessage(ref=str(i), to=f"4477{i:08d}", sender="Shop", segments=segments)
            )
            if not result.ok:
                failed += 1
            if i % sample_every == 0:
                memory.append((i, rss_mib()))

    cpu0, sim_cpu0 = cpu_seconds(), cpu_seconds(sim_pid)
    start = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    submitted = time.perf_counter() - start
    deadline = time.monotonic() + 60
    while receipts < total - failed and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    cpu, sim_cpu = cpu_seconds() - cpu0, cpu_seconds(sim_pid) - sim_cpu0
    p50, p99 = connector.latencies.percentile(50), connector.latencies.percentile(99)
    await connector.stop()
    return {
        "messages": total,
        "failed": failed,
        "submit_s": round(submitted, 2),
        "submit_per_s": round(total / submitted),
        "receipts": receipts,
        "receipts_matched": matched,
        "all_receipts_s": round(elapsed, 2),
        "end_to_end_per_s": round(total / elapsed),
        "latency_p50_ms": round((p50 or 0) * 1000, 2),
        "latency_p99_ms": round((p99 or 0) * 1000, 2),
        "client_cpu_pct": round(100 * cpu / elapsed),
        "simulator_cpu_pct": round(100 * sim_cpu / elapsed),
        # CPU per message: what each side would sustain with a core to itself (1e6 / us).
        "client_cpu_us_per_msg": round(1e6 * cpu / total, 1),
        "simulator_cpu_us_per_msg": round(1e6 * sim_cpu / total, 1),
        "load_average_1m": os.getloadavg()[0],
        "rss_mib_by_message": [(i, round(m, 1)) for i, m in memory],
        "simulator_rss_mib": round(rss_mib(sim_pid), 1),
        "retries": connector.stats.retries,
    }


async def bench(kind: str, args: argparse.Namespace) -> None:
    if kind == "postgresql" and not pg_reachable():
        print(f"PostgreSQL at {PG_ADMIN_URL} unreachable: skipping --db postgresql")
        return
    with scratch_engine(kind, pool_size=2) as eng:
        proc, port = await start_simulator()
        try:
            cfg = stored_config(eng, port, args)
            figures = await run(cfg, args.messages, args.producers, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    print(f"--db {kind}: binds={cfg.binds} window={cfg.window} producers={args.producers}")
    for key, value in figures.items():
        print(f"  {key:20} {value}")
    if figures["receipts_matched"] != args.messages - int(str(figures["failed"])):
        raise SystemExit("not every receipt was matched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--producers", type=int, default=0, help="default: 2 x binds x window")
    args = parser.parse_args()
    if args.tiny:
        args.messages = min(args.messages, 5_000)
    args.producers = args.producers or 2 * args.binds * args.window
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        asyncio.run(bench(kind, args))


if __name__ == "__main__":
    main()
