"""Per-message fallback policies and their timers (campaign policies live on the campaign)."""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

message_fallbacks = sa.Table(
    "message_fallbacks",
    metadata,
    sa.Column(
        "message_id",
        BigId,
        sa.ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("workspace_id", BigId, nullable=False),
    # A FallbackPolicy document (clarion.delivery.fallback.policy).
    sa.Column("policy", Json, nullable=False),
    # When the "not delivered within after_s" timer fires; NULL once fired or if there is none,
    # so the due-timer scan only ever sees pending timers.
    sa.Column("due_at", UTCDateTime),
    sa.Column("fired_at", UTCDateTime),
    # fallback, delivered, no_destination, no_route: what the policy ended up doing.
    sa.Column("outcome", sa.String(30)),
    sa.Index("ix_message_fallbacks_due", "due_at"),
)
