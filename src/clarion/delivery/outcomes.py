"""Write send outcomes back to the outbox in bulk, moving failures to the next route.

Every path that ends an attempt (a submit result, a delivery receipt, a validity expiry, a
connector that is down) comes here, so failover follows one policy: the campaign's ``failover``
document. A failed message goes to the next route serving its destination in (priority, id)
order, then to the fallback channel, then is final. Each write is conditional on the state the
caller saw, so a row that moved meanwhile (recalled, recovered by another worker) is left alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clarion.campaigns.tables import campaigns
from clarion.compliance import SendLogRow, log_sends
from clarion.contacts.tables import contacts
from clarion.db.sql import in_values
from clarion.delivery.bulk import db_time, update_by_id
from clarion.delivery.routes import Route, load_routes, pick_route, routes_by_id
from clarion.delivery.tables import message_attempts, messages

#: Why an attempt ended without success.
CAUSES = ("permanent", "transient", "receipt", "expired", "connector_down", "throttled")
_RESULT = {
    "permanent": "failed_permanent",
    "transient": "failed_transient",
    "throttled": "failed_transient",
    "connector_down": "connector_down",
    "receipt": "undelivered",
    "expired": "expired",
}
_POLICY_FLAG = {
    "permanent": "on_permanent",
    "receipt": "on_receipt_failure",
    "expired": "on_expiry",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """One attempt that did not succeed, for :func:`fail_or_failover`."""

    message_id: int
    cause: str
    code: str | None = None
    claim_token: str | None = None  # set on the dispatch path: only our claim may be written


@dataclass(frozen=True, slots=True)
class Submitted:
    """One message the provider accepted."""

    message_id: int
    claim_token: str
    provider_ids: tuple[str, ...]
    parts: int


def record_submitted(
    conn: sa.Connection, done: Sequence[Submitted], *, worker_id: str, now: datetime
) -> int:
    """Mark messages submitted and keep one attempt row per part (receipts match on those)."""
    if not done:
        return 0
    at = db_time(conn, now)
    n = update_by_id(
        conn,
        "messages",
        "status = 'submitted', provider_id = v.pid, submitted_at = v.at, provider_code = NULL",
        "t.claim_token = v.token AND t.status = 'sending'",
        [("id", "bigint"), ("token", "text"), ("pid", "text"), ("at", "timestamptz")],
        [
            (
                d.message_id,
                d.claim_token,
                d.provider_ids[0] if d.provider_ids else None,
                at,
            )
            for d in done
        ],
    )
    ids = [d.message_id for d in done]
    _log_sends(conn, ids, now)
    # The first part's attempt comes from the outbox row itself; further parts one row each.
    conn.execute(
        message_attempts.insert().from_select(
            ["message_id", "campaign_id", "route_id", "worker_id", "result", "provider_id", "at"],
            sa.select(
                messages.c.id,
                messages.c.campaign_id,
                messages.c.route_id,
                sa.literal(worker_id),
                sa.literal("submitted"),
                messages.c.provider_id,
                sa.literal(now, type_=message_attempts.c.at.type),
            ).where(in_values(conn, messages.c.id, ids), messages.c.status == "submitted"),
        )
    )
    extra = [(d.message_id, pid) for d in done for pid in d.provider_ids[1:]]
    if extra:
        _attempts_from_rows(conn, extra, result="submitted", worker_id=worker_id, now=now)
    return n


def status_in(states: Sequence[str]) -> sa.ColumnElement[bool]:
    """Return ``status IN (...)`` written as ORs: executemany cannot expand an IN list."""
    return sa.or_(*(messages.c.status == s for s in states))


def _log_sends(conn: sa.Connection, ids: Sequence[int], now: datetime) -> None:
    """Tell compliance what was sent (frequency caps and first-message rules count these)."""
    rows = conn.execute(
        sa.select(
            messages.c.id,
            messages.c.workspace_id,
            messages.c.contact_id,
            messages.c.channel,
            messages.c.campaign_id,
            campaigns.c.purpose,
        )
        .join(campaigns, campaigns.c.id == messages.c.campaign_id)
        .where(in_values(conn, messages.c.id, ids), messages.c.status == "submitted")
    ).all()
    log_sends(
        conn,
        [
            SendLogRow(
                workspace_id=int(r.workspace_id),
                contact_id=int(r.contact_id),
                channel=r.channel,
                purpose=r.purpose,
                sent_at=now,
                campaign_id=int(r.campaign_id),
                message_ref=str(r.id),
            )
            for r in rows
        ],
    )


def _attempts_from_rows(
    conn: sa.Connection,
    items: Sequence[tuple[int, str | None]],
    *,
    result: str,
    worker_id: str | None,
    now: datetime,
    code: str | None = None,
) -> None:
    """Insert attempt rows for messages, copying campaign and route from the outbox."""
    if not items:
        return
    ids = sorted({i for i, _ in items})
    info = {
        int(r.id): (int(r.campaign_id), r.route_id)
        for r in conn.execute(
            sa.select(messages.c.id, messages.c.campaign_id, messages.c.route_id).where(
                messages.c.id.in_(ids)
            )
        )
    }
    conn.execute(
        message_attempts.insert(),
        [
            {
                "message_id": mid,
                "campaign_id": info[mid][0],
                "route_id": info[mid][1],
                "worker_id": worker_id,
                "result": result,
                "provider_id": pid,
                "provider_code": code,
                "at": now,
            }
            for mid, pid in items
            if mid in info
        ],
    )


def fail_or_failover(
    conn: sa.Connection,
    failures: Sequence[Failure],
    *,
    now: datetime,
    expect: Sequence[str],
    worker_id: str | None = None,
) -> Counter[str]:
    """Apply failures: requeue on the next route, retry later, fall back, or end the message.

    Return counts by what happened: ``failover``, ``retry``, ``fallback``, ``failed``,
    ``expired``.
    """
    if not failures:
        return Counter()
    rows = {
        int(r.id): r
        for r in conn.execute(
            sa.select(
                messages.c.id,
                messages.c.workspace_id,
                messages.c.campaign_id,
                messages.c.route_id,
                messages.c.channel,
                messages.c.destination,
                messages.c.attempts,
                campaigns.c.failover,
                contacts.c.phone_region,
                contacts.c.country,
                contacts.c.phone_carrier,
                contacts.c.email,
            )
            .join(campaigns, campaigns.c.id == messages.c.campaign_id)
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .where(messages.c.id.in_([f.message_id for f in failures]))
        )
    }
    route_cache: dict[tuple[int, str | None], list[Route]] = {}
    all_routes: dict[int, dict[int, Route]] = {}

    def candidates(ws: int, channel: str) -> list[Route]:
        key = (ws, channel)
        if key not in route_cache:
            route_cache[key] = load_routes(conn, ws, channel)
        return route_cache[key]

    outcome: Counter[str] = Counter()
    updates: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for f in failures:
        row = rows.get(f.message_id)
        if row is None:
            continue
        ws = int(row.workspace_id)
        if ws not in all_routes:
            all_routes[ws] = routes_by_id(conn, ws)
        policy = dict(row.failover)
        current = all_routes[ws].get(row.route_id) if row.route_id is not None else None
        country = row.phone_region or row.country
        upd = {
            "b_id": f.message_id,
            "b_token": f.claim_token,
            "u_status": "queued",
            "u_route_id": row.route_id,
            "u_channel": row.channel,
            "u_destination": row.destination,
            "u_send_at": now,
            "u_provider_id": None,
            "u_provider_code": f.code,
            "u_failed_at": None,
            "u_expired_at": None,
        }
        attempts.append(
            {
                "message_id": f.message_id,
                "campaign_id": int(row.campaign_id),
                "route_id": row.route_id,
                "worker_id": worker_id,
                "result": _RESULT.get(f.cause, f.cause),
                "provider_id": None,
                "provider_code": f.code,
                "at": now,
            }
        )
        retry_same = f.cause in ("transient", "throttled") and row.attempts <= int(
            policy.get("max_transient", 3)
        )
        may_failover = f.cause in ("transient", "throttled", "connector_down") or bool(
            policy.get(_POLICY_FLAG.get(f.cause, ""), True)
        )
        nxt = None
        if not retry_same and may_failover:
            nxt = pick_route(
                candidates(ws, row.channel),
                row.destination,
                country,
                row.phone_carrier,
                after=current,
            )
        fallback = policy.get("fallback_channel")
        if retry_same:
            upd["u_send_at"] = now + timedelta(seconds=int(policy.get("retry_after_s", 30)))
            outcome["retry"] += 1
        elif nxt is not None:
            upd["u_route_id"] = nxt.id
            outcome["failover"] += 1
        elif (
            may_failover
            and fallback
            and fallback != row.channel
            and row.email
            and (alt := pick_route(candidates(ws, fallback), row.email, country)) is not None
        ):
            upd.update(u_route_id=alt.id, u_channel=fallback, u_destination=row.email)
            outcome["fallback"] += 1
        elif f.cause == "connector_down" and row.attempts <= int(policy.get("max_transient", 3)):
            upd["u_send_at"] = now + timedelta(seconds=int(policy.get("retry_after_s", 30)))
            outcome["retry"] += 1
        elif f.cause == "expired":
            upd.update(u_status="expired", u_expired_at=now)
            outcome["expired"] += 1
        else:
            upd.update(u_status="failed", u_failed_at=now)
            outcome["failed"] += 1
        updates.append(upd)
    where = [messages.c.id == sa.bindparam("b_id"), status_in(expect)]
    if any(f.claim_token for f in failures):
        where.append(messages.c.claim_token == sa.bindparam("b_token"))
    if updates:
        conn.execute(
            messages.update()
            .where(*where)
            .values(
                status=sa.bindparam("u_status"),
                route_id=sa.bindparam("u_route_id"),
                channel=sa.bindparam("u_channel"),
                destination=sa.bindparam("u_destination"),
                send_at=sa.bindparam("u_send_at", type_=messages.c.send_at.type),
                provider_id=sa.bindparam("u_provider_id"),
                provider_code=sa.bindparam("u_provider_code"),
                failed_at=sa.bindparam("u_failed_at", type_=messages.c.failed_at.type),
                expired_at=sa.bindparam("u_expired_at", type_=messages.c.expired_at.type),
            ),
            updates,
        )
        conn.execute(message_attempts.insert(), attempts)
    return outcome
