"""Benchmark: import a contacts CSV end to end (read, clean, merge, write) into SQLite/PostgreSQL.

The file is synthetic and deterministic: 10 columns, numbers written in local formats of
CN/US/GB/DE (some with +/00 prefixes), ~5% invalid numbers, ~10% duplicate rows (an earlier
person again, reformatted). The import is then run a second time to show it changes nothing.

    .venv/bin/python bench/bench_import.py                # 1,000,000 rows, both databases
    .venv/bin/python bench/bench_import.py --tiny         # 5,000 rows, seconds
    .venv/bin/python bench/bench_import.py --db sqlite --rows 200000

Each database runs in a subprocess of its own so peak memory (ru_maxrss) is that import's.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from _common import PG_ADMIN_URL

US_AREAS = ["212", "213", "312", "415", "617", "646", "650", "702", "713", "718", "917", "206"]
CN_PREFIXES = [f"13{d}" for d in range(10)] + ["150", "151", "152", "158", "159", "186", "188"]
FIRST = ["Li", "Wei", "Anna", "John", "Maria", "Jonas", "Emma", "Chen", "Olivia", "Lukas"]
LAST = ["Wang", "Zhang", "Smith", "Jones", "Müller", "Schmidt", "Brown", "Liu", "Taylor"]
CITIES = {"CN": "Shanghai", "US": "Austin", "GB": "Leeds", "DE": "Köln"}
LOCALES = {"CN": "zh-CN", "US": "en-US", "GB": "en-GB", "DE": "de-DE"}
HEADER = [
    "customer_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "country",
    "locale",
    "city",
    "signup_date",
    "tags",
]


def _number(r: random.Random, region: str) -> str:
    if region == "CN":
        n = f"{r.choice(CN_PREFIXES)}{r.randint(0, 99999999):08d}"
        return r.choice([n, f"+86 {n}", f"{n[:3]} {n[3:7]} {n[7:]}"])
    if region == "US":
        a, b, c = r.choice(US_AREAS), r.randint(200, 999), r.randint(0, 9999)
        return r.choice([f"({a}) {b}-{c:04d}", f"+1 {a} {b} {c:04d}", f"{a}.{b}.{c:04d}"])
    if region == "GB":
        n = f"77{r.randint(0, 99):02d}{r.randint(0, 999999):06d}"
        return r.choice([f"0{n[:4]} {n[4:]}", f"+44 {n}", f"0044{n}"])
    n = f"151{r.randint(0, 99999999):08d}"
    return r.choice([f"0{n[:3]} {n[3:]}", f"+49 {n}", f"0049 {n}"])


def _invalid(r: random.Random) -> str:
    return r.choice(["12345", "555-CALL-NOW", "+1 555 0100", "0000000000", "+999 1234", "n/a"])


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write the synthetic contacts CSV (streamed; only a window of rows kept for duplicates)."""
    r = random.Random(seed)
    recent: deque[list[str]] = deque(maxlen=5000)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        person = 0
        for _ in range(rows):
            roll = r.random()
            if roll < 0.10 and recent:
                row = list(r.choice(recent))
                row[4] = row[4].upper()  # the same person, written differently
                w.writerow(row)
                continue
            person += 1
            region = r.choice(("CN", "US", "GB", "DE"))
            phone = _invalid(r) if roll < 0.15 else _number(r, region)
            first, last = r.choice(FIRST), r.choice(LAST)
            row = [
                f"C{person:08d}",
                first,
                last,
                phone,
                f"{first}.{last}.{person}@example.com".lower(),
                region if r.random() < 0.9 else "",
                LOCALES[region],
                CITIES[region],
                f"20{r.randint(15, 25)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}",
                r.choice(["vip", "newsletter;vip", "", "wholesale"]),
            ]
            recent.append(row)
            w.writerow(row)


def _database(kind: str) -> tuple[str, str | None]:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="clarion-bench-")) / "bench.db"
        return f"sqlite:///{path}", None
    name = f"clarion_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False), name


def _drop(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_one(kind: str, csv_path: Path, workers: int | None) -> None:
    """Import the file twice into a fresh database of ``kind`` and print the figures."""
    from clarion.audit.service import Actor
    from clarion.db import migrate
    from clarion.db.engine import create_engine_for
    from clarion.imports.contacts import import_contacts
    from clarion.workspaces.service import ensure_workspace

    url, pg_name = _database(kind)
    engine = create_engine_for(url)
    backends = _watch_backends(engine)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            actor = Actor(ensure_workspace(conn, default_region="US"), "system", "bench")
        rejects = csv_path.with_name(f"rejects-{kind}.csv")
        cpu0, db0 = _cpu(), _server_cpu(backends)
        first = import_contacts(engine, actor, csv_path, rejects_path=rejects, workers=workers)
        cpu1, db1 = _cpu(), _server_cpu(backends)
        again = import_contacts(engine, actor, csv_path, rejects_path=rejects, workers=workers)
        cpu2, db2 = _cpu(), _server_cpu(backends)
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM contacts")).scalar_one()
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"[{kind}] first import:  {first.rows:,} rows in {first.seconds:.1f} s = "
            f"{first.rows_per_second:,.0f} rows/s; {dict(first.outcomes)}; "
            f"rejected {first.rejected:,}"
        )
        print(
            f"[{kind}] re-import:     {again.seconds:.1f} s = {again.rows_per_second:,.0f} "
            f"rows/s; {dict(again.outcomes)}"
        )
        print(
            f"[{kind}] contacts stored {stored:,}; peak RSS main {first.peak_rss_mb:.0f} MB, "
            f"largest worker {children:.0f} MB; workers {first.workers}"
        )
        print(
            f"[{kind}] CPU seconds (main, cleaning workers): first "
            f"{cpu1[0] - cpu0[0]:.1f}, {cpu1[1] - cpu0[1]:.1f}; re-import "
            f"{cpu2[0] - cpu1[0]:.1f}, {cpu2[1] - cpu1[1]:.1f}; load average now "
            f"{os.getloadavg()[0]:.1f}"
        )
        if db0 is not None and db1 is not None and db2 is not None:
            print(
                f"[{kind}] PostgreSQL server CPU seconds (this import's backends): "
                f"first {db1 - db0:.1f}, re-import {db2 - db1:.1f}"
            )
        assert again.outcomes.get("created", 0) == 0 and again.outcomes.get("updated", 0) == 0
    finally:
        engine.dispose()
        if pg_name:
            _drop(pg_name)


def _watch_backends(engine: sa.Engine) -> set[int]:
    """Collect the process ids of the PostgreSQL backends this engine's connections use."""
    pids: set[int] = set()
    if engine.dialect.name == "postgresql":

        @sa.event.listens_for(engine, "connect")
        def _remember(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(int(cursor.fetchone()[0]))
            cursor.close()

    return pids


def _server_cpu(pids: set[int]) -> float | None:
    """Return the CPU seconds used by these PostgreSQL backends (same machine), else None."""
    if not pids:
        return None
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _cpu() -> tuple[float, float]:
    """Return CPU seconds used so far by this process and by its (finished) children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _pg_reachable() -> bool:
    try:
        eng = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="5,000 rows: a smoke run")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--workers", type=int, default=None, help="cleaning processes (auto)")
    ap.add_argument("--file", type=Path, default=None, help="reuse a generated CSV")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    rows = args.rows or (5_000 if args.tiny else 1_000_000)
    if args.child:
        run_one(args.db, args.file, args.workers)
        return
    tmp = Path(tempfile.mkdtemp(prefix="clarion-bench-import-"))
    csv_path = args.file or tmp / f"contacts-{rows}.csv"
    if args.file is None:
        t = time.perf_counter()
        generate(csv_path, rows)
        size = csv_path.stat().st_size / 1e6
        print(f"generated {rows:,} rows ({size:.0f} MB) in {time.perf_counter() - t:.1f} s")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not _pg_reachable():
            print("[postgresql] unreachable: skipped")
            continue
        cmd = [sys.executable, __file__, "--child", "--db", kind, "--file", str(csv_path)]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
