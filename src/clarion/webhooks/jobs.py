"""The webhook jobs the delivery worker runs: collect status changes, send due deliveries.

Both are safe with several workers: the collector locks its cursor row for a pass, the sender
claims deliveries with a conditional UPDATE and a lease (see ``clarion.delivery.hooks``).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.delivery.hooks import periodic
from clarion.webhooks.collector import collect
from clarion.webhooks.sender import send_due


@periodic("webhooks.collect", every_s=0.5)
def collect_job(engine: Engine, worker_id: str) -> int:
    """Queue deliveries for the status changes logged since the last pass."""
    return collect(engine)


@periodic("webhooks.send", every_s=0.5)
def send_job(engine: Engine, worker_id: str) -> int:
    """Send one batch of due deliveries; return how many were tried."""
    return sum(send_due(engine, worker_id).values())
