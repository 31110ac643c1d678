"""Tables of the webhooks feature: endpoints, the delivery outbox and the collector's cursor.

A delivery is a row before it is a request: the collector writes one per (target, message,
event) in the same pass that reads the status change, and the sender works them off with
retries, so a crash or restart loses no event and the receiver can be told "replay".
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    # event types, e.g. ["message.delivered", "message.failed"]; ["*"] for every one
    sa.Column("events", Json, nullable=False),
    sa.Column("description", sa.String(200)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

webhook_signing_keys = sa.Table(
    "webhook_signing_keys",
    metadata,
    # The secret that signs deliveries to per-message callback URLs (one per workspace).
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", BigId, nullable=False),
    sa.Column(
        "endpoint_id", sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=True
    ),
    # "endpoint:<id>" or "callback": with the event it makes a delivery unique, so the
    # collector re-reading a window of attempts never queues an event twice.
    sa.Column("target", sa.String(40), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("message_id", BigId, nullable=False),
    sa.Column("event", sa.String(50), nullable=False),
    sa.Column("event_at", UTCDateTime, nullable=False),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("payload", Json, nullable=False),
    # pending, sending, delivered, dead
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(100)),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.String(500)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    sa.UniqueConstraint("target", "message_id", "event", "event_at"),
    sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_message_id", "message_id"),
)

webhook_cursor = sa.Table(
    "webhook_cursor",
    metadata,
    # How far the collector has read ``message_attempts`` (every id at or below is handled).
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
