"""Benchmark: count segments over 1,000,000 contacts and 10,000,000 events (SQLite/PostgreSQL).

The data is generated set-based inside the database (generate_series on PostgreSQL, a recursive
CTE on SQLite; random but of fixed shape): contacts with a ``plan`` attribute and a country,
events of five names over the last year (5% purchases, 40% views), 1.5 orders per contact over
two years. The secondary indexes of ``events`` and ``orders`` are dropped during the load and
built again afterwards (the same indexes Clarion's migrations create), then ANALYZE runs.

    .venv/bin/python bench/bench_segments.py               # 1M contacts, 10M events, both DBs
    .venv/bin/python bench/bench_segments.py --tiny        # 2,000 contacts, seconds
    .venv/bin/python bench/bench_segments.py --db sqlite --contacts 200000 --events 2000000

The SQLite file is cached under bench/out/ and PostgreSQL data in database ``clarion_bench``
(one workspace per size), so a second run only measures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _common import PG_ADMIN_URL
from clarion.audit.service import Actor
from clarion.db import migrate
from clarion.db.engine import create_engine_for
from clarion.events.tables import events, orders
from clarion.segments import query, service
from clarion.segments.text import parse_text
from clarion.workspaces.service import ensure_workspace

OUT = Path(__file__).parent / "out"
SEGMENTS = {
    "three conditions": (
        'attributes.plan = "gold" and event(view) >= 3 within 30d and orders.total > 100'
    ),
    "attribute only": 'attributes.plan = "gold"',
    "event count in window": "event(purchase) >= 2 within 90d",
    "at most (complement)": "event(purchase) <= 0 within 90d",
    "order total": "orders.total > 100",
    "country + not tag + consent-free": "country in [US, GB] and not tag(vip)",
}
COUNTRIES = ["US", "GB", "FR", "DE", "ES", "IT", "BR", "IN"]
# name, share of events: a weighted pick by thresholds on a 0-99 draw.
EVENT_NAMES = [("view", 40), ("click", 25), ("open", 20), ("add_to_cart", 10), ("purchase", 5)]


def _name_case(draw: str) -> str:
    parts, acc = [], 0
    for name, share in EVENT_NAMES:
        acc += share
        parts.append(f"WHEN {draw} < {acc} THEN '{name}'")
    return "CASE " + " ".join(parts) + " END"


def _load_pg(conn: sa.Connection, ws: int, n: int, m: int) -> None:
    conn.execute(sa.text("SET session_replication_role = replica"))  # no FK triggers on load
    conn.execute(
        sa.text(
            """
            INSERT INTO contacts (workspace_id, first_name, country, phone_region, attributes,
                                  created_at, updated_at)
            SELECT :ws, 'P' || g, (ARRAY['US','GB','FR','DE','ES','IT','BR','IN'])[1 + g % 8],
                   (ARRAY['US','GB','FR','DE','ES','IT','BR','IN'])[1 + g % 8],
                   jsonb_build_object('plan', (ARRAY['free','basic','gold'])[1 + (g / 8) % 3],
                                      'score', g % 100),
                   now() - (g % 1000) * interval '1 hour', now()
            FROM generate_series(1, :n) g
            """
        ),
        {"ws": ws, "n": n},
    )
    base = conn.execute(
        sa.text("SELECT min(id) FROM contacts WHERE workspace_id = :ws"), {"ws": ws}
    ).scalar_one()
    conn.execute(
        sa.text(
            f"""
            INSERT INTO events (workspace_id, contact_id, name, properties, occurred_at,
                                received_at)
            SELECT :ws, :base + floor(random() * :n)::bigint, {_name_case("d")}, '{{}}'::jsonb,
                   t, t
            FROM (SELECT floor(random() * 100)::int AS d,
                         now() - random() * interval '365 days' AS t
                  FROM generate_series(1, :m)) s
            """
        ),
        {"ws": ws, "base": base, "n": n, "m": m},
    )
    conn.execute(
        sa.text(
            """
            INSERT INTO orders (workspace_id, contact_id, external_id, placed_at, currency, total,
                                status, attributes, created_at)
            SELECT :ws, :base + floor(random() * :n)::bigint, 'b' || :ws || '-' || g,
                   now() - random() * interval '730 days', 'USD',
                   round((random() * 200)::numeric, 2), 'placed', '{}'::jsonb, now()
            FROM generate_series(1, :o) g
            """
        ),
        {"ws": ws, "base": base, "n": n, "o": n * 3 // 2},
    )
    conn.execute(sa.text("SET session_replication_role = origin"))


_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || ({secs}) || ' seconds') || '.000000'"


def _load_sqlite(conn: sa.Connection, ws: int, n: int, m: int) -> None:
    seq = "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :k) "
    countries = "CASE x % 8 " + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(COUNTRIES))
    conn.execute(
        sa.text(
            seq + "INSERT INTO contacts (workspace_id, first_name, country, phone_region, "
            "attributes, created_at, updated_at) "
            f"SELECT :ws, 'P' || x, {countries} END, {countries} END, "
            "json_object('plan', CASE (x / 8) % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'basic' "
            "ELSE 'gold' END, 'score', x % 100), "
            + _SQLITE_NOW.format(secs="(x % 1000) * 3600")
            + ", "
            + _SQLITE_NOW.format(secs="0")
            + " FROM g"
        ),
        {"ws": ws, "k": n},
    )
    base = conn.execute(
        sa.text("SELECT min(id) FROM contacts WHERE workspace_id = :ws"), {"ws": ws}
    ).scalar_one()
    # SQLite flattens the subquery, so a random() draw would be redone in every CASE branch:
    # the name comes from the top bits of a multiplicative hash of the row number instead.
    t = _SQLITE_NOW.format(secs="abs(random()) % 31536000")
    conn.execute(
        sa.text(
            seq + "INSERT INTO events (workspace_id, contact_id, name, properties, occurred_at, "
            f"received_at) SELECT :ws, :base + abs(random()) % :n, {_name_case('d')}, '{{}}', "
            f"t, t FROM (SELECT (x * 2654435761 % 4294967296) / 42949673 AS d, {t} AS t FROM g)"
        ),
        {"ws": ws, "base": base, "n": n, "k": m},
    )
    conn.execute(
        sa.text(
            seq + "INSERT INTO orders (workspace_id, contact_id, external_id, placed_at, "
            "currency, total, status, attributes, created_at) "
            "SELECT :ws, :base + abs(random()) % :n, 'b' || :ws || '-' || x, "
            + _SQLITE_NOW.format(secs="abs(random()) % 63072000")
            + ", 'USD', (abs(random()) % 20000) / 100.0, 'placed', '{}', "
            + _SQLITE_NOW.format(secs="0")
            + " FROM g"
        ),
        {"ws": ws, "base": base, "n": n, "k": n * 3 // 2},
    )


def _secondary_indexes() -> list[sa.Index]:
    from clarion.db.registry import load_all_tables

    load_all_tables()  # indexes other features add to these tables (e.g. segments on orders)
    return [ix for t in (events, orders) for ix in t.indexes]


def _analyze(eng: Engine) -> None:
    if eng.dialect.name == "postgresql":
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE contacts, events, orders"))
        return
    with eng.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    raw = eng.raw_connection()  # outside any transaction: fold the load's WAL into the file
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def prepare(eng: Engine, n: int, m: int) -> int:
    """Return the bench workspace of size (n, m), generating its data if it is not there yet."""
    migrate.upgrade(eng)
    slug = f"bench-{n}-{m}"
    with eng.begin() as conn:
        existing = conn.execute(
            sa.text("SELECT id FROM workspaces WHERE slug = :s"), {"s": slug}
        ).scalar()
    if existing is not None:
        with eng.begin() as conn:  # data cached before an index was added: build it now
            missing = [ix for ix in _secondary_indexes() if not _has_index(conn, ix)]
            for ix in missing:
                ix.create(conn)
        if missing:
            _analyze(eng)
        return int(existing)
    with eng.begin() as conn:
        ws = ensure_workspace(conn, slug)
    started = time.perf_counter()
    secondary = _secondary_indexes()
    with eng.begin() as conn:
        for ix in secondary:
            ix.drop(conn)
        if eng.dialect.name == "postgresql":
            _load_pg(conn, ws, n, m)
        else:
            _load_sqlite(conn, ws, n, m)
        for ix in secondary:
            ix.create(conn)
    _analyze(eng)
    print(f"  generated {n:,} contacts, {m:,} events in {time.perf_counter() - started:.1f} s")
    return ws


def _has_index(conn: sa.Connection, ix: sa.Index) -> bool:
    assert ix.table is not None
    names = {i["name"] for i in sa.inspect(conn).get_indexes(ix.table.name)}
    return ix.name in names


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Return (first, best) seconds over ``repeat`` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times), result


def run(eng: Engine, n: int, m: int, repeat: int) -> None:
    ws = prepare(eng, n, m)
    print(f"  {'segment':34} {'members':>10} {'first s':>8} {'best s':>8}")
    with eng.connect() as conn:
        for label, text in SEGMENTS.items():
            rules = parse_text(text)
            first, best, got = timed(lambda r=rules: query.count(conn, ws, r), repeat)
            print(f"  {label:34} {got:>10,} {first:8.3f} {best:8.3f}")
        rules = parse_text(SEGMENTS["three conditions"])
        first, best, got = timed(lambda: query.breakdown(conn, ws, rules, "country"), 1)
        print(f"  {'breakdown by country (3 cond.)':34} {len(got):>10,} {first:8.3f} {best:8.3f}")
    with eng.begin() as conn:
        actor = Actor(ws, "system", "bench")
        name = f"bench-{time.time_ns()}"
        sid = service.create_segment(conn, actor, name, parse_text(SEGMENTS["three conditions"]))
        first, _, snap = timed(lambda: service.take_snapshot(conn, actor, sid), 1)
        print(f"  {'snapshot (3 cond.)':34} {snap['member_count']:>10,} {first:8.3f}")
        conn.rollback()


def pg_engine() -> Engine | None:
    admin = create_engine_for(PG_ADMIN_URL)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = 'clarion_bench'")
            ).scalar()
            if not found:
                conn.execute(sa.text("CREATE DATABASE clarion_bench"))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL unreachable, skipped: {exc.__class__.__name__}")
        return None
    finally:
        admin.dispose()
    url = sa.make_url(PG_ADMIN_URL).set(database="clarion_bench")
    return create_engine_for(url.render_as_string(hide_password=False), pool_size=2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="2,000 contacts and 20,000 events")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, m = (2_000, 20_000) if args.tiny else (args.contacts, args.events)
    if args.db in ("sqlite", "both"):
        print(f"== SQLite: {n:,} contacts, {m:,} events")
        if args.tiny:
            tmp = tempfile.TemporaryDirectory()
            path = Path(tmp.name) / "bench.db"
        else:
            OUT.mkdir(exist_ok=True)
            path = OUT / f"segments-{n}-{m}.db"
        eng = create_engine_for(f"sqlite:///{path}")
        run(eng, n, m, args.repeat)
        eng.dispose()
    if args.db in ("postgresql", "both"):
        pg = pg_engine()
        if pg is not None:
            print(f"== PostgreSQL: {n:,} contacts, {m:,} events")
            run(pg, n, m, args.repeat)
            pg.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
