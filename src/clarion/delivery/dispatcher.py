"""Claim due messages, and the set-based sweeps around sending: recovery, expiry, completion.

Claiming is one statement on both databases: ``UPDATE messages SET status='sending' ... WHERE id
IN (SELECT ... LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING ...``. On PostgreSQL SKIP LOCKED lets
several workers claim disjoint batches at once; on SQLite the engine opens every transaction
with BEGIN IMMEDIATE, so claims are serialised by the database's single writer lock.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from clarion.campaigns.service import SENDING_STATES
from clarion.campaigns.tables import campaigns
from clarion.db.sql import in_values
from clarion.delivery.leases import live_workers
from clarion.delivery.outcomes import Failure, fail_or_failover, log_attempts
from clarion.delivery.tables import (
    DUE_INDEX,
    LANE_DUE_INDEX,
    OPEN_STATES,
    message_attempts,
    messages,
    routes,
    status_check,
    status_is,
)


class Claimed(NamedTuple):
    """A message this worker now owns until it writes the outcome.

    A named tuple, not a frozen dataclass: a claim builds thousands a batch, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost several times more.
    """

    id: int
    campaign_id: int | None  # None: a send-API message (clarion.sending)
    route_id: int
    connector: str
    destination: str
    body: str
    parts: int
    claim_token: str
    validity_s: int
    sender: str | None = None


def claim(
    conn: sa.Connection,
    worker_id: str,
    *,
    connectors: Collection[str],
    limit: int,
    now: datetime,
    workspace_id: int | None = None,
    only: Collection[int] | None = None,
    skip: Collection[int] = (),
    lane: str | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due messages of sending campaigns, or of no campaign (the send
    API), on the given connectors (of the campaigns in ``only`` if given, never of those in
    ``skip``; of one ``lane`` if given)."""
    if not connectors or limit <= 0:
        return []
    token = uuid.uuid4().hex
    # Routes and sending campaigns are few: read their ids first, so the due query is on the
    # outbox alone and PostgreSQL walks the (status, send_at) index and stops after ``limit``
    # rows. With the joins inside, it estimated the route and campaign filters badly and chose
    # to sort every due row of the outbox for each claim (a million rows: seconds per batch).
    route_ids = _route_ids(conn, connectors, workspace_id)
    camp_ids = _sending_campaigns(conn, workspace_id, only, skip)
    in_campaigns = in_values(conn, messages.c.campaign_id, camp_ids)
    due = (
        sa.select(messages.c.id)
        .with_hint(messages, f"INDEXED BY {_due_index(lane)}", "sqlite")
        .where(
            status_is("queued"),
            messages.c.send_at <= now,
            in_values(conn, messages.c.route_id, route_ids),
            # send-API messages (no campaign) go with any claim not limited to some campaigns
            in_campaigns if only is not None else messages.c.campaign_id.is_(None) | in_campaigns,
        )
        .where(sa.true() if lane is None else _lane_is(lane))
        .where(sa.true() if workspace_id is None else messages.c.workspace_id == workspace_id)
        # send_at alone: with a tie-breaker PostgreSQL would sort every due row to pick n.
        .order_by(messages.c.send_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=messages)
    )
    # On PostgreSQL the claimed ids become one array (an InitPlan) matched on the primary key;
    # ``id IN (subquery)`` was a hash semi-join over a scan of the whole outbox.
    picked = (
        messages.c.id == sa.any_(sa.func.array(due.scalar_subquery()))
        if conn.dialect.name == "postgresql"
        else messages.c.id.in_(due.scalar_subquery())
    )
    pg = conn.dialect.name == "postgresql"
    if pg:
        # Walk the due index in send_at order and stop after ``limit`` rows. Left to its
        # estimates (the outbox is rarely analysed mid-campaign), PostgreSQL fetched every due
        # row of the campaign through ``ix_messages_open`` and sorted them all: on disk at
        # 50,000 rows, seconds per claim at a million. No sort is the way to say "use the
        # ordered index"; for this statement only.
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
    claimed = conn.execute(
        messages.update()
        .where(picked)
        .values(
            status="sending",
            worker_id=worker_id,
            claim_token=token,
            claimed_at=now,
            attempts=messages.c.attempts + 1,
        )
        .returning(
            messages.c.id,
            messages.c.campaign_id,
            messages.c.route_id,
            messages.c.destination,
            messages.c.body,
            messages.c.parts,
            messages.c.validity_s,
            messages.c.sender,
        )
    ).all()
    if pg:
        conn.exec_driver_sql("SET LOCAL enable_sort = on")
    if not claimed:
        return []
    used_routes = {r[2] for r in claimed}
    used_camps = {r[1] for r in claimed if r[1] is not None}
    connector_of = dict(
        conn.execute(
            sa.select(routes.c.id, routes.c.connector).where(routes.c.id.in_(used_routes))
        ).all()
    )
    validity = dict(
        conn.execute(
            sa.select(campaigns.c.id, campaigns.c.validity_s).where(campaigns.c.id.in_(used_camps))
        ).all()
    )
    # Positional, from plain tuples (ids are ints from both drivers): per row this is most of
    # what the claim costs the worker.
    out = [
        Claimed(
            mid,
            camp,
            route,
            connector_of[route],
            dest,
            body,
            parts,
            token,
            valid_s or validity[camp],
            sender,
        )
        for mid, camp, route, dest, body, parts, valid_s, sender in claimed
    ]
    out.sort(key=itemgetter(0))
    return out


def _due_index(lane: str | None) -> str:
    """Return the partial index a claim of ``lane`` walks: the transactional lane has its own
    (its rows are few among a campaign's million); any other claim reads every queued row's."""
    return LANE_DUE_INDEX if lane == "transactional" else DUE_INDEX


def _lane_is(lane: str) -> sa.ColumnElement[bool]:
    """Return ``lane = '<lane>'`` as a literal, so the lane's partial due index is usable."""
    if not lane.isidentifier():
        raise ValueError(f"not a lane: {lane!r}")
    return messages.c.lane == sa.literal_column(f"'{lane}'")


def _route_ids(
    conn: sa.Connection, connectors: Collection[str], workspace_id: int | None
) -> list[int]:
    q = sa.select(routes.c.id).where(routes.c.connector.in_(list(connectors)))
    if workspace_id is not None:
        q = q.where(routes.c.workspace_id == workspace_id)
    return [int(i) for i in conn.execute(q).scalars()]


def _sending_campaigns(
    conn: sa.Connection,
    workspace_id: int | None,
    only: Collection[int] | None,
    skip: Collection[int],
) -> list[int]:
    q = sa.select(campaigns.c.id).where(campaigns.c.status.in_(SENDING_STATES))
    if workspace_id is not None:
        q = q.where(campaigns.c.workspace_id == workspace_id)
    if only is not None:
        q = q.where(campaigns.c.id.in_(list(only)))
    ids = [int(i) for i in conn.execute(q).scalars()]
    return [i for i in ids if i not in set(skip)]


def throughput_limits(conn: sa.Connection, workspace_id: int | None) -> dict[int, int]:
    """Return {campaign: messages per second} of sending campaigns that set a limit."""
    q = sa.select(campaigns.c.id, campaigns.c.throughput_per_s).where(
        campaigns.c.status.in_(SENDING_STATES), campaigns.c.throughput_per_s.is_not(None)
    )
    if workspace_id is not None:
        q = q.where(campaigns.c.workspace_id == workspace_id)
    return {int(cid): int(rate) for cid, rate in conn.execute(q)}


def campaign_states(conn: sa.Connection, campaign_ids: Collection[int]) -> dict[int, str]:
    """Return the current state of each campaign (the dispatcher re-checks before each batch)."""
    rows = conn.execute(
        sa.select(campaigns.c.id, campaigns.c.status).where(campaigns.c.id.in_(list(campaign_ids)))
    )
    return {int(r.id): r.status for r in rows}


def log_cancelled(conn: sa.Connection, where: sa.ColumnElement[bool], *, now: datetime) -> None:
    """Append a ``cancelled`` attempt for each message ``where`` selects, before the UPDATE
    that cancels them (the status history and the ``*.cancelled`` webhooks read it)."""
    log_attempts(conn, where, "cancelled", now=now)


def release(
    conn: sa.Connection, claimed: Sequence[Claimed], states: dict[int, str], *, now: datetime
) -> Counter[str]:
    """Give back claimed messages of campaigns that stopped: cancelled ones are recalled, paused
    ones return to the queue (their attempt did not happen)."""
    out: Counter[str] = Counter()
    for state, new, extra in (
        ("cancelled", "cancelled", {"cancelled_at": now}),
        ("paused", "queued", {}),
    ):
        ids = [
            c.id
            for c in claimed
            if c.campaign_id is not None and states.get(c.campaign_id) == state
        ]
        if not ids:
            continue
        mine = sa.and_(messages.c.id.in_(ids), status_check("sending"))
        if new == "cancelled":
            log_cancelled(conn, mine, now=now)
        res = conn.execute(
            messages.update()
            .where(mine)
            .values(status=new, attempts=messages.c.attempts - 1, **extra)
        )
        out[new] += int(res.rowcount)
    return out


def unclaim(conn: sa.Connection, claimed: Sequence[Claimed]) -> int:
    """Return claimed messages that were never handed to a channel to the queue (a worker
    stopping with a batch it claimed ahead); return how many went back."""
    out = 0
    for token in {c.claim_token for c in claimed}:
        ids = [c.id for c in claimed if c.claim_token == token]
        res = conn.execute(
            messages.update()
            .where(
                in_values(conn, messages.c.id, ids),
                messages.c.claim_token == token,
                status_check("sending"),
            )
            .values(
                status="queued",
                attempts=messages.c.attempts - 1,
                worker_id=None,
                claim_token=None,
                claimed_at=None,
            )
        )
        out += int(res.rowcount)
    return out


def recall(conn: sa.Connection, campaign_id: int, *, now: datetime) -> dict[str, int]:
    """Cancel every message of the campaign not yet handed to a provider, in one UPDATE.

    Return how many were recalled and how many had already gone (submitted or further) or were
    in flight on a worker at that instant (those finish; the worker re-checks before the next).
    """
    queued = sa.and_(messages.c.campaign_id == campaign_id, status_is("queued"))
    log_cancelled(conn, queued, now=now)
    recalled = conn.execute(
        messages.update().where(queued).values(status="cancelled", cancelled_at=now)
    ).rowcount
    by_status: dict[str, int] = dict(
        conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.campaign_id == campaign_id)
            .group_by(messages.c.status)
        ).all()
    )
    gone = sum(
        int(by_status.get(s, 0))
        for s in ("submitted", "delivered", "failed", "expired", "uncertain")
    )
    return {
        "recalled": int(recalled),
        "already_sent": gone,
        "in_flight": int(by_status.get("sending", 0)),
    }


def recover_stale(conn: sa.Connection, *, now: datetime) -> int:
    """Mark messages left in ``sending`` by workers whose lease expired as uncertain."""
    stale = sa.and_(
        status_is("sending"),
        sa.or_(
            messages.c.worker_id.is_(None),
            messages.c.worker_id.not_in(live_workers(conn, now=now)),
        ),
    )
    ids = [int(r.id) for r in conn.execute(sa.select(messages.c.id).where(stale))]
    mark_uncertain(conn, ids, now=now)
    return len(ids)


def mark_uncertain(conn: sa.Connection, ids: Sequence[int], *, now: datetime) -> Counter[str]:
    """Flag messages in ``sending`` that the provider may or may not have as uncertain.

    Campaigns whose failover policy says ``resend_uncertain`` get them queued again (still
    flagged, so a duplicate can be told from a first send); the others keep them in
    ``uncertain`` for a person to decide.
    """
    out: Counter[str] = Counter()
    if not ids:
        return out
    rows = conn.execute(
        sa.select(messages.c.id, messages.c.campaign_id).where(
            messages.c.id.in_(list(ids)), status_check("sending")
        )
    ).all()
    policies = dict(
        conn.execute(
            sa.select(campaigns.c.id, campaigns.c.failover).where(
                campaigns.c.id.in_({int(r.campaign_id) for r in rows if r.campaign_id is not None})
            )
        ).all()
    )
    # A send-API message (no campaign) stays uncertain: resending could deliver it twice.
    resend = {cid for cid, p in policies.items() if p.get("resend_uncertain")}
    ids = [int(r.id) for r in rows]
    conn.execute(
        message_attempts.insert().from_select(
            ["message_id", "campaign_id", "route_id", "worker_id", "result", "at"],
            sa.select(
                messages.c.id,
                messages.c.campaign_id,
                messages.c.route_id,
                messages.c.worker_id,
                sa.literal("uncertain"),
                sa.literal(now, type_=message_attempts.c.at.type),
            ).where(messages.c.id.in_(ids)),
        )
    )
    for target, where in (
        ("queued", messages.c.campaign_id.in_(resend)),
        (
            "uncertain",
            sa.or_(messages.c.campaign_id.is_(None), messages.c.campaign_id.not_in(resend)),
        ),
    ):
        res = conn.execute(
            messages.update()
            .where(messages.c.id.in_(ids), status_check("sending"), where)
            .values(status=target, uncertain=True, send_at=now, claim_token=None)
        )
        out["resent_uncertain" if target == "queued" else "uncertain"] += int(res.rowcount)
    return out


def expire_overdue(conn: sa.Connection, *, now: datetime, limit: int = 5000) -> Counter[str]:
    """Treat submitted messages with no receipt within their validity period as expired,
    which moves them to the next route when the campaign's policy says so.

    Only campaigns still sending are swept: a cancelled campaign's late messages keep waiting
    for receipts and are never resent.
    """
    overdue: list[Failure] = []
    active = conn.execute(
        sa.select(campaigns.c.id, campaigns.c.validity_s).where(
            campaigns.c.status.in_(("running", "paused"))
        )
    ).all()
    for cid, validity_s in active:
        rows = conn.execute(
            sa.select(messages.c.id)
            .where(
                messages.c.campaign_id == cid,
                status_is("submitted"),
                messages.c.submitted_at < now - timedelta(seconds=int(validity_s)),
            )
            .limit(limit - len(overdue))
        ).all()
        overdue += [Failure(int(r.id), "expired", "NO_RECEIPT") for r in rows]
        if len(overdue) >= limit:
            break
    return fail_or_failover(conn, overdue, now=now, expect=("submitted",))


def finished_campaigns(conn: sa.Connection) -> list[tuple[int, int]]:
    """Return (workspace, campaign) of running campaigns whose every message has an outcome
    (a submitted message still waits for its receipt or its validity to end)."""
    pending = (
        sa.select(messages.c.id)
        .where(
            messages.c.campaign_id == campaigns.c.id,
            status_is(*OPEN_STATES),
        )
        .exists()
    )
    rows = conn.execute(
        sa.select(campaigns.c.workspace_id, campaigns.c.id).where(
            campaigns.c.status == "running", campaigns.c.planned_at.is_not(None), ~pending
        )
    )
    return [(int(r.workspace_id), int(r.id)) for r in rows]


def error_rates(
    conn: sa.Connection, *, since: datetime
) -> list[tuple[int, int, int, int, dict[str, Any]]]:
    """Return (workspace, campaign, failures, attempts) per running campaign since ``since``,
    with its failover policy, for auto-pause."""
    failed = sa.func.sum(
        sa.case((message_attempts.c.result.in_(("failed_permanent", "undelivered")), 1), else_=0)
    )
    rows = conn.execute(
        sa.select(
            campaigns.c.workspace_id,
            campaigns.c.id,
            failed.label("failed"),
            sa.func.count().label("total"),
            campaigns.c.failover,
        )
        .join(campaigns, campaigns.c.id == message_attempts.c.campaign_id)
        .where(campaigns.c.status == "running", message_attempts.c.at >= since)
        .group_by(campaigns.c.workspace_id, campaigns.c.id, campaigns.c.failover)
    )
    return [
        (int(r.workspace_id), int(r.id), int(r.failed or 0), int(r.total), dict(r.failover))
        for r in rows
    ]
