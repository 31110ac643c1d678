"""measurement: short links, clicks, attribution rules, conversions, route health counters

Revision ID: 0014_measurement
Revises: 0009_merge_features
Create Date: 2026-11-22 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0014_measurement"
down_revision: str | Sequence[str] | None = "0009_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_attribution",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("click_window_s", sa.Integer(), nullable=True),
        sa.Column("delivery_window_s", sa.Integer(), nullable=True),
        sa.Column("goal_events", Json, nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_attribution")),
    )
    op.create_table(
        "conversions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("source_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("variant_id", BigId, nullable=True),
        sa.Column("attributed_by", sa.String(length=10), nullable=False),
        sa.Column("touch_at", UTCDateTime(), nullable=False),
        sa.Column("converted_at", UTCDateTime(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
        sa.UniqueConstraint("source", "source_id", name="uq_conversions_source"),
    )
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversions_campaign", ["campaign_id", "variant_id"], unique=False
        )

    op.create_table(
        "link_clicks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("link_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("clicked_at", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("filtered", sa.String(length=60), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_link_clicks_campaign", ["campaign_id", "contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_link_clicks_contact_at", ["contact_id", "clicked_at"], unique=False
        )

    op.create_table(
        "links",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("variant_id", BigId, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("code", name="uq_links_code"),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_links_campaign_contact", ["campaign_id", "contact_id"], unique=False
        )

    op.create_table(
        "route_health_cursor",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("last_attempt_id", BigId, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_route_health_cursor")),
    )
    op.create_table(
        "route_health_hourly",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("route_id", BigId, nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("submitted", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("latency_s_sum", sa.Float(), nullable=False),
        sa.Column("latency_n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "route_id",
            "country",
            "carrier",
            "hour",
            name=op.f("pk_route_health_hourly"),
        ),
    )
    with op.batch_alter_table("route_health_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_route_health_hourly_hour", ["workspace_id", "hour"], unique=False)

    op.create_table(
        "tracking_settings",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("link_base_url", sa.String(length=200), nullable=False),
        sa.Column("link_ttl_s", sa.Integer(), nullable=True),
        sa.Column("click_window_s", sa.Integer(), nullable=False),
        sa.Column("delivery_window_s", sa.Integer(), nullable=False),
        sa.Column("goal_events", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_tracking_settings")),
    )


def downgrade() -> None:
    op.drop_table("route_health_cursor")
    op.drop_table("route_health_hourly")
    op.drop_table("conversions")
    op.drop_table("campaign_attribution")
    op.drop_table("tracking_settings")
    op.drop_table("link_clicks")
    op.drop_table("links")
