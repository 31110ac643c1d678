"""segments, segment snapshots and their members, contact traits

Revision ID: 0007_segments
Revises: 0001_foundation
Create Date: 2026-11-22 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0007_segments"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("rules", Json, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_segments_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_segments_workspace_id_name")),
    )
    op.create_table(
        "segment_snapshots",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("rules", Json, nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_snapshots_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_segment_snapshots_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_snapshots")),
    )
    with op.batch_alter_table("segment_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segment_snapshots_segment_id"), ["segment_id"], unique=False
        )
    op.create_table(
        "segment_snapshot_members",
        sa.Column("snapshot_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_segment_snapshot_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["segment_snapshots.id"],
            name=op.f("fk_segment_snapshot_members_snapshot_id_segment_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "contact_id", name=op.f("pk_segment_snapshot_members")
        ),
    )
    op.create_table(
        "contact_traits",
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.Column("value_text", sa.String(length=500), nullable=True),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_traits_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_contact_traits_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("contact_id", "name", name=op.f("pk_contact_traits")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_ws_contact_at_total",
            ["workspace_id", "contact_id", "placed_at", "total"],
            unique=False,
        )
    with op.batch_alter_table("contact_traits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_traits_ws_name_num",
            ["workspace_id", "name", "value_num", "contact_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_contact_traits_ws_name_text",
            ["workspace_id", "name", "value_text", "contact_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_traits", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_traits_ws_name_text")
        batch_op.drop_index("ix_contact_traits_ws_name_num")
    op.drop_table("contact_traits")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_ws_contact_at_total")
    op.drop_table("segment_snapshot_members")
    with op.batch_alter_table("segment_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_snapshots_segment_id"))
    op.drop_table("segment_snapshots")
    op.drop_table("segments")
