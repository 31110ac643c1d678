"""Tables of the events feature: behaviour, orders and the product catalogue.

Indexes serve the segment engine's two questions: "how many X events did each contact have in a
window" (``ix_events_ws_name_at``, covering contact_id) and "what did this contact do" (by contact).
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

Money = sa.Numeric(14, 2, asdecimal=False)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("properties", Json, nullable=False, default=dict),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    # The sender's id for de-duplication (Segment's messageId).
    sa.Column("message_id", sa.String(200)),
    sa.Column("source", sa.String(50)),  # web, app, api, import, sms, social
    sa.UniqueConstraint("workspace_id", "message_id"),
    sa.Index("ix_events_ws_name_at", "workspace_id", "name", "occurred_at", "contact_id"),
    sa.Index("ix_events_contact_at", "contact_id", "occurred_at"),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("sku", sa.String(100), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("category", sa.String(200)),
    sa.Column("price", Money),
    sa.Column("currency", sa.String(3)),
    sa.Column("url", sa.String(1000)),
    sa.Column("attributes", Json, nullable=False, default=dict),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "sku"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column("placed_at", UTCDateTime, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total", Money, nullable=False),
    sa.Column("status", sa.String(30), nullable=False, default="placed"),
    sa.Column("attributes", Json, nullable=False, default=dict),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "external_id"),
    sa.Index("ix_orders_contact_at", "contact_id", "placed_at"),
    sa.Index("ix_orders_ws_at", "workspace_id", "placed_at", "contact_id"),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("product_id", sa.ForeignKey("products.id")),
    sa.Column("sku", sa.String(100), nullable=False),
    sa.Column("name", sa.String(300)),
    sa.Column("category", sa.String(200)),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),
    sa.Index("ix_order_items_order", "order_id"),
    sa.Index("ix_order_items_ws_sku", "workspace_id", "sku"),
    sa.Index("ix_order_items_ws_category", "workspace_id", "category"),
)
