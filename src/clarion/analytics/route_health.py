"""Route health: delivery rate and latency per route, country and carrier, hour by hour.

:func:`refresh` folds new ``message_attempts`` rows (past a cursor on their id) into hourly
counters, one aggregate statement per batch; the worker runs it as a periodic job
(``analytics/jobs.py``). The router asks :func:`unhealthy_routes` which routes delivered less
than a threshold over the last hour, and tries every healthy route before any of those.

Several workers may refresh at once: the cursor moves by a conditional UPDATE in the same
transaction as the counters, so only one of them adds a given batch. On PostgreSQL, ids are
taken in sequence order but may commit out of order, so rows younger than a short lag are left
for the next run (a transaction that stays open longer than the lag could be missed; Clarion's
writers commit in milliseconds). SQLite serialises writers, so it needs no lag.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from clarion.analytics.sqltime import epoch_sql, floor_sql
from clarion.analytics.tables import route_health_cursor, route_health_hourly
from clarion.db.types import UTCDateTime, utcnow

BATCH = 50_000
CURSOR = "route_health"
PG_LAG = timedelta(seconds=30)
#: A route is unhealthy when, over the last hour, at least MIN_OUTCOMES messages got a final
#: outcome and fewer than THRESHOLD of them were delivered.
THRESHOLD = 0.5
MIN_OUTCOMES = 20
FAILED = ("failed_permanent", "failed_transient", "undelivered", "expired")


class _Lost(Exception):
    """Another worker moved the cursor first."""


def _aggregate_sql(conn: sa.Connection) -> str:
    def ep(col: str) -> str:
        return epoch_sql(conn, col)

    failed = ", ".join(f"'{r}'" for r in FAILED)
    return f"""
SELECT m.workspace_id AS ws, a.route_id AS route_id,
       coalesce(upper(c.phone_region), upper(c.country), '') AS country,
       coalesce(lower(c.phone_carrier), '') AS carrier,
       {floor_sql(conn, "a.at", 3600)} AS hour,
       sum(CASE WHEN a.result = 'submitted' THEN 1 ELSE 0 END) AS submitted,
       sum(CASE WHEN a.result = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       sum(CASE WHEN a.result IN ({failed}) THEN 1 ELSE 0 END) AS failed,
       sum(CASE WHEN a.result = 'delivered' AND m.submitted_at IS NOT NULL
                THEN {ep("a.at")} - {ep("m.submitted_at")} ELSE 0 END) AS lat,
       sum(CASE WHEN a.result = 'delivered' AND m.submitted_at IS NOT NULL
                THEN 1 ELSE 0 END) AS lat_n
FROM message_attempts a
JOIN messages m ON m.id = a.message_id
LEFT JOIN contacts c ON c.id = m.contact_id
WHERE a.id > :last AND a.id <= :upto AND a.route_id IS NOT NULL
GROUP BY m.workspace_id, a.route_id, 3, 4, 5
"""


def _upsert(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    t = route_health_hourly
    ins: Any = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
    add = ("submitted", "delivered", "failed", "latency_s_sum", "latency_n")
    stmt = ins.on_conflict_do_update(
        index_elements=["workspace_id", "route_id", "country", "carrier", "hour"],
        set_={k: t.c[k] + ins.excluded[k] for k in add},
    )
    conn.execute(stmt, rows)


def _step(conn: sa.Connection, cutoff: datetime, batch: int) -> int:
    row = conn.execute(
        sa.select(route_health_cursor.c.last_attempt_id).where(route_health_cursor.c.name == CURSOR)
    ).first()
    if row is None:
        conn.execute(
            route_health_cursor.insert().values(name=CURSOR, last_attempt_id=0, updated_at=utcnow())
        )
        last = 0
    else:
        last = int(row[0])
    upto = conn.execute(
        sa.text(
            "SELECT max(id), count(*) FROM (SELECT id FROM message_attempts"
            " WHERE id > :last AND at < :cutoff ORDER BY id LIMIT :n) s"
        ).bindparams(sa.bindparam("cutoff", type_=UTCDateTime())),
        {"last": last, "cutoff": cutoff, "n": batch},
    ).one()
    if upto[0] is None:
        return 0
    rows = [
        {
            "workspace_id": int(r.ws),
            "route_id": int(r.route_id),
            "country": r.country[:8],
            "carrier": r.carrier[:100],
            "hour": datetime.fromtimestamp(float(r.hour), UTC),
            "submitted": int(r.submitted),
            "delivered": int(r.delivered),
            "failed": int(r.failed),
            "latency_s_sum": float(r.lat or 0),
            "latency_n": int(r.lat_n),
        }
        for r in conn.execute(sa.text(_aggregate_sql(conn)), {"last": last, "upto": int(upto[0])})
    ]
    if rows:
        _upsert(conn, rows)
    moved = conn.execute(
        route_health_cursor.update()
        .where(route_health_cursor.c.name == CURSOR, route_health_cursor.c.last_attempt_id == last)
        .values(last_attempt_id=int(upto[0]), updated_at=utcnow())
    )
    if moved.rowcount != 1:
        raise _Lost
    return int(upto[1])


def refresh(engine: Engine, *, batch: int = BATCH, now: datetime | None = None) -> int:
    """Fold new delivery attempts into the hourly counters; return how many were read."""
    lag = PG_LAG if engine.dialect.name == "postgresql" else timedelta(0)
    cutoff = (now or utcnow()) - lag
    total = 0
    while True:
        try:
            with engine.begin() as conn:
                n = _step(conn, cutoff, batch)
        except _Lost:
            return total
        total += n
        if n < batch:
            return total


def unhealthy_routes(
    conn: sa.Connection,
    workspace_id: int,
    *,
    now: datetime | None = None,
    threshold: float = THRESHOLD,
    min_outcomes: int = MIN_OUTCOMES,
) -> frozenset[int]:
    """Return the ids of routes whose delivery rate over the last hour is below ``threshold``
    (with at least ``min_outcomes`` final outcomes to judge by)."""
    since = (now or utcnow()).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    t = route_health_hourly
    q = (
        sa.select(t.c.route_id, sa.func.sum(t.c.delivered), sa.func.sum(t.c.failed))
        .where(t.c.workspace_id == workspace_id, t.c.hour >= since)
        .group_by(t.c.route_id)
    )
    bad = set()
    for route_id, delivered, failed in conn.execute(q):
        done = int(delivered or 0) + int(failed or 0)
        if done >= min_outcomes and int(delivered or 0) / done < threshold:
            bad.add(int(route_id))
    return frozenset(bad)


def route_health(conn: sa.Connection, workspace_id: int, *, hours: int = 24) -> dict[str, Any]:
    """Return per-route totals and the hourly series by route, country and carrier."""
    since = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    t = route_health_hourly
    names: dict[Any, str] = dict(
        conn.execute(
            sa.text("SELECT id, name FROM routes WHERE workspace_id = :ws"), {"ws": workspace_id}
        ).all()
    )
    series = []
    totals: dict[str, dict[str, float]] = {}
    q = (
        sa.select(t)
        .where(t.c.workspace_id == workspace_id, t.c.hour >= since)
        .order_by(t.c.hour, t.c.route_id, t.c.country, t.c.carrier)
    )
    for r in conn.execute(q):
        name = names.get(r.route_id, str(r.route_id))
        done = r.delivered + r.failed
        series.append(
            {
                "hour": r.hour.isoformat(),
                "route": name,
                "country": r.country,
                "carrier": r.carrier,
                "submitted": r.submitted,
                "delivered": r.delivered,
                "failed": r.failed,
                "delivery_rate": round(r.delivered / done, 4) if done else None,
                "mean_latency_s": round(r.latency_s_sum / r.latency_n, 2) if r.latency_n else None,
            }
        )
        tot = totals.setdefault(
            name, {"submitted": 0, "delivered": 0, "failed": 0, "lat": 0.0, "lat_n": 0}
        )
        for k, col in (
            ("submitted", "submitted"),
            ("delivered", "delivered"),
            ("failed", "failed"),
        ):
            tot[k] += getattr(r, col)
        tot["lat"] += r.latency_s_sum
        tot["lat_n"] += r.latency_n
    unhealthy = unhealthy_routes(conn, workspace_id)
    routes = {
        name: {
            "submitted": int(v["submitted"]),
            "delivered": int(v["delivered"]),
            "failed": int(v["failed"]),
            "delivery_rate": round(v["delivered"] / (v["delivered"] + v["failed"]), 4)
            if v["delivered"] + v["failed"]
            else None,
            "mean_latency_s": round(v["lat"] / v["lat_n"], 2) if v["lat_n"] else None,
        }
        for name, v in totals.items()
    }
    return {
        "hours": hours,
        "routes": routes,
        "unhealthy_now": sorted(names.get(i, str(i)) for i in unhealthy),
        "series": series,
    }
