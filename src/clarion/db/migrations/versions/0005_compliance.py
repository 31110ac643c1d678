"""compliance: suppression lists, workspace policy overrides and terms, send log

Revision ID: 0005_compliance
Revises: 0001_foundation
Create Date: 2026-11-22 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0005_compliance"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compliance_suppressions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_compliance_suppressions_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_suppressions")),
        sa.UniqueConstraint(
            "workspace_id",
            "channel",
            "value",
            name=op.f("uq_compliance_suppressions_workspace_id_channel_value"),
        ),
    )
    op.create_index(
        "ix_compliance_suppressions_value",
        "compliance_suppressions",
        ["workspace_id", "value"],
    )
    op.create_table(
        "compliance_policy_overrides",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_compliance_policy_overrides_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "jurisdiction", name=op.f("pk_compliance_policy_overrides")
        ),
    )
    op.create_table(
        "compliance_terms",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_compliance_terms_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_terms")),
        sa.UniqueConstraint(
            "workspace_id",
            "jurisdiction",
            "term",
            name=op.f("uq_compliance_terms_workspace_id_jurisdiction_term"),
        ),
    )
    op.create_table(
        "compliance_send_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("message_ref", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_compliance_send_log_workspace_id_workspaces"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_compliance_send_log_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_send_log")),
    )
    op.create_index(
        "ix_compliance_send_log_count",
        "compliance_send_log",
        ["workspace_id", "contact_id", "channel", "purpose", "sent_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_compliance_send_log_count", table_name="compliance_send_log")
    op.drop_table("compliance_send_log")
    op.drop_table("compliance_terms")
    op.drop_table("compliance_policy_overrides")
    op.drop_index("ix_compliance_suppressions_value", table_name="compliance_suppressions")
    op.drop_table("compliance_suppressions")
