"""Benchmark: the report of a 1,000,000-message campaign (target: 10 s or less).

The campaign is made with set-based SQL (a few INSERT ... SELECT over a number sequence, so
making a million messages takes seconds): two variants and a 10% holdout, 90% delivered, 5%
failed with provider codes, 1% expired, 5% of recipients clicking (plus link previews), 2%
buying, 50,000 exclusions by reason, opt-outs. Then it times, separately:

- ``build_report`` (attribution of the period's orders included: the report attributes first),
- the HTML with its six charts,
- the message-level export to CSV and Parquet (one streamed pass).

    .venv/bin/python bench/bench_report.py                 # 1,000,000 messages, both databases
    .venv/bin/python bench/bench_report.py --tiny          # 20,000 messages, seconds
    .venv/bin/python bench/bench_report.py --db sqlite --messages 300000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _common import pg_reachable, scratch_engine


def _seq(conn: sa.Connection, n: int) -> str:
    """Return a FROM clause yielding integers i = 1..n."""
    if conn.dialect.name == "sqlite":
        return (
            f"(WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n})"
            " SELECT i FROM seq) s"
        )
    return f"generate_series(1, {n}) AS s(i)"


def _ts(conn: sa.Connection, seconds: str) -> str:
    """Return SQL for 2026-11-20 12:00 UTC plus ``seconds`` (an SQL expression)."""
    if conn.dialect.name == "sqlite":
        return (
            f"(strftime('%Y-%m-%d %H:%M:%S', '2026-11-20 12:00:00', '+' || ({seconds}) ||"
            " ' seconds') || '.000000')"
        )
    return f"(TIMESTAMPTZ '2026-11-20 12:00:00+00' + ({seconds}) * INTERVAL '1 second')"


def kind_of(conn: sa.Connection) -> str:
    return conn.dialect.name


def make_campaign(eng: Engine, n: int) -> tuple[int, int]:
    """Create the workspace, routes, a campaign and its n messages; return (ws, campaign)."""
    from clarion.audit.service import Actor
    from clarion.campaigns.models import CampaignCreate
    from clarion.campaigns.service import create_campaign
    from clarion.compliance.settings import set_policy
    from clarion.delivery.routes import RouteCreate, create_route
    from clarion.workspaces.service import ensure_workspace

    with eng.begin() as conn:
        ws = ensure_workspace(conn)
        actor = Actor(ws, "cli", "bench")
        set_policy(conn, actor, "US", {"brand": "Acme"})
        r1 = create_route(
            conn, actor, RouteCreate(name="main", connector="a", price_per_part=0.0075)
        )
        r2 = create_route(
            conn, actor, RouteCreate(name="backup", connector="b", price_per_part=0.011)
        )
        spec = {
            "name": "Black Friday",
            "audience": {"all": True},
            "holdout_pct": 10,
            "variants": [
                {
                    "name": "A",
                    "body": "Acme: Black Friday, 30% off. Reply STOP to opt out",
                    "split_pct": 50,
                },
                {
                    "name": "B",
                    "body": "Acme: 30% off everything today. Reply STOP to opt out",
                    "split_pct": 50,
                },
            ],
        }
        cid = create_campaign(conn, actor, CampaignCreate.model_validate(spec))
        va, vb = conn.execute(
            sa.text("SELECT id FROM campaign_variants WHERE campaign_id = :c ORDER BY name"),
            {"c": cid},
        ).scalars()
    extra = 50_000 if n >= 200_000 else n // 20
    steps = [
        # contacts 1..n are the audience; n+1..n+extra were excluded
        f"""INSERT INTO contacts (workspace_id, first_name, phone, phone_region, country,
                phone_carrier, attributes, created_at, updated_at)
            SELECT {ws}, 'P' || i, '+1202' || (1000000 + i), 'US', 'US',
                   CASE i % 4 WHEN 0 THEN 'Verizon' WHEN 1 THEN 'AT&T'
                              WHEN 2 THEN 'T-Mobile' ELSE 'US Cellular' END,
                   '{{}}', {_ts(conn, "0")}, {_ts(conn, "0")}
            FROM {_seq(conn, n + extra)}""",
        f"""INSERT INTO messages (workspace_id, campaign_id, contact_id, variant_id, holdout,
                status, channel, destination, route_id, send_at, body, encoding, parts, cost,
                provider_code, attempts, uncertain, queued_at, submitted_at, delivered_at,
                failed_at, expired_at)
            SELECT {ws}, {cid}, i,
                CASE WHEN i % 10 = 0 THEN NULL WHEN i % 2 = 0 THEN {va} ELSE {vb} END,
                i % 10 = 0,
                CASE WHEN i % 10 = 0 THEN 'holdout' WHEN i % 20 = 1 THEN 'failed'
                     WHEN i % 100 = 3 THEN 'expired' WHEN i % 25 = 7 THEN 'submitted'
                     ELSE 'delivered' END,
                'sms', '+1202' || (1000000 + i),
                CASE WHEN i % 10 = 0 THEN NULL WHEN i % 7 = 0 THEN {r2} ELSE {r1} END,
                {_ts(conn, "i % 14400")}, CASE WHEN i % 10 = 0 THEN NULL ELSE 'Acme: ...' END,
                'gsm7', CASE WHEN i % 10 = 0 THEN 0 ELSE 1 END,
                CASE WHEN i % 10 = 0 THEN 0 WHEN i % 7 = 0 THEN 0.011 ELSE 0.0075 END,
                CASE WHEN i % 20 = 1 THEN (CASE WHEN i % 3 = 0 THEN '0x0000000b' ELSE 'UNDELIV' END)
                     ELSE NULL END,
                1, {"0" if conn.dialect.name == "sqlite" else "false"},
                {_ts(conn, "i % 14400")},
                CASE WHEN i % 10 = 0 THEN NULL ELSE {_ts(conn, "i % 14400 + 1")} END,
                CASE WHEN i % 10 = 0 OR i % 20 = 1 OR i % 100 = 3 OR i % 25 = 7 THEN NULL
                     ELSE {_ts(conn, "i % 14400 + 4 + i % 30")} END,
                CASE WHEN i % 10 <> 0 AND i % 20 = 1 THEN {_ts(conn, "i % 14400 + 20")}
                     ELSE NULL END,
                CASE WHEN i % 10 <> 0 AND i % 20 <> 1 AND i % 100 = 3
                     THEN {_ts(conn, "i % 14400 + 86400")} ELSE NULL END
            FROM {_seq(conn, n)}""",
        f"""INSERT INTO campaign_exclusions (campaign_id, contact_id, reason, detail, at)
            SELECT {cid}, {n} + i,
                   CASE i % 5 WHEN 0 THEN 'no_consent' WHEN 1 THEN 'consent_revoked'
                              WHEN 2 THEN 'quiet_hours' WHEN 3 THEN 'frequency_cap'
                              ELSE 'no_route' END, NULL, {_ts(conn, "0")}
            FROM {_seq(conn, extra)}""",
        # one link per 20th recipient, each clicked once; every 10th a preview too
        f"""INSERT INTO links (workspace_id, code, url, campaign_id, contact_id, variant_id,
                created_at, expires_at)
            SELECT {ws}, 'b' || i, 'https://shop.example/bf', {cid}, i,
                   CASE WHEN i % 2 = 0 THEN {va} ELSE {vb} END, {_ts(conn, "0")}, NULL
            FROM {_seq(conn, n)} WHERE i % 40 IN (3, 8)""",
        f"""INSERT INTO link_clicks (link_id, workspace_id, campaign_id, contact_id, clicked_at,
                method, user_agent, ip, filtered)
            SELECT id, {ws}, {cid}, contact_id, {_ts(conn, "contact_id % 14400 + 600")}, 'GET',
                   'Mozilla/5.0 (iPhone)', '203.0.113.7', NULL
            FROM links WHERE campaign_id = {cid}""",
        f"""INSERT INTO link_clicks (link_id, workspace_id, campaign_id, contact_id, clicked_at,
                method, user_agent, ip, filtered)
            SELECT id, {ws}, {cid}, contact_id, {_ts(conn, "contact_id % 14400 + 5")}, 'GET',
                   'WhatsApp/2.23', NULL, 'bot:whatsapp'
            FROM links WHERE campaign_id = {cid} AND contact_id % 200 = 3""",
        # 2% buy two hours after their message (clickers and holdout included)
        f"""INSERT INTO orders (workspace_id, contact_id, external_id, placed_at, currency,
                total, status, attributes, created_at)
            SELECT {ws}, i, 'o' || i, {_ts(conn, "i % 14400 + 7200")}, 'USD',
                   20 + (i % 9) * 10, CASE WHEN i % 1000 = 3 THEN 'refunded' ELSE 'placed' END,
                   '{{}}', {_ts(conn, "0")}
            FROM {_seq(conn, n)} WHERE i % 50 IN (3, 10, 24)""",
        f"""INSERT INTO consent_ledger (workspace_id, contact_id, channel, purpose, status,
                source, soft_opt_in, occurred_at, recorded_at, actor)
            SELECT {ws}, i, 'sms', 'marketing', 'opted_out', 'keyword',
                   {"0" if conn.dialect.name == "sqlite" else "false"},
                   {_ts(conn, "i % 14400 + 300")}, {_ts(conn, "i % 14400 + 300")}, 'bench'
            FROM {_seq(conn, n)} WHERE i % 500 = 11""",
    ]
    for sql in steps:
        with eng.begin() as conn:
            # psycopg reads % as a placeholder even without parameters
            conn.exec_driver_sql(sql if kind_of(conn) == "sqlite" else sql.replace("%", "%%"))
    with eng.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return ws, cid


def run(kind: str, n: int) -> None:
    from clarion.analytics.export import export_messages
    from clarion.analytics.html import render_html
    from clarion.analytics.report import build_report

    with scratch_engine(kind) as eng:
        t0 = time.perf_counter()
        ws, cid = make_campaign(eng, n)
        print(f"{kind}: made a {n:,}-message campaign in {time.perf_counter() - t0:.1f} s")
        w0, c0 = time.perf_counter(), time.process_time()
        with eng.begin() as conn:
            rep = build_report(conn, ws, cid)
        w1, c1 = time.perf_counter(), time.process_time()
        html = render_html(rep)
        w2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, eng.connect() as conn:
            rows = export_messages(
                conn, ws, cid, csv=Path(tmp) / "m.csv", parquet=Path(tmp) / "m.parquet"
            )
        w3 = time.perf_counter()
        fn = rep.funnel
        assert fn["planned"] + fn["holdout"] == n and rows == n
        print(
            f"  report (attribution + every aggregate + statistics): {w1 - w0:.2f} s "
            f"(this process's CPU {c1 - c0:.2f} s)  [target <= 10 s]"
        )
        print(f"  HTML with 6 charts: {w2 - w1:.2f} s ({len(html) / 1024:,.0f} KiB)")
        print(f"  export of {rows:,} messages to CSV + Parquet: {w3 - w2:.2f} s")
        print(
            f"  funnel: sent {fn['sent']:,}, delivered {fn['delivered']:,}, "
            f"clicked {fn['clicked']:,}, converted {fn['converted']:,}, "
            f"revenue {fn['revenue']:,.0f}, ROI {fn['roi']:.1f}; winner {rep.winner}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="20,000 messages: a seconds-long run")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--messages", type=int, default=1_000_000)
    args = p.parse_args()
    n = 20_000 if args.tiny else args.messages
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql: unreachable, skipped")
            continue
        run(kind, n)


if __name__ == "__main__":
    main()
