"""Analytics' periodic job in the delivery worker: fold new attempts into route health."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.analytics.route_health import refresh
from clarion.delivery.hooks import periodic


@periodic("route_health", every_s=30.0)
def refresh_route_health(engine: Engine, worker_id: str) -> int:
    """Update the hourly route-health counters (safe when several workers run it)."""
    return refresh(engine)
