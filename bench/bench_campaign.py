"""Benchmark: plan a campaign for N recipients, then dispatch it through the SMSC simulator.

Planning is the whole path from audience to outbox: the audience query, the compliance engine
(consent, suppression, jurisdiction, quiet hours, content rules), variant and holdout hashing,
rendering, GSM-7 part counting, route choice and the bulk inserts. Dispatch is the worker
claiming batches, sending them over SMPP to the simulator on 127.0.0.1 with delivery receipts,
and writing submissions, receipts and attempts back; the figure is messages delivered (receipt
applied) per second, from the first claim to the last receipt.

    .venv/bin/python bench/bench_campaign.py                  # 1,000,000 recipients, both DBs
    .venv/bin/python bench/bench_campaign.py --tiny           # 2,000 recipients, seconds
    .venv/bin/python bench/bench_campaign.py --db sqlite --n 100000 --dispatch 50000

Each run builds a fresh database (a file under a temporary directory; on PostgreSQL a database
of its own, dropped afterwards). Contacts and consent are generated set-based in the database.
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

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _common import PG_ADMIN_URL, pg_reachable, scratch_engine
from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.service import create_campaign
from clarion.compliance.settings import set_policy
from clarion.config import get_settings
from clarion.db.types import utcnow
from clarion.delivery import hooks
from clarion.delivery.routes import RouteCreate, create_route
from clarion.delivery.tables import messages
from clarion.workspaces.service import ensure_workspace

BODY_A = (
    "Acme: Hi {{ contact.first_name }}, spring sale: 20% off everything today. "
    "Reply STOP to opt out"
)
BODY_B = (
    "Acme: {{ contact.first_name }}, your 20% spring discount ends tonight. Reply STOP to opt out"
)


def noon_zone() -> str:
    """Return a fixed-offset zone where it is now about noon, so quiet hours defer nobody."""
    off = 12 - utcnow().hour
    return "Etc/GMT" if off == 0 else (f"Etc/GMT-{off}" if off > 0 else f"Etc/GMT+{-off}")


def seed(eng: Engine, ws: int, n: int) -> None:
    """Insert ``n`` US contacts with SMS marketing opt-ins, set-based in the database."""
    zone = noon_zone()
    now = utcnow()
    pg = eng.dialect.name == "postgresql"
    series = (
        "generate_series(1, :n) AS s(i)"
        if pg
        else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
        "SELECT i FROM s) AS s"
    )
    ts = "CAST(:now AS timestamptz)" if pg else ":now"
    stamp = now if pg else now.replace(tzinfo=None).isoformat(sep=" ")
    attrs = "'{}'::jsonb" if pg else "'{}'"
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO contacts (workspace_id, first_name, phone, phone_region, country,"
                " timezone, attributes, created_at, updated_at)"
                f" SELECT :ws, 'Ann' || i, '+1' || CAST(2020000000 + i AS TEXT), 'US', 'US',"
                f" :zone, {attrs}, {ts}, {ts} FROM {series}"
            ),
            {"ws": ws, "n": n, "zone": zone, "now": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO consent_ledger (workspace_id, contact_id, channel, purpose, status,"
                " source, soft_opt_in, occurred_at, recorded_at, actor)"
                f" SELECT :ws, id, 'sms', 'marketing', 'opted_in', 'bench', false, {ts}, {ts},"
                " 'bench' FROM contacts WHERE workspace_id = :ws"
            ),
            {"ws": ws, "now": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO consent_state (contact_id, channel, purpose, workspace_id, status,"
                " soft_opt_in, ledger_id, since)"
                " SELECT contact_id, channel, purpose, workspace_id, status, soft_opt_in, id,"
                " occurred_at FROM consent_ledger WHERE workspace_id = :ws"
            ),
            {"ws": ws},
        )
        if pg:
            conn.execute(sa.text("ANALYZE"))


def setup_campaign(eng: Engine, actor: Actor, connector: str) -> int:
    """Create the route and a two-variant campaign with a 10% holdout; return its id."""
    with eng.begin() as conn:
        set_policy(conn, actor, "US", {"brand": "Acme"})
        create_route(
            conn, actor, RouteCreate(name="sim", connector=connector, price_per_part=0.0075)
        )
        spec = CampaignCreate.model_validate(
            {
                "name": "Spring sale",
                "audience": {"all": True},
                "variants": [
                    {"name": "A", "body": BODY_A, "split_pct": 50},
                    {"name": "B", "body": BODY_B, "split_pct": 50},
                ],
                "holdout_pct": 10,
            }
        )
        return create_campaign(conn, actor, spec)


def limit_dispatch(eng: Engine, cid: int, keep: int) -> int:
    """Leave only the first ``keep`` queued messages due (the rest wait a day); return it."""
    with eng.begin() as conn:
        cutoff = conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.campaign_id == cid, messages.c.status == "queued")
            .order_by(messages.c.id)
            .offset(keep)
            .limit(1)
        ).scalar()
        if cutoff is not None:
            conn.execute(
                messages.update()
                .where(messages.c.campaign_id == cid, messages.c.id >= cutoff)
                .values(send_at=utcnow().replace(year=utcnow().year + 1))
            )
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    messages.c.campaign_id == cid,
                    messages.c.status == "queued",
                    messages.c.send_at <= utcnow(),
                )
            ).scalar_one()
        )


async def dispatch(
    eng: Engine, ws: int, cid: int, due: int, *, steps_only: bool = False
) -> tuple[float, int]:
    """Send the due messages through the simulator; return seconds and messages delivered.

    The worker runs as ``clarion worker`` runs it (``Worker.run``: the bulk loop, the
    transactional lane and every feature's periodic jobs); ``steps_only`` drives the bulk
    loop's ``step()`` alone, to see what the rest costs.
    """
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.config import ConnectorConfig
    from clarion.delivery.worker import Worker

    # The simulator runs as its own process (`clarion smsc`), as it would in production.
    smsc = subprocess.Popen(
        [sys.executable, "-c", "from clarion.cli.main import main; main()", "smsc", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert smsc.stdout is not None
    port = int(orjson.loads(smsc.stdout.readline())["smpp"].rsplit(":", 1)[1])
    worker = Worker(eng, workspace_id=ws, batch_size=3000, send_chunk=1000, lease_ttl=30)
    cfg = ConnectorConfig("sim", "127.0.0.1", port, "clarion", "secret", window=256, binds=2)
    worker.add_channel("sim", Connector(cfg, on_report=worker.on_report))
    t0 = time.perf_counter()
    delivered = 0
    if steps_only:
        await worker.start()
        while True:
            sent = await worker.step()
            delivered = worker.stats["delivered"]
            if delivered >= due:
                break
            if not sent:
                await asyncio.sleep(0.005)  # the last receipts are on their way
                if time.perf_counter() - t0 > 3600:
                    break
        elapsed = time.perf_counter() - t0
        await worker.close()
    else:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        marks = Windows(t0)
        while worker.stats["delivered"] < due and not task.done():
            await asyncio.sleep(0.01)
            marks.see(worker.stats["delivered"])
            if time.perf_counter() - t0 > 3600:
                break
        elapsed = time.perf_counter() - t0
        delivered = worker.stats["delivered"]
        print(f"  {marks.summary()}")
        stop.set()
        await task
        top = sorted(worker.job_cpu.items(), key=lambda kv: -kv[1])[:4]
        jobs = ", ".join(f"{k} {v:.2f}" for k, v in top if v >= 0.01)
        print(f"  periodic jobs' CPU seconds during the run: {jobs or 'none above 0.01'}")
        print(
            f"  receipts written with their submit: {worker.stats['delivered_with_submit']:,}"
            f" of {delivered:,} delivered"
        )
    sim_cpu = proc_cpu(smsc.pid)
    print(
        f"  SMSC simulator (own process) CPU {sim_cpu:.1f} s"
        f" ({sim_cpu * 1e6 / max(delivered, 1):.0f} us/message, start-up included)"
    )
    smsc.send_signal(signal.SIGTERM)
    smsc.wait(10)
    return elapsed, delivered


class Windows:
    """The delivery rate over consecutive windows of ``width_s`` seconds, to tell a sustained
    rate from an average (a dispatch that slows as the outbox grows averages well).

    Only whole windows count: the last, partial one holds the tail of the receipts.
    """

    def __init__(self, t0: float, width_s: float = 10.0) -> None:
        self.width_s = width_s
        self._next = t0 + width_s
        self._last = 0
        self.rates: list[float] = []

    def see(self, delivered: int) -> None:
        now = time.perf_counter()
        if now >= self._next:
            # a late look (a long event-loop turn) spreads over the time it really covered
            span = self.width_s + (now - self._next)
            self.rates.append((delivered - self._last) / span)
            self._last = delivered
            self._next = now + self.width_s

    def summary(self) -> str:
        if not self.rates:
            return f"no whole {self.width_s:.0f} s window (the dispatch was shorter)"
        shown = " ".join(f"{r:,.0f}" for r in self.rates)
        return (
            f"delivered per second in each whole {self.width_s:.0f} s window: {shown};"
            f" slowest {min(self.rates):,.0f}"
        )


def proc_cpu(pid: int) -> float:
    """Return the CPU seconds process ``pid`` has used (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCPU:
    """CPU seconds used by the PostgreSQL backends serving the bench's database.

    A background thread looks at ``pg_stat_activity`` every ``every_s`` seconds and remembers
    each backend's CPU (``/proc/<pid>/stat``), so a backend that exits (a pool's overflow
    connection closed on return) keeps what it was last seen to use instead of dropping out
    of the sum (a plain before/after sum went negative). A backend that lives less than
    ``every_s`` can be missed (a parallel query's workers): the engine's pool is sized so
    that the worker's does not recycle.
    Reads 0 on SQLite or when the server's processes cannot be read.
    """

    def __init__(self, eng: Engine, every_s: float = 0.25) -> None:
        self.eng = eng
        self.every_s = every_s
        self.enabled = eng.dialect.name == "postgresql"
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def _look(self) -> None:
        pids = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
        if not os.path.exists(f"/proc/{self._conn.info.backend_pid}/stat"):
            self.enabled = False  # the server runs elsewhere (or in a container)
            return
        for (pid,) in pids:
            if not os.path.exists(f"/proc/{pid}/stat"):
                continue  # gone since the query (a parallel query's worker, say)
            # max(): a backend exiting between the two looks reads 0 the second time
            self._last[pid] = max(self._last.get(pid, 0.0), proc_cpu(pid))

    def __enter__(self) -> ServerCPU:
        if not self.enabled:
            return self
        import psycopg

        url = self.eng.url.set(drivername="postgresql")
        self._conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        self._look()
        self._base = dict(self._last)  # what the backends had used before: not ours

        def loop() -> None:
            while not self._stop.wait(self.every_s):
                self._look()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._look()
            self._conn.close()

    @property
    def seconds(self) -> float:
        if not self.enabled:
            return 0.0
        return sum(cpu - self._base.get(pid, 0.0) for pid, cpu in self._last.items())


def run(kind: str, n: int, dispatch_n: int, *, steps_only: bool = False) -> None:
    # The pool of `clarion worker` (CLARION_DB_POOL_SIZE's default): the worker's threads,
    # lane and periodic jobs hold up to about six connections at once.
    with scratch_engine(kind, pool_size=get_settings().db_pool_size) as eng:
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
        actor = Actor(ws, "cli", "bench")
        t = time.perf_counter()
        seed(eng, ws, n)
        print(f"[{kind}] seeded {n:,} contacts with consent in {time.perf_counter() - t:.1f} s")
        cid = setup_campaign(eng, actor, "sim")
        t, cpu = time.perf_counter(), time.process_time()
        with ServerCPU(eng) as server:
            report = launch(eng, actor, cid)
        plan_s = time.perf_counter() - t
        plan_cpu = time.process_time() - cpu
        db_cpu = server.seconds
        print(
            f"[{kind}] planned {n:,} recipients in {plan_s:.1f} s ({n / plan_s:,.0f}/s): "
            f"{report.planned:,} queued, {report.holdout:,} holdout, "
            f"{sum(report.excluded.values()):,} excluded, {report.parts:,} parts, "
            f"cost {report.cost:,.2f}; CPU {plan_cpu:.1f} s in this process"
            + (f", {db_cpu:.1f} s in the database server" if db_cpu else "")
            + f"; load average {os.getloadavg()[0]:.1f}"
        )
        due = limit_dispatch(eng, cid, dispatch_n)
        # Every feature's periodic-job module is imported once per worker process, at its
        # first pass: a start-up cost, not a per-message one, so it is paid before measuring.
        hooks.load_all_jobs()
        cpu = time.process_time()
        with ServerCPU(eng) as server:
            elapsed, delivered = asyncio.run(dispatch(eng, ws, cid, due, steps_only=steps_only))
        cpu = time.process_time() - cpu
        db_cpu = server.seconds
        per = 1e6 / max(delivered, 1)
        print(
            f"[{kind}] dispatched {delivered:,} messages (submit + receipt) in {elapsed:.1f} s: "
            f"{delivered / elapsed:,.0f} messages/s; worker CPU {cpu:.1f} s ({cpu * per:.0f} us"
            "/message)"
            + (
                f", database server {db_cpu:.1f} s ({db_cpu * per:.0f} us/message)"
                if db_cpu
                else ""
            )
            + f"; load average {os.getloadavg()[0]:.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="2,000 recipients: a smoke run")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--n", type=int, default=1_000_000, help="recipients")
    p.add_argument("--dispatch", type=int, default=None, help="messages to dispatch (all)")
    p.add_argument(
        "--steps-only",
        action="store_true",
        help="drive the bulk loop's step() alone, without the lane and periodic jobs",
    )
    args = p.parse_args(argv)
    n = 2000 if args.tiny else args.n
    dispatch_n = args.dispatch if args.dispatch is not None else n
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print(f"[postgresql] skipped: unreachable at {PG_ADMIN_URL}")
            continue
        run(kind, n, dispatch_n, steps_only=args.steps_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
