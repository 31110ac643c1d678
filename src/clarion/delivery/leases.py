"""Leases: a row per resource saying which worker owns it until when.

A worker holds ``worker:<id>`` while alive and ``connector:<name>`` for each connector whose binds
it runs, so a connector's throughput limit holds across the cluster. Taking a lease is one
upsert that succeeds only if the lease is free, expired or already ours; renewing is one UPDATE.
A worker that stops heartbeating loses everything at ``expires_at`` and the others take over.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.db.types import utcnow
from clarion.delivery.tables import worker_leases

WORKER_PREFIX = "worker:"
CONNECTOR_PREFIX = "connector:"


def acquire(
    conn: sa.Connection,
    key: str,
    owner: str,
    ttl: float,
    *,
    now: datetime | None = None,
    info: dict[str, Any] | None = None,
) -> bool:
    """Take or renew lease ``key`` for ``owner``; return whether ``owner`` now holds it."""
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    ins = dialect.insert(worker_leases).values(
        key=key, owner=owner, acquired_at=now, heartbeat_at=now, expires_at=expires, info=info or {}
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[worker_leases.c.key],
        set_={
            "owner": ins.excluded.owner,
            "acquired_at": sa.case(
                (worker_leases.c.owner == ins.excluded.owner, worker_leases.c.acquired_at),
                else_=ins.excluded.acquired_at,
            ),
            "heartbeat_at": ins.excluded.heartbeat_at,
            "expires_at": ins.excluded.expires_at,
            "info": ins.excluded.info,
        },
        where=sa.or_(worker_leases.c.owner == owner, worker_leases.c.expires_at < now),
    )
    conn.execute(stmt)
    holder = conn.execute(
        sa.select(worker_leases.c.owner).where(worker_leases.c.key == key)
    ).scalar_one()
    return bool(holder == owner)


def heartbeat(conn: sa.Connection, owner: str, ttl: float, *, now: datetime | None = None) -> int:
    """Extend every unexpired lease of ``owner``; return how many it still holds."""
    now = now or utcnow()
    res = conn.execute(
        worker_leases.update()
        .where(worker_leases.c.owner == owner, worker_leases.c.expires_at >= now)
        .values(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))
    )
    return int(res.rowcount)


def release(conn: sa.Connection, owner: str, keys: Iterable[str] | None = None) -> None:
    """Give up ``owner``'s leases (all, or ``keys``) so others need not wait for expiry."""
    q = worker_leases.delete().where(worker_leases.c.owner == owner)
    if keys is not None:
        q = q.where(worker_leases.c.key.in_(list(keys)))
    conn.execute(q)


def live_workers(conn: sa.Connection, *, now: datetime | None = None) -> sa.Select[Any]:
    """Return a SELECT of the ids of workers whose liveness lease has not expired."""
    now = now or utcnow()
    return sa.select(worker_leases.c.owner).where(
        worker_leases.c.key.startswith(WORKER_PREFIX), worker_leases.c.expires_at >= now
    )


def holders(conn: sa.Connection, *, now: datetime | None = None) -> dict[str, str]:
    """Return every unexpired lease as {key: owner} (for status pages and metrics)."""
    now = now or utcnow()
    rows = conn.execute(
        sa.select(worker_leases.c.key, worker_leases.c.owner).where(
            worker_leases.c.expires_at >= now
        )
    )
    return {r.key: r.owner for r in rows}
