"""smpp: connectors

Revision ID: 0006_smpp
Revises: 0001_foundation
Create Date: 2026-11-22 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0006_smpp"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smpp_connectors",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.String(length=16), nullable=False),
        sa.Column("password", sa.String(length=9), nullable=False),
        sa.Column("system_type", sa.String(length=13), server_default="", nullable=False),
        sa.Column("bind_mode", sa.String(length=24), server_default="transceiver", nullable=False),
        sa.Column("binds", sa.Integer(), server_default="1", nullable=False),
        sa.Column("window", sa.Integer(), server_default="64", nullable=False),
        sa.Column("throughput", sa.Float(), server_default="0", nullable=False),
        sa.Column("concatenation", sa.String(length=10), server_default="udh", nullable=False),
        sa.Column("udh_ref_bits", sa.Integer(), server_default="8", nullable=False),
        sa.Column("registered_delivery", sa.Integer(), server_default="1", nullable=False),
        sa.Column("source_addr", sa.String(length=21), server_default="", nullable=False),
        sa.Column("source_ton", sa.Integer(), nullable=True),
        sa.Column("source_npi", sa.Integer(), nullable=True),
        sa.Column("default_data_coding", sa.Integer(), server_default="0", nullable=False),
        sa.Column("submit_id_format", sa.String(length=10), server_default="text", nullable=False),
        sa.Column("receipt_id_format", sa.String(length=10), server_default="text", nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_smpp_connectors_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smpp_connectors")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_smpp_connectors_workspace_id_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("smpp_connectors")
