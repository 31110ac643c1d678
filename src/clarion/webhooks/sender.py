"""Send due webhook deliveries: claim, POST signed, record, retry with backoff, dead-letter.

Claiming is a conditional UPDATE to ``sending`` with this worker's name and a lease
(``claimed_until``); a delivery whose worker died is claimed again once the lease passes, so
nothing is lost on a restart, and the receiver may see an event twice (it dedupes by the event
id in the body and the ``Clarion-Event-Id`` header): at-least-once, as webhooks are.

Retries: exponential backoff from ``BASE_DELAY_S`` doubling per try up to ``MAX_DELAY_S``, with
jitter (each delay drawn from its upper half), so receivers coming back from an outage are not
hit by every sender at the same instant. After ``MAX_ATTEMPTS`` a delivery is ``dead`` until
someone replays it (``clarion webhook replay`` or ``POST /v1/webhooks/deliveries/replay``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.db.engine import read_only
from clarion.db.types import utcnow
from clarion.webhooks.service import callback_secret
from clarion.webhooks.signing import HEADER, sign
from clarion.webhooks.tables import webhook_deliveries, webhook_endpoints

BATCH = 200
MAX_ATTEMPTS = 8
BASE_DELAY_S = 10.0
MAX_DELAY_S = 3600.0
LEASE_S = 60.0
TIMEOUT_S = 10.0
CONCURRENCY = 32
USER_AGENT = "Clarion-Webhooks/1"


@dataclass(frozen=True, slots=True)
class _Job:
    id: int
    url: str
    body: bytes
    secret: str
    event: str
    event_id: str
    attempts: int
    message_id: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: _Job
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def backoff(attempts: int, *, rng: random.Random | None = None) -> float:
    """Return the delay before try ``attempts + 1``: doubling, capped, jittered (upper half)."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** max(attempts - 1, 0))
    return float(ceiling) * (0.5 + 0.5 * (rng or random).random())


def claim(engine: Engine, worker_id: str, *, now: datetime, limit: int = BATCH) -> list[_Job]:
    """Claim due deliveries (pending and due, or sending with a lapsed lease)."""
    t = webhook_deliveries
    due_now = sa.or_(
        sa.and_(t.c.status == "pending", t.c.next_attempt_at <= now),
        sa.and_(t.c.status == "sending", t.c.claimed_until < now),
    )
    with read_only(engine) as conn:  # look first: a claim takes SQLite's write lock
        if conn.execute(sa.select(t.c.id).where(due_now).limit(1)).first() is None:
            return []
    with engine.begin() as conn:
        due = (
            sa.select(t.c.id)
            .where(due_now)
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = conn.execute(
            t.update()
            .where(t.c.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                claimed_by=worker_id,
                claimed_until=now + timedelta(seconds=LEASE_S),
            )
            .returning(
                t.c.id,
                t.c.workspace_id,
                t.c.endpoint_id,
                t.c.url,
                t.c.payload,
                t.c.event,
                t.c.event_id,
                t.c.attempts,
                t.c.message_id,
            )
        ).all()
        if not rows:
            return []
        ep_ids = {int(r.endpoint_id) for r in rows if r.endpoint_id is not None}
        secrets = dict(
            conn.execute(
                sa.select(webhook_endpoints.c.id, webhook_endpoints.c.secret).where(
                    webhook_endpoints.c.id.in_(ep_ids)
                )
            ).all()
        )
        cb = {ws: callback_secret(conn, ws) for ws in {int(r.workspace_id) for r in rows}}
    return [
        _Job(
            id=int(r.id),
            url=r.url,
            body=orjson.dumps(r.payload),
            secret=secrets[r.endpoint_id] if r.endpoint_id is not None else cb[int(r.workspace_id)],
            event=r.event,
            event_id=r.event_id,
            attempts=int(r.attempts),
            message_id=int(r.message_id),
        )
        for r in rows
        if r.endpoint_id is None or r.endpoint_id in secrets
    ]


async def _post_all(
    jobs: Sequence[_Job], transport: httpx.AsyncBaseTransport | None
) -> list[_Outcome]:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(
        timeout=TIMEOUT_S, follow_redirects=False, transport=transport
    ) as client:

        async def post(job: _Job) -> _Outcome:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Clarion-Event-Id": job.event_id,
                "Clarion-Event-Type": job.event,
                HEADER: sign(job.secret, job.body),
            }
            async with limit:
                try:
                    resp = await client.post(job.url, content=job.body, headers=headers)
                except httpx.HTTPError as exc:
                    return _Outcome(job, None, f"{type(exc).__name__}: {exc}"[:500])
            error = None if resp.is_success else f"HTTP {resp.status_code}: {resp.text[:200]}"
            return _Outcome(job, resp.status_code, error)

        # One message's events to one URL go one after the other, in the order they happened
        # (submitted before delivered); different messages and URLs go concurrently.
        groups: dict[tuple[str, int], list[_Job]] = {}
        for j in sorted(jobs, key=lambda j: j.id):
            groups.setdefault((j.url, j.message_id), []).append(j)

        async def in_order(group: list[_Job]) -> list[_Outcome]:
            return [await post(j) for j in group]

        done = await asyncio.gather(*(in_order(g) for g in groups.values()))
        return [o for g in done for o in g]


def _record(engine: Engine, worker_id: str, outcomes: Sequence[_Outcome], now: datetime) -> None:
    t = webhook_deliveries
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    mine = sa.and_(
        t.c.id == sa.bindparam("b_id"), t.c.claimed_by == worker_id, t.c.status == "sending"
    )
    with engine.begin() as conn:
        if done:
            conn.execute(
                t.update()
                .where(mine)
                .values(
                    status="delivered",
                    attempts=t.c.attempts + 1,
                    last_status=sa.bindparam("u_status"),
                    last_error=None,
                    delivered_at=now,
                    claimed_until=None,
                ),
                [{"b_id": o.job.id, "u_status": o.status} for o in done],
            )
        if failed:
            params = []
            for o in failed:
                tries = o.job.attempts + 1
                dead = tries >= MAX_ATTEMPTS
                params.append(
                    {
                        "b_id": o.job.id,
                        "u_state": "dead" if dead else "pending",
                        "u_status": o.status,
                        "u_error": o.error,
                        "u_next": now if dead else now + timedelta(seconds=backoff(tries)),
                    }
                )
            conn.execute(
                t.update()
                .where(mine)
                .values(
                    status=sa.bindparam("u_state"),
                    attempts=t.c.attempts + 1,
                    last_status=sa.bindparam("u_status"),
                    last_error=sa.bindparam("u_error"),
                    next_attempt_at=sa.bindparam("u_next", type_=t.c.next_attempt_at.type),
                    claimed_until=None,
                ),
                params,
            )


def send_due(
    engine: Engine,
    worker_id: str,
    *,
    now: datetime | None = None,
    limit: int = BATCH,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, int]:
    """Claim and send one batch of due deliveries; return counts of delivered/retry/dead."""
    now = now or utcnow()
    jobs = claim(engine, worker_id, now=now, limit=limit)
    if not jobs:
        return {"delivered": 0, "failed": 0}
    outcomes = asyncio.run(_post_all(jobs, transport))
    _record(engine, worker_id, outcomes, now)
    ok = sum(1 for o in outcomes if o.ok)
    return {"delivered": ok, "failed": len(outcomes) - ok}
