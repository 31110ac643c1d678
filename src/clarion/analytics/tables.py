"""Tables of the analytics feature: route health counters per hour.

``route_health_hourly`` is filled incrementally from ``message_attempts`` (past a cursor on its
id), so the router's "is this route healthy?" reads a few dozen counter rows instead of scanning
an hour of attempts on every dispatch batch.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, UTCDateTime

route_health_hourly = sa.Table(
    "route_health_hourly",
    metadata,
    sa.Column("workspace_id", BigId, primary_key=True),
    sa.Column("route_id", BigId, primary_key=True),
    # Upper-case ISO region and lower-case carrier name; "" when unknown (part of the key).
    sa.Column("country", sa.String(8), primary_key=True),
    sa.Column("carrier", sa.String(100), primary_key=True),
    sa.Column("hour", UTCDateTime, primary_key=True),
    sa.Column("submitted", sa.Integer, nullable=False, default=0),
    sa.Column("delivered", sa.Integer, nullable=False, default=0),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    # Sum of (receipt time - submit time) over delivered messages, for the mean latency.
    sa.Column("latency_s_sum", sa.Float, nullable=False, default=0),
    sa.Column("latency_n", sa.Integer, nullable=False, default=0),
    sa.Index("ix_route_health_hourly_hour", "workspace_id", "hour"),
)

route_health_cursor = sa.Table(
    "route_health_cursor",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("last_attempt_id", BigId, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
