"""Benchmark: the social posts queue and storing fetched activity.

Part 1 (per database): ``--activities`` fetched Mastodon notifications stored in pages of 40
(one fetch page each) through ``store_activities``, then every page stored again as a re-fetch
would (all skipped by the unique key). Reports rows per second, wall and CPU.

Part 2 (per database): ``--posts`` due posts published by ``publish_due`` against an in-process
``httpx.MockTransport`` answering as a Mastodon instance does, so the figure is the queue's own
cost (claim, adapter, record) without a network. Reports posts per second.

    .venv/bin/python bench/bench_social_publish.py                  # 20,000 rows, 500 posts
    .venv/bin/python bench/bench_social_publish.py --tiny           # seconds
    .venv/bin/python bench/bench_social_publish.py --db postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import pg_reachable, scratch_engine


def _setup(eng: Any) -> tuple[Any, int]:
    from clarion.audit.service import Actor
    from clarion.social.accounts import add_account
    from clarion.workspaces.service import ensure_workspace

    with eng.begin() as conn:
        ws = ensure_workspace(conn)
        actor = Actor.cli(ws)
        acc = add_account(
            conn, actor, "brand", "mastodon", {"base_url": "http://mock", "access_token": "t"}
        )
    return actor, int(acc["id"])


def bench_store(kind: str, n: int) -> None:
    from clarion.channels.social.base import Activity
    from clarion.social.publishing import store_activities

    with scratch_engine(kind) as eng:
        actor, account_id = _setup(eng)
        at = datetime(2026, 11, 22, tzinfo=UTC)
        kinds = ("mention", "follow", "share", "like")
        items = [
            Activity(
                platform="mastodon",
                account="brand",
                kind=kinds[i % 4],  # type: ignore[arg-type]
                activity_id=str(100000 + i),
                author_id=f"u{i % 5000}",
                author_handle=f"user{i % 5000}@example.social",
                at=at + timedelta(seconds=i),
                text="<p>@brand hello</p>" if i % 4 == 0 else None,
                raw={"id": str(100000 + i), "type": kinds[i % 4]},
            )
            for i in range(n)
        ]
        pages = [items[i : i + 40] for i in range(0, n, 40)]
        for label in ("new", "re-fetch"):
            t0, c0 = time.perf_counter(), time.process_time()
            added = 0
            for page in pages:
                with eng.begin() as conn:
                    added += store_activities(conn, actor.workspace_id, account_id, page)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"[{kind}] store {label}: {n:,} rows in {wall:.2f} s wall / {cpu:.2f} s CPU "
                f"= {n / wall:,.0f} rows/s ({added:,} added)"
            )


def bench_publish(kind: str, n: int) -> None:
    import httpx

    from clarion.social.publishing import create_post, publish_due

    counter = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/instance":
            return httpx.Response(200, json={"configuration": {"statuses": {}}})
        counter["n"] += 1
        body = {"id": str(counter["n"]), "url": "https://example.social/@b/1", "created_at": None}
        return httpx.Response(200, content=json.dumps(body).encode())

    transport = httpx.MockTransport(handler)
    with scratch_engine(kind) as eng:
        actor, _ = _setup(eng)
        with eng.begin() as conn:
            for i in range(n):
                create_post(conn, actor, "brand", f"post {i} https://shop.example/{i}")
        t0, c0 = time.perf_counter(), time.process_time()
        done = 0
        while True:
            got = publish_due(eng, limit=100, transport_for=lambda _acc: transport)
            if not got:
                break
            done += got.get("published", 0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"[{kind}] publish: {done:,} posts in {wall:.2f} s wall / {cpu:.2f} s CPU "
            f"= {done / wall:,.0f} posts/s"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="a few seconds")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--activities", type=int, default=20_000)
    p.add_argument("--posts", type=int, default=500)
    a = p.parse_args()
    if a.tiny:
        a.activities, a.posts = 800, 20
    kinds = ["sqlite", "postgresql"] if a.db == "both" else [a.db]
    print(f"load average: {os.getloadavg()[0]:.2f}")
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql unreachable: skipped", file=sys.stderr)
            continue
        bench_store(kind, a.activities)
        bench_publish(kind, a.posts)


if __name__ == "__main__":
    main()
