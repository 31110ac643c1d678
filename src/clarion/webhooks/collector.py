"""Turn message status changes into webhook deliveries, by cursors over append-only logs.

Every status change of a message after it was queued already writes a row to
``message_attempts`` (append-only, in the same transaction as the change): submitted,
delivered, failed, expired, uncertain, cancelled (every cancel path logs it). The
collector reads that log past a cursor instead of hooking every place a status changes, so the
send path pays nothing for webhooks. ``queued`` is read the same way from the outbox itself:
a message row is inserted once, queued, with ``queued_at``, so a second cursor over
``messages.id`` sees each new message once (and reads nothing but ids and times when no
endpoint wants ``queued``).

Sequence gaps: on PostgreSQL ids are handed out before commit, so a transaction that
committed later may hold a smaller id than one already read. The cursor therefore only moves
over ids that are contiguous, or older than ``GAP_GRACE_S`` (a write transaction that old has
committed or rolled back). Rows past a gap are read again next pass; deliveries are unique
per (target, message, event, time), so a re-read adds nothing. The cursor row is locked for the
pass (``FOR UPDATE``; SQLite's single writer does the same), so two workers never collect at
once. The same holds for the ``messages`` cursor.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from clarion.db.engine import read_only
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.delivery.tables import message_attempts, messages
from clarion.webhooks.tables import webhook_cursor, webhook_deliveries, webhook_endpoints

CURSOR = "message_attempts"
QUEUED_CURSOR = "messages_queued"
#: With no endpoint for ``queued``, the messages cursor jumps to the newest message at most this
#: often (each jump is a write: on SQLite it takes the write lock).
IDLE_JUMP_S = 10.0
BATCH = 20_000
GAP_GRACE_S = 30.0
_FAILED = {
    "failed_permanent",
    "failed_transient",
    "connector_down",
    "undelivered",
    "not_delivered_in_time",
}


def event_of(attempt: Any) -> str | None:
    """Return the event (without prefix) an attempt row stands for, given its message's state.

    A failed attempt is ``failed`` (or ``expired``) only when it ended the message: the
    message is in that state since exactly that moment. Otherwise the message went on to
    another route, a retry or a fallback channel, and the event is ``retrying``.
    """
    result = attempt.result
    if result in ("submitted", "delivered", "uncertain", "cancelled"):
        return str(result)
    if result == "expired":
        final = attempt.status == "expired" and attempt.expired_at == attempt.at
        return "expired" if final else "retrying"
    if result in _FAILED:
        final = attempt.status == "failed" and attempt.failed_at == attempt.at
        return "failed" if final else "retrying"
    return None


def _wants_campaigns(events: Sequence[str]) -> bool:
    return any(e == "*" or e.startswith("campaign_message.") for e in events)


def _wants(events: Sequence[str], event: str, *, campaigns: bool) -> bool:
    """Return whether an endpoint's subscription takes ``event`` (of campaign messages?)."""
    prefix = "campaign_message" if campaigns else "message"
    return "*" in events or f"{prefix}.{event}" in events


def advance(last_id: int, rows: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """Return how far the cursor may move over ``rows`` (id, at) read past ``last_id``."""
    horizon = now - timedelta(seconds=GAP_GRACE_S)
    for rid, at in rows:
        if rid != last_id + 1 and at > horizon:
            break
        last_id = rid
    return last_id


def _insert_ignore(conn: sa.Connection) -> Any:
    ins = (
        postgresql.insert(webhook_deliveries)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(webhook_deliveries)
    )
    return ins.on_conflict_do_nothing()


def _lock_cursor(conn: sa.Connection, now: datetime, name: str = CURSOR) -> int:
    q = sa.select(webhook_cursor.c.last_id).where(webhook_cursor.c.name == name)
    found = conn.execute(q.with_for_update()).scalar()
    if found is not None:
        return int(found)
    ins = (
        postgresql.insert(webhook_cursor)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(webhook_cursor)
    )
    conn.execute(ins.values(name=name, last_id=0, updated_at=now).on_conflict_do_nothing())
    return int(conn.execute(q.with_for_update()).scalar_one())


def _behind(engine: Engine, newest_of: Any, name: str) -> bool:
    """Return whether the log has ids past cursor ``name`` (read without taking a lock)."""
    # Look before locking: on SQLite the locking transaction takes the write lock, and this
    # runs twice a second in every worker.
    with read_only(engine) as conn:
        newest = conn.execute(sa.select(sa.func.max(newest_of))).scalar()
        seen_to = conn.execute(
            sa.select(webhook_cursor.c.last_id).where(webhook_cursor.c.name == name)
        ).scalar()
    return newest is not None and (seen_to is None or int(newest) > int(seen_to))


def _move(conn: sa.Connection, name: str, last: int, moved: int, now: datetime) -> None:
    if moved != last:
        conn.execute(
            webhook_cursor.update()
            .where(webhook_cursor.c.name == name)
            .values(last_id=moved, updated_at=now)
        )


def collect(engine: Engine, *, batch: int = BATCH, now: datetime | None = None) -> int:
    """Read the attempt log and the new messages past their cursors, queue the deliveries
    they call for; return how many deliveries were queued."""
    now = now or utcnow()
    # New messages first: their ``queued`` deliveries then precede (by id, the sender's order
    # among equally due ones) the ``submitted`` a message may already have in the same pass.
    queued = _collect_queued(engine, batch, now)
    return queued + _collect_attempts(engine, batch, now)


def _collect_attempts(engine: Engine, batch: int, now: datetime) -> int:
    if not _behind(engine, message_attempts.c.id, CURSOR):
        return 0
    with engine.begin() as conn:
        last = _lock_cursor(conn, now)
        top, moved = _window(conn, last, batch, now)
        if top is None:
            return 0
        queued = _queue(conn, last, top, now)
        _move(conn, CURSOR, last, moved, now)
        return queued


def _window(conn: sa.Connection, last: int, batch: int, now: datetime) -> tuple[int | None, int]:
    """Return the newest id of the next ``batch`` attempt rows past ``last`` (None if there
    are none) and how far the cursor may move over them, as :func:`advance` says.

    Computed in the database: reading the window's ids and times into Python to walk them
    cost the worker more than the rest of the collector during a campaign (each row's time
    parsed, twice a second, for every attempt of every message). A row stops the cursor
    when it does not follow its predecessor and is younger than ``GAP_GRACE_S``.
    """
    a = message_attempts
    rows = sa.select(a.c.id, a.c.at).where(a.c.id > last).order_by(a.c.id).limit(batch)
    w = rows.subquery()
    prev = sa.func.coalesce(sa.func.lag(w.c.id).over(order_by=w.c.id), last)
    horizon = now - timedelta(seconds=GAP_GRACE_S)
    stops = sa.and_(w.c.id != prev + 1, w.c.at > horizon)
    marked = sa.select(w.c.id, sa.case((stops, w.c.id)).label("stop")).subquery()
    top, stop = conn.execute(sa.select(sa.func.max(marked.c.id), sa.func.min(marked.c.stop))).one()
    if top is None:
        return None, last
    if stop is None:
        return int(top), int(top)
    before = conn.execute(sa.select(sa.func.max(a.c.id)).where(a.c.id > last, a.c.id < stop))
    return int(top), int(before.scalar() or last)


def _queued_listeners(conn: sa.Connection) -> list[Any]:
    """Return the active endpoints that take a ``queued`` event of some kind."""
    return [
        e
        for e in conn.execute(
            sa.select(webhook_endpoints).where(webhook_endpoints.c.active.is_(True))
        ).all()
        if _wants(e.events, "queued", campaigns=False) or _wants(e.events, "queued", campaigns=True)
    ]


def _collect_queued(engine: Engine, batch: int, now: datetime) -> int:
    """Queue ``*.queued`` deliveries for messages inserted past the ``messages`` cursor."""
    with read_only(engine) as conn:  # look first, as for the attempt log
        newest = conn.execute(sa.select(sa.func.max(messages.c.id))).scalar()
        cursor = conn.execute(
            sa.select(webhook_cursor.c.last_id, webhook_cursor.c.updated_at).where(
                webhook_cursor.c.name == QUEUED_CURSOR
            )
        ).first()
        idle = not _queued_listeners(conn)
    if newest is None or (cursor is not None and int(newest) <= int(cursor.last_id)):
        return 0
    if idle and cursor is not None and cursor.updated_at > now - timedelta(seconds=IDLE_JUMP_S):
        return 0  # nobody listens: jump ahead now and then, not on every pass of a campaign
    with engine.begin() as conn:
        last = _lock_cursor(conn, now, QUEUED_CURSOR)
        endpoints = _queued_listeners(conn)
        if not endpoints:
            # Nobody listens: jump to the newest message rather than walk a campaign's million.
            top = conn.execute(sa.select(sa.func.max(messages.c.id))).scalar()
            _move(conn, QUEUED_CURSOR, last, int(top or last), now)
            return 0
        seen = conn.execute(
            sa.select(messages.c.id, messages.c.queued_at)
            .where(messages.c.id > last)
            .order_by(messages.c.id)
            .limit(batch)
        ).all()
        if not seen:
            return 0
        queued = _queue_new(conn, endpoints, last, int(seen[-1][0]), now)
        _move(conn, QUEUED_CURSOR, last, advance(last, [(int(i), at) for i, at in seen], now), now)
        return queued


def _queue_new(
    conn: sa.Connection, endpoints: Sequence[Any], last: int, top: int, now: datetime
) -> int:
    """Queue the ``queued`` event of messages ``last < id <= top`` for the endpoints wanting it.

    Per-message callback URLs do not get it: the send API's answer already said ``queued``.
    """
    by_ws: dict[int, list[Any]] = {}
    for e in endpoints:
        by_ws.setdefault(int(e.workspace_id), []).append(e)
    m = messages
    # A holdout row is a campaign's control group: written, never queued. A row older than
    # every endpoint is nobody's event (after a jump an endpoint may face a long backlog).
    interest = sa.and_(
        in_values(conn, m.c.workspace_id, sorted(by_ws)),
        m.c.holdout.is_(False),
        m.c.queued_at >= min(e.created_at for e in endpoints),
    )
    if not any(_wants(e.events, "queued", campaigns=True) for e in endpoints):
        interest = sa.and_(interest, m.c.campaign_id.is_(None))
    rows = conn.execute(
        sa.select(
            m.c.id.label("message_id"),
            m.c.queued_at.label("at"),
            sa.null().label("provider_code"),
            sa.null().label("provider_id"),
            m.c.workspace_id,
            m.c.campaign_id,
            m.c.contact_id,
            m.c.channel,
            m.c.destination,
            m.c.kind,
            m.c.parts,
            m.c.idempotency_key,
            m.c.source,
            m.c.meta,
        )
        .where(m.c.id > last, m.c.id <= top, interest)
        .order_by(m.c.id)
    ).all()
    out: list[dict[str, Any]] = []
    for r in rows:
        campaigns = r.campaign_id is not None
        kind = f"{'campaign_message' if campaigns else 'message'}.queued"
        for e in by_ws.get(int(r.workspace_id), ()):
            if _wants(e.events, "queued", campaigns=campaigns) and e.created_at <= r.at:
                out.append(_delivery(r, kind, "queued", f"endpoint:{e.id}", int(e.id), e.url, now))
    return _insert(conn, out)


def _delivery(
    r: Any, kind: str, event: str, target: str, endpoint_id: int | None, url: str, now: datetime
) -> dict[str, Any]:
    event_id = uuid.uuid4().hex
    return {
        "workspace_id": int(r.workspace_id),
        "endpoint_id": endpoint_id,
        "target": target,
        "url": url,
        "message_id": int(r.message_id),
        "event": kind,
        "event_at": r.at,
        "event_id": event_id,
        "payload": _payload(r, kind, event, event_id),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _insert(conn: sa.Connection, out: list[dict[str, Any]]) -> int:
    if not out:
        return 0
    # RETURNING counts what was new: rows a re-read already queued are skipped by the index.
    res = conn.execute(_insert_ignore(conn).returning(webhook_deliveries.c.id), out)
    return len(res.all())


def _queue(conn: sa.Connection, last: int, top: int, now: datetime) -> int:
    endpoints = conn.execute(
        sa.select(webhook_endpoints).where(webhook_endpoints.c.active.is_(True))
    ).all()
    by_ws: dict[int, list[Any]] = {}
    for e in endpoints:
        by_ws.setdefault(int(e.workspace_id), []).append(e)
    a, m = message_attempts, messages
    interest: sa.ColumnElement[bool] = m.c.callback_url.is_not(None)
    if by_ws:
        endpoint_interest = in_values(conn, m.c.workspace_id, sorted(by_ws))
        interest = sa.or_(interest, endpoint_interest)
    if not any(_wants_campaigns(e.events) for e in endpoints):
        # Nobody listens to campaign messages, and only send-API messages carry a callback
        # URL: skip a campaign's attempt rows before the join (a 1M campaign's 1.8 million
        # were each joined to their message, twice a second, to find no callback).
        interest = sa.and_(interest, a.c.campaign_id.is_(None))
    rows = conn.execute(
        sa.select(
            a.c.id.label("attempt_id"),
            a.c.result,
            a.c.provider_code,
            a.c.provider_id,
            a.c.at,
            m.c.id.label("message_id"),
            m.c.workspace_id,
            m.c.campaign_id,
            m.c.contact_id,
            m.c.status,
            m.c.channel,
            m.c.destination,
            m.c.kind,
            m.c.parts,
            m.c.failed_at,
            m.c.expired_at,
            m.c.callback_url,
            m.c.idempotency_key,
            m.c.source,
            m.c.meta,
        )
        .join(m, m.c.id == a.c.message_id)
        .where(a.c.id > last, a.c.id <= top, interest)
        .order_by(a.c.id)
    ).all()
    out: list[dict[str, Any]] = []
    keys: set[tuple[str, int, str, datetime]] = set()
    for r in rows:
        event = event_of(r)
        if event is None:
            continue
        prefix = "message" if r.campaign_id is None else "campaign_message"
        kind = f"{prefix}.{event}"
        targets: list[tuple[str, int | None, str]] = []
        if r.callback_url:
            targets.append(("callback", None, r.callback_url))
        for e in by_ws.get(int(r.workspace_id), ()):
            wanted = "*" in e.events or kind in e.events
            if wanted and e.created_at <= r.at:
                targets.append((f"endpoint:{e.id}", int(e.id), e.url))
        for target, endpoint_id, url in targets:
            key = (target, int(r.message_id), kind, r.at)
            if key in keys:  # one attempt row per part of a submitted message
                continue
            keys.add(key)
            out.append(_delivery(r, kind, event, target, endpoint_id, url, now))
    return _insert(conn, out)


def _payload(r: Any, kind: str, event: str, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "created_at": r.at.isoformat(),
        "data": {
            "message_id": int(r.message_id),
            "status": event,
            "channel": r.channel,
            "to": r.destination,
            "kind": r.kind,
            "campaign_id": r.campaign_id,
            "contact_id": r.contact_id,
            "parts": int(r.parts or 0),
            "code": r.provider_code,
            "provider_id": r.provider_id,
            "idempotency_key": r.idempotency_key,
            "source": r.source,
            "metadata": r.meta or {},
        },
    }
