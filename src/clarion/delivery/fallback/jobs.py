"""The fallback timer as a periodic job in every delivery worker (see clarion.delivery.hooks)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.db.types import utcnow
from clarion.delivery.fallback.service import fire_due
from clarion.delivery.hooks import periodic

#: How often due timers are looked at; a fallback fires at most this late.
EVERY_S = 2.0


@periodic("fallback_timers", EVERY_S)
def fallback_timers(engine: Engine, worker_id: str) -> int:
    """Fire due fallback timers in short transactions of at most 500 messages."""
    total = 0
    for _ in range(20):  # bounded: a period never turns into an endless loop
        with engine.begin() as conn:
            done = fire_due(conn, now=utcnow(), limit=500)
        n = sum(done.values())
        total += n
        if n < 500:
            break
    return total
