"""Periodic work of the send API inside the worker: give up messages whose validity passed.

A send-API message carries its own validity (``valid_until`` = due time + validity). One that
is still queued then (a connector was down) is expired without being sent: an OTP delivered
an hour late is worse than none. One submitted but never confirmed by then is expired too,
not resent on another route, so a late receipt is the only way it can still count as
delivered. Campaign messages keep the campaign's own expiry (``dispatcher.expire_overdue``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.db.types import utcnow
from clarion.delivery.hooks import periodic
from clarion.delivery.tables import message_attempts, messages, status_check

BATCH = 1000


@periodic("sending.expire", every_s=1.0)
def expire_job(engine: Engine, worker_id: str) -> int:
    """Run :func:`expire_overdue` (the worker's periodic-job contract)."""
    return expire_overdue(engine, worker_id=worker_id)


def expire_overdue(engine: Engine, *, worker_id: str | None = None, limit: int = BATCH) -> int:
    """Expire send-API messages past ``valid_until`` that are queued or submitted; return how
    many. Each is moved by a conditional UPDATE, so two workers never expire one twice."""
    now = utcnow()
    done = 0
    for status, code in (("queued", "VALIDITY_PASSED"), ("submitted", "NO_RECEIPT")):
        with engine.begin() as conn:
            due = (
                sa.select(messages.c.id)
                .where(
                    messages.c.status == status,
                    messages.c.campaign_id.is_(None),
                    messages.c.valid_until < now,
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = [
                int(r.id)
                for r in conn.execute(
                    messages.update()
                    .where(messages.c.id.in_(due.scalar_subquery()), status_check(status))
                    .values(status="expired", expired_at=now, provider_code=code)
                    .returning(messages.c.id)
                )
            ]
            if ids:
                conn.execute(
                    message_attempts.insert(),
                    [
                        {
                            "message_id": i,
                            "campaign_id": None,
                            "worker_id": worker_id,
                            "result": "expired",
                            "provider_code": code,
                            "at": now,
                        }
                        for i in ids
                    ],
                )
            done += len(ids)
    return done
