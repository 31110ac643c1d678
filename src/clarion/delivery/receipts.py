"""Match delivery receipts to messages by provider id and apply them in bulk.

A receipt names the provider's id of one part. Each submitted part has an attempt row carrying
that id and the route it went by, so one indexed query maps a batch of receipts to messages;
a late receipt from a route the message has since left is ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.channels.base import Receipt
from clarion.db.sql import in_values
from clarion.delivery.bulk import db_time, update_by_id
from clarion.delivery.outcomes import Failure, fail_or_failover
from clarion.delivery.tables import message_attempts, messages

DELIVERED = "DELIVRD"
OPEN_STATES = ("submitted", "uncertain")


def apply_receipts(
    conn: sa.Connection, receipts: Sequence[Receipt], *, now: datetime
) -> Counter[str]:
    """Apply final receipts: delivered, or failed and moved on per the failover policy.

    Return counts: ``delivered``, ``unmatched``, and what failover did with the failures.
    """
    final = [r for r in receipts if r.final]
    out: Counter[str] = Counter()
    if not final:
        return out
    ids = sorted({r.provider_id for r in final})
    matched: dict[str, int] = {}
    for start in range(0, len(ids), 5000):
        rows = conn.execute(
            sa.select(message_attempts.c.provider_id, message_attempts.c.message_id)
            .join(messages, messages.c.id == message_attempts.c.message_id)
            .where(
                in_values(conn, message_attempts.c.provider_id, ids[start : start + 5000]),
                message_attempts.c.result == "submitted",
                messages.c.route_id == message_attempts.c.route_id,
                messages.c.status.in_(OPEN_STATES),
            )
        )
        matched.update({r.provider_id: int(r.message_id) for r in rows})
    delivered: dict[int, datetime] = {}
    failures: dict[int, Failure] = {}
    for r in final:
        mid = matched.get(r.provider_id)
        if mid is None:
            out["unmatched"] += 1
        elif r.state == DELIVERED:
            delivered.setdefault(mid, r.done_at or now)
        else:
            cause = "expired" if r.state == "EXPIRED" else "receipt"
            failures[mid] = Failure(mid, cause, f"{r.state}:{r.error or ''}".rstrip(":"))
    # A message is delivered only if none of its parts failed.
    for mid in failures:
        delivered.pop(mid, None)
    if delivered:
        times: dict[datetime, Any] = {}
        n = update_by_id(
            conn,
            "messages",
            "status = 'delivered', delivered_at = v.at",
            "t.status IN ('submitted', 'uncertain')",
            [("id", "bigint"), ("at", "timestamptz")],
            [(m, times.setdefault(at, db_time(conn, at))) for m, at in delivered.items()],
        )
        out["delivered"] += n
        conn.execute(
            message_attempts.insert().from_select(
                ["message_id", "campaign_id", "route_id", "result", "at"],
                sa.select(
                    messages.c.id,
                    messages.c.campaign_id,
                    messages.c.route_id,
                    sa.literal("delivered"),
                    sa.literal(now, type_=message_attempts.c.at.type),
                ).where(in_values(conn, messages.c.id, list(delivered))),
            )
        )
    out.update(fail_or_failover(conn, list(failures.values()), now=now, expect=OPEN_STATES))
    return out
