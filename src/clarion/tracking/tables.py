"""Tables of the tracking feature: short links, clicks, attribution rules and conversions.

A link belongs to one recipient of one campaign (``campaign_id``, ``contact_id``), which is what
ties a click, and through it an order, to the message that carried it: messages are unique per
(campaign, contact). Clicks copy the campaign and contact so reports group them without a join.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

Money = sa.Numeric(14, 4, asdecimal=False)

links = sa.Table(
    "links",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", BigId, nullable=False),
    # base62, >= 47 bits from ``secrets``; unique across every workspace (the path has no ws).
    sa.Column("code", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    # No foreign keys: links are minted in bulk by the planner beside the outbox rows, and the
    # redirect must answer for links whose campaign has since been deleted (404 by expiry).
    sa.Column("campaign_id", BigId),
    sa.Column("contact_id", BigId),
    sa.Column("variant_id", BigId),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.UniqueConstraint("code", name="uq_links_code"),
    sa.Index("ix_links_campaign_contact", "campaign_id", "contact_id"),
)

link_clicks = sa.Table(
    "link_clicks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("link_id", BigId, nullable=False),
    sa.Column("workspace_id", BigId, nullable=False),
    sa.Column("campaign_id", BigId),
    sa.Column("contact_id", BigId),
    sa.Column("clicked_at", UTCDateTime, nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("user_agent", sa.String(500)),
    sa.Column("ip", sa.String(64)),
    # Link previews and prefetches are kept (they show a link was delivered) but never count as
    # clicks: ``filtered`` names why, e.g. "bot:facebookexternalhit", "head", "prefetch".
    sa.Column("filtered", sa.String(60)),
    sa.Index("ix_link_clicks_campaign", "campaign_id", "contact_id"),
    sa.Index("ix_link_clicks_contact_at", "contact_id", "clicked_at"),
)

tracking_settings = sa.Table(
    "tracking_settings",
    metadata,
    sa.Column("workspace_id", BigId, primary_key=True),
    # e.g. "https://go.example.com/l": short links are "<link_base_url>/<code>".
    sa.Column("link_base_url", sa.String(200), nullable=False),
    sa.Column("link_ttl_s", sa.Integer),
    sa.Column("click_window_s", sa.Integer, nullable=False),
    sa.Column("delivery_window_s", sa.Integer, nullable=False),
    sa.Column("goal_events", Json, nullable=False, default=list),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

campaign_attribution = sa.Table(
    "campaign_attribution",
    metadata,
    sa.Column("campaign_id", BigId, primary_key=True),
    sa.Column("workspace_id", BigId, nullable=False),
    # NULL: the workspace's rule applies.
    sa.Column("click_window_s", sa.Integer),
    sa.Column("delivery_window_s", sa.Integer),
    sa.Column("goal_events", Json),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

conversions = sa.Table(
    "conversions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", BigId, nullable=False),
    # "order" (orders.id) or "event" (events.id): each converts at most once.
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("source_id", BigId, nullable=False),
    sa.Column("campaign_id", BigId, nullable=False),
    sa.Column("message_id", BigId, nullable=False),
    sa.Column("contact_id", BigId, nullable=False),
    sa.Column("variant_id", BigId),
    sa.Column("attributed_by", sa.String(10), nullable=False),  # click, delivery
    sa.Column("touch_at", UTCDateTime, nullable=False),
    sa.Column("converted_at", UTCDateTime, nullable=False),
    sa.Column("revenue", Money, nullable=False, default=0),
    sa.Column("currency", sa.String(3)),
    sa.UniqueConstraint("source", "source_id", name="uq_conversions_source"),
    sa.Index("ix_conversions_campaign", "campaign_id", "variant_id"),
)
