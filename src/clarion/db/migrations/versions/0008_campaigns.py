"""campaigns and delivery: campaigns, variants, exclusions, routes, messages, attempts, leases

Revision ID: 0008_campaigns
Revises: 0001_foundation
Create Date: 2026-11-22 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0008_campaigns"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_leases",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("info", Json, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_worker_leases")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("goal_description", sa.Text(), nullable=True),
        sa.Column("goal_metric", sa.String(length=50), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("audience", Json, nullable=False),
        sa.Column("schedule", Json, nullable=False),
        sa.Column("holdout_bp", sa.Integer(), nullable=False),
        sa.Column("throughput_per_s", sa.Integer(), nullable=True),
        sa.Column("frequency_cap", Json, nullable=True),
        sa.Column("validity_s", sa.Integer(), nullable=False),
        sa.Column("budget_cap", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=True),
        sa.Column("failover", Json, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("launched_at", UTCDateTime(), nullable=True),
        sa.Column("planned_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status_reason", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_campaigns_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_ws_status", ["workspace_id", "status"], unique=False)

    op.create_table(
        "routes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("countries", Json, nullable=False),
        sa.Column("prefixes", Json, nullable=False),
        sa.Column("carriers", Json, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "price_per_part", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_routes_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_routes_workspace_id_name")),
    )
    op.create_table(
        "campaign_exclusions",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_exclusions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_exclusions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "contact_id", "reason", name=op.f("pk_campaign_exclusions")
        ),
    )
    with op.batch_alter_table("campaign_exclusions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_exclusions_reason", ["campaign_id", "reason"], unique=False
        )

    op.create_table(
        "campaign_variants",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("split_bp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_variants_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_variants")),
        sa.UniqueConstraint(
            "campaign_id", "name", name=op.f("uq_campaign_variants_campaign_id_name")
        ),
    )
    op.create_table(
        "messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("variant_id", BigId, nullable=True),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("destination", sa.String(length=320), nullable=True),
        sa.Column("route_id", BigId, nullable=True),
        sa.Column("send_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("encoding", sa.String(length=10), nullable=True),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.Column("provider_code", sa.String(length=50), nullable=True),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.Column("expired_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_messages_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_messages_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", name=op.f("uq_messages_campaign_id_contact_id")
        ),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index("ix_messages_due", ["status", "send_at"], unique=False)

    op.create_table(
        "message_attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("route_id", BigId, nullable=True),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("result", sa.String(length=30), nullable=False),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.Column("provider_code", sa.String(length=50), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_attempts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["route_id"], ["routes.id"], name=op.f("fk_message_attempts_route_id_routes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_attempts")),
    )
    with op.batch_alter_table("message_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_attempts_campaign_at", ["campaign_id", "at"], unique=False
        )
        batch_op.create_index("ix_message_attempts_message", ["message_id"], unique=False)
        batch_op.create_index("ix_message_attempts_provider_id", ["provider_id"], unique=False)


def downgrade() -> None:
    for name in (
        "message_attempts",
        "messages",
        "campaign_variants",
        "campaign_exclusions",
        "routes",
        "campaigns",
        "worker_leases",
    ):
        op.drop_table(name)
