"""connectors of every kind (HTTP SMS providers, SMTP) and per-message fallback policies

Revision ID: 0011_connectors
Revises: 0009_merge_features
Create Date: 2026-11-22 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0011_connectors"
down_revision: str | Sequence[str] | None = "0009_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("secrets", Json, nullable=False),
        sa.Column("callback_key", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_connectors_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_connectors_workspace_id_name")),
        sa.UniqueConstraint("callback_key", name=op.f("uq_connectors_callback_key")),
    )
    op.create_table(
        "message_fallbacks",
        sa.Column("message_id", BigId, autoincrement=False, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("policy", Json, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_fallbacks_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_fallbacks")),
    )
    op.create_index(op.f("ix_message_fallbacks_due"), "message_fallbacks", ["due_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_message_fallbacks_due"), table_name="message_fallbacks")
    op.drop_table("message_fallbacks")
    op.drop_table("connectors")
