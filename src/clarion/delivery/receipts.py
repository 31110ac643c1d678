"""Match delivery receipts to messages by provider id and apply them in bulk.

A receipt names the provider's id of one part. Each submitted part has an attempt row carrying
that id and the route it went by, so one indexed query maps a batch of receipts to messages;
a late receipt from a route the message has since left is ignored.

A message in several parts is delivered only when every part is: a part's DELIVRD receipt marks
its attempt row ``part_delivered``, and the message becomes delivered when no part of its
current submission is still waiting. A failed part fails the whole message with that part's
code (and moves it on per the failover policy), whatever its other parts did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from clarion.channels.base import Receipt
from clarion.db.sql import in_values
from clarion.delivery.bulk import db_time, update_by_id
from clarion.delivery.outcomes import Failure, fail_or_failover, log_attempts
from clarion.delivery.tables import message_attempts, messages, status_check, status_check_sql

DELIVERED = "DELIVRD"
OPEN_STATES = ("submitted", "uncertain")


def split_known(
    conn: sa.Connection, receipts: Sequence[Receipt]
) -> tuple[list[Receipt], list[Receipt]]:
    """Split receipts into those whose provider id a submitted part carries, and the rest.

    A receipt can overtake our own bookkeeping: an SMSC may send the DLR a millisecond after
    ``submit_sm_resp``, before the worker has committed the attempt row that carries the id.
    Callers hold the rest and try again a little later instead of dropping them.
    """
    ids = sorted({r.provider_id for r in receipts})
    known: set[str] = set()
    for start in range(0, len(ids), 5000):
        known.update(
            conn.execute(
                sa.select(message_attempts.c.provider_id)
                .where(in_values(conn, message_attempts.c.provider_id, ids[start : start + 5000]))
                .distinct()
            ).scalars()
        )
    ready = [r for r in receipts if r.provider_id in known]
    early = [r for r in receipts if r.provider_id not in known]
    return ready, early


def apply_receipts(
    conn: sa.Connection, receipts: Sequence[Receipt], *, now: datetime
) -> Counter[str]:
    """Apply final receipts: delivered, or failed and moved on per the failover policy.

    Return counts: ``delivered``, ``unmatched``, and what failover did with the failures.
    """
    final = [r for r in receipts if r.final]
    return _apply(conn, final, _matches(conn, final), now=now)


def apply_or_hold(
    conn: sa.Connection, receipts: Sequence[Receipt], *, now: datetime
) -> tuple[Counter[str], list[Receipt]]:
    """Apply final receipts like :func:`apply_receipts`, but return those whose provider id no
    submitted part carries yet (see :func:`split_known`) instead of counting them unmatched.

    One query matches the batch; only the receipts it did not match are looked up again to
    tell a receipt that overtook its submit from one that matches nothing.
    """
    final = [r for r in receipts if r.final]
    matched = _matches(conn, final)
    missed = [r for r in final if r.provider_id not in matched]
    early: list[Receipt] = []
    if missed:
        _known, early = split_known(conn, missed)
        early_ids = {id(r) for r in early}
        final = [r for r in final if id(r) not in early_ids]
    return _apply(conn, final, matched, now=now), early


def _matches(conn: sa.Connection, final: Sequence[Receipt]) -> dict[str, tuple[int, int, int]]:
    """Return provider id -> (attempt, message, open parts) for the receipts' parts."""
    ids = sorted({r.provider_id for r in final})
    matched: dict[str, tuple[int, int, int]] = {}
    for start in range(0, len(ids), 5000):
        matched.update(_match(conn, ids[start : start + 5000]))
    return matched


def _apply(
    conn: sa.Connection,
    final: Sequence[Receipt],
    matched: dict[str, tuple[int, int, int]],
    *,
    now: datetime,
) -> Counter[str]:
    out: Counter[str] = Counter()
    if not final:
        return out
    delivered: dict[int, datetime] = {}
    parts_done: dict[int, set[int]] = {}
    open_parts: dict[int, int] = {}
    failures: dict[int, Failure] = {}
    for r in final:
        hit = matched.get(r.provider_id)
        if hit is None:
            out["unmatched"] += 1
            continue
        attempt_id, mid, waiting = hit
        if r.state == DELIVERED:
            parts_done.setdefault(mid, set()).add(attempt_id)
            open_parts[mid] = waiting
            at = r.done_at or now
            delivered[mid] = max(delivered.get(mid, at), at)
        else:
            cause = "expired" if r.state == "EXPIRED" else "receipt"
            failures[mid] = Failure(mid, cause, f"{r.state}:{r.error or ''}".rstrip(":"))
    # A message is delivered only if none of its parts failed and none still waits.
    for mid in failures:
        delivered.pop(mid, None)
    partial = [mid for mid in delivered if len(parts_done[mid]) < open_parts[mid]]
    if partial:
        _mark_parts(conn, [a for mid in partial for a in parts_done[mid]])
        out["parts_delivered"] += sum(len(parts_done[mid]) for mid in partial)
        for mid in partial:
            delivered.pop(mid)
    if delivered and conn.dialect.name == "postgresql":
        out["delivered"] += _deliver_pg(conn, delivered, now)
    elif delivered:
        times: dict[datetime, Any] = {}
        n = update_by_id(
            conn,
            "messages",
            "status = 'delivered', delivered_at = v.at",
            status_check_sql("t", "submitted", "uncertain"),
            [("id", "bigint"), ("at", "timestamptz")],
            [(m, times.setdefault(at, db_time(conn, at))) for m, at in delivered.items()],
        )
        out["delivered"] += n
        log_attempts(conn, in_values(conn, messages.c.id, list(delivered)), "delivered", now=now)
    out.update(fail_or_failover(conn, list(failures.values()), now=now, expect=OPEN_STATES))
    return out


#: Delivered messages on PostgreSQL: the outbox update and the ``delivered`` attempt rows in one
#: statement, the insert reading the rows the update returns (as the submit write-back does,
#: ``clarion.delivery.outcomes``) instead of finding them by id a second time. ``%(rows)s`` is a
#: JSON array of [id, delivered at]; the ids are inlined as a constant array (see update_by_id) and
#: the state is a check, not a way in (see status_check).
_DELIVERED_PG = """
WITH v AS (
    SELECT (e->>0)::bigint AS id, (e->>1)::timestamptz AS at
    FROM json_array_elements(%(rows)s::json) AS e
), upd AS (
    UPDATE messages AS t SET status = 'delivered', delivered_at = v.at
    FROM v
    WHERE t.id = ANY('{{{ids}}}'::bigint[]) AND t.id = v.id
        AND {status_open}
    RETURNING t.id, t.campaign_id, t.route_id
), attempt AS (
    INSERT INTO message_attempts (message_id, campaign_id, route_id, result, at)
    SELECT id, campaign_id, route_id, 'delivered', %(at)s FROM upd
)
SELECT count(*) FROM upd
""".replace("{status_open}", status_check_sql("t", "submitted", "uncertain"))


def delivered_pg_statement(
    delivered: dict[int, datetime], now: datetime
) -> tuple[str, dict[str, Any]]:
    """Return the PostgreSQL receipt write-back for ``delivered`` and its parameters (the
    tests read its plan)."""
    ids = ",".join(str(int(m)) for m in delivered)  # int(): nothing but digits inlined
    rows = orjson.dumps(list(delivered.items())).decode()
    return _DELIVERED_PG.replace("{{{ids}}}", "{" + ids + "}"), {"rows": rows, "at": now}


def _deliver_pg(conn: sa.Connection, delivered: dict[int, datetime], now: datetime) -> int:
    """Mark messages delivered at their receipt's time and log their attempts (PostgreSQL)."""
    sql, params = delivered_pg_statement(delivered, now)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params, prepare=False)
        got = cursor.fetchone()
        return int(got[0]) if got else 0
    finally:
        cursor.close()


def _match(conn: sa.Connection, provider_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """Return provider id -> (attempt id, message id, parts of its submission still waiting)
    for parts of open messages submitted on their current route."""
    a, m = message_attempts, messages
    sibling = message_attempts.alias("sibling")
    waiting = (
        sa.select(sa.func.count())
        .where(
            sibling.c.message_id == a.c.message_id,
            sibling.c.route_id == a.c.route_id,
            sibling.c.result == "submitted",
            sibling.c.at >= m.c.submitted_at,
        )
        .scalar_subquery()
    )
    # Counted, not taken from ``messages.parts``: a provider may split differently than the
    # planner counted, or answer one id for the whole message.
    rows = conn.execute(
        sa.select(a.c.provider_id, a.c.id, a.c.message_id, waiting.label("waiting"))
        .join(m, m.c.id == a.c.message_id)
        .where(
            in_values(conn, a.c.provider_id, provider_ids),
            a.c.result == "submitted",
            m.c.route_id == a.c.route_id,
            status_check(*OPEN_STATES),
        )
    )
    # Unpacked by position (ids and counts are ints from both drivers): by name it cost a
    # few microseconds per receipt in the worker.
    return {pid: (aid, mid, waiting) for pid, aid, mid, waiting in rows}


def _mark_parts(conn: sa.Connection, attempt_ids: list[int]) -> None:
    """Mark the attempt rows of delivered parts (a repeated receipt finds nothing to mark)."""
    conn.execute(
        message_attempts.update()
        .where(
            in_values(conn, message_attempts.c.id, sorted(attempt_ids)),
            message_attempts.c.result == "submitted",
        )
        .values(result="part_delivered")
    )
