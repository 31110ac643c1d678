"""Benchmark: turning fetched social activity into events, graph edges and feedback.

Part 1 (no database): the sentiment model on ``--texts`` comments (English through VADER,
Chinese through SnowNLP, one in four Chinese). Reports texts per second.

Part 2 (per database): ``--contacts`` contacts, half of them with a linked Mastodon handle;
``--activities`` fetched rows from a pool of authors (half linked, half strangers who become
social-only profiles): 40% follows, 25% comments, 15% mentions of other authors, 10% shares,
10% likes. The ingest job runs until the cursor has passed every row. Reports activities per
second, wall and CPU (this process only; on PostgreSQL the server's CPU is not counted).

    .venv/bin/python bench/bench_social_ingest.py                  # 20,000 texts, 20,000 rows
    .venv/bin/python bench/bench_social_ingest.py --tiny           # seconds
    .venv/bin/python bench/bench_social_ingest.py --db postgresql --activities 50000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta

from _common import pg_reachable, scratch_engine

EN = ["Love it!", "Terrible service, never again", "What time do you open?", "Great deal :)"]
ZH = ["这个产品很好，我很喜欢", "太差了，非常失望", "什么时候发货？"]


def bench_sentiment(n: int) -> None:
    from clarion.social.sentiment import analyse

    rng = random.Random(3)
    texts = [
        (rng.choice(ZH) if i % 4 == 0 else rng.choice(EN)) + f" {rng.randint(0, 99)}"
        for i in range(n)
    ]
    analyse("warm up")
    analyse("预热")
    t0, c0 = time.perf_counter(), time.process_time()
    labels = [analyse(t).label for t in texts]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"sentiment: {n:,} texts in {wall:.2f} s wall / {cpu:.2f} s CPU = {n / wall:,.0f}/s "
        f"({labels.count('positive'):,} positive, {labels.count('negative'):,} negative)"
    )


def bench_ingest(kind: str, contacts_n: int, activities: int) -> None:
    import sqlalchemy as sa

    from clarion.contacts.tables import contact_identities, contacts
    from clarion.db.types import utcnow
    from clarion.social.ingest import ingest
    from clarion.social.tables import social_accounts, social_activities
    from clarion.workspaces.service import ensure_workspace

    rng = random.Random(5)
    with scratch_engine(kind) as eng:
        now = utcnow()
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
            conn.execute(
                contacts.insert(),
                [
                    {
                        "workspace_id": ws,
                        "phone": f"+1415{i:07d}",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(contacts_n)
                ],
            )
            ids = list(conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars())
            conn.execute(
                contact_identities.insert(),
                [
                    {
                        "workspace_id": ws,
                        "contact_id": cid,
                        "namespace": "mastodon",
                        "value": f"user{i}@social.example",
                        "verified": False,
                        "created_at": now,
                    }
                    for i, cid in enumerate(ids[: contacts_n // 2])
                ],
            )
            acc = conn.execute(
                social_accounts.insert()
                .values(
                    workspace_id=ws,
                    name="brand",
                    platform="mastodon",
                    settings={},
                    secrets={},
                    created_at=now,
                    updated_at=now,
                )
                .returning(social_accounts.c.id)
            ).scalar_one()
            pool = contacts_n  # handles user0..user{pool}: the first half are linked
            rows = []
            for i in range(activities):
                r = rng.random()
                kind_ = (
                    "follow"
                    if r < 0.4
                    else "comment"
                    if r < 0.65
                    else "mention"
                    if r < 0.8
                    else "share"
                    if r < 0.9
                    else "like"
                )
                author = rng.randrange(pool)
                text = None
                mentions: list[str] = []
                if kind_ in ("comment", "mention"):
                    text = rng.choice(ZH if i % 4 == 0 else EN)
                if kind_ in ("mention", "share"):
                    mentions = [f"user{rng.randrange(pool)}@social.example"]
                rows.append(
                    {
                        "workspace_id": ws,
                        "account_id": acc,
                        "platform": "mastodon",
                        "kind": kind_,
                        "activity_id": f"n{i}",
                        "author_id": f"u{author}",
                        "author_handle": f"user{author}@social.example",
                        "text": text,
                        "mentions": mentions,
                        "at": now - timedelta(minutes=5),
                        "raw": {},
                        "fetched_at": now - timedelta(minutes=5),
                    }
                )
            for start in range(0, len(rows), 5000):
                conn.execute(social_activities.insert(), rows[start : start + 5000])
        t0, c0 = time.perf_counter(), time.process_time()
        done = 0
        while (n := ingest(eng)) > 0:
            done += n
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"ingest [{kind}]: {done:,} activities in {wall:.2f} s wall / {cpu:.2f} s CPU "
            f"= {done / wall:,.0f}/s"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--texts", type=int, default=20_000)
    ap.add_argument("--activities", type=int, default=20_000)
    ap.add_argument("--contacts", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--tiny", action="store_true", help="a few seconds (CI)")
    args = ap.parse_args()
    if args.tiny:
        args.texts, args.activities, args.contacts = 500, 600, 300
    bench_sentiment(args.texts)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql: not reachable, skipped")
            continue
        bench_ingest(kind, args.contacts, args.activities)
    return 0


if __name__ == "__main__":
    sys.exit(main())
