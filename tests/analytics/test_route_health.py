"""Route health: hourly counters from attempts, and the router preferring healthy routes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.analytics.route_health import refresh, route_health, unhealthy_routes
from clarion.analytics.tables import route_health_hourly
from clarion.audit.service import Actor
from clarion.db.types import utcnow
from clarion.delivery.routes import load_routes, pick_route
from clarion.delivery.tables import message_attempts
from tests.tracking import factories as f

PLAIN = [{"name": "A", "body": "Acme: the sale is on today. Reply STOP to opt out"}]


def traffic(
    engine: Engine, actor: Actor, make: Any, route: int, delivered: int, failed: int, first: int
) -> None:
    """Messages on ``route``: submitted, then delivered 5 s later or undelivered."""
    ws = actor.workspace_id
    people = make.contacts([f"+1202555{first + i:04d}" for i in range(delivered + failed)])
    cid = make.campaign(name=f"c{first}", variants=PLAIN)
    at = utcnow() - timedelta(minutes=10)
    rows = []
    for i, c in enumerate(people):
        ok = i < delivered
        mid = f.message(engine, ws, cid, c, at=at, status="delivered" if ok else "failed",
                        route_id=route)  # fmt: skip
        rows.append({"message_id": mid, "campaign_id": cid, "route_id": route,
                     "result": "submitted", "at": at})  # fmt: skip
        rows.append({"message_id": mid, "campaign_id": cid, "route_id": route,
                     "result": "delivered" if ok else "undelivered",
                     "at": at + timedelta(seconds=5)})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(message_attempts.insert(), rows)


def test_refresh_counts_outcomes_and_latency_once(engine: Engine, actor: Actor, make: Any) -> None:
    # given 30 messages on a route: 24 delivered 5 s after submission, 6 undelivered
    route = make.route("main")
    traffic(engine, actor, make, route, 24, 6, 100)
    # when route health is refreshed, twice
    assert refresh(engine, now=utcnow() + timedelta(minutes=5)) == 60
    assert refresh(engine, now=utcnow() + timedelta(minutes=5)) == 0
    # then the hour's counters hold each attempt once, with the mean latency
    with engine.connect() as conn:
        rows = list(conn.execute(sa.select(route_health_hourly)))
        report = route_health(conn, actor.workspace_id)
    assert len(rows) == 1
    r = rows[0]
    assert (r.route_id, r.country, r.submitted, r.delivered, r.failed) == (route, "US", 30, 24, 6)
    assert r.latency_n == 24 and abs(r.latency_s_sum / r.latency_n - 5.0) < 0.01
    assert report["routes"]["main"]["delivery_rate"] == 0.8
    # and attempts arriving later are added on top
    traffic(engine, actor, make, route, 2, 0, 200)
    assert refresh(engine, now=utcnow() + timedelta(minutes=5)) == 4
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(route_health_hourly.c.delivered))).scalar()
    assert total == 26


def test_router_prefers_a_healthy_route_over_a_failing_one(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a cheap main route that delivered 10 of 40 in the last hour and a healthy backup
    main = make.route("main", priority=10)
    backup = make.route("backup", priority=20)
    traffic(engine, actor, make, main, 10, 30, 100)
    traffic(engine, actor, make, backup, 30, 0, 300)
    refresh(engine, now=utcnow() + timedelta(minutes=5))
    # when routes are loaded for planning or failover
    with engine.connect() as conn:
        bad = unhealthy_routes(conn, actor.workspace_id)
        routes = load_routes(conn, actor.workspace_id, "sms")
    # then main is marked unhealthy and the backup is picked first, despite its priority
    assert bad == {main}
    assert [(r.id, r.healthy) for r in routes] == [(main, False), (backup, True)]
    assert pick_route(routes, "+12025550100", "US").id == backup  # type: ignore[union-attr]
    # and when only the failing route serves a destination it is still used (demoted, not cut)
    only_main = [r for r in routes if r.id == main]
    assert pick_route(only_main, "+12025550100", "US").id == main  # type: ignore[union-attr]


def test_a_route_with_too_few_outcomes_is_not_judged(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a route with 5 failures only (below the minimum sample)
    main = make.route("main")
    traffic(engine, actor, make, main, 0, 5, 100)
    refresh(engine, now=utcnow() + timedelta(minutes=5))
    # then it is not called unhealthy on so little evidence
    with engine.connect() as conn:
        assert unhealthy_routes(conn, actor.workspace_id) == frozenset()


def test_the_worker_runs_route_health_as_a_periodic_job() -> None:
    from clarion.delivery.hooks import jobs

    assert "route_health" in {j.name for j in jobs()}
