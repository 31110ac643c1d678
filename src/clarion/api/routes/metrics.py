"""``/metrics``: Prometheus exposition of delivery (queue depth, sends, receipts, connectors).

Unauthenticated like ``/healthz``: it carries counts, never content or numbers. Restrict it at
the network edge if counts are sensitive.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from clarion.api.deps import EngineDep
from clarion.delivery.metrics import render

router = APIRouter(tags=["health"])


@router.get("/metrics")
def metrics(engine: EngineDep) -> Response:
    """Return this process's counters and the database-wide gauges."""
    return Response(render(engine), media_type=CONTENT_TYPE_LATEST)
