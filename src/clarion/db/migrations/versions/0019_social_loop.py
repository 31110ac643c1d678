"""social loop: link codes, the ingest cursor, social feedback

Revision ID: 0019_social_loop
Revises: 0018_social
Create Date: 2026-11-22 23:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, UTCDateTime

revision: str = "0019_social_loop"
down_revision: str | Sequence[str] | None = "0018_social"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "social_link_codes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=True),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("activity_row_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "code"),
    )
    op.create_index("ix_social_link_codes_contact", "social_link_codes", ["contact_id", "status"])
    op.create_table(
        "social_ingest_cursor",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("last_id", BigId, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "social_feedback",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("activity_row_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("author_handle", sa.String(length=200), nullable=False),
        sa.Column("post_id", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.String(length=10), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_row_id"),
    )
    op.create_index("ix_social_feedback_ws_at", "social_feedback", ["workspace_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_social_feedback_ws_at", table_name="social_feedback")
    op.drop_table("social_feedback")
    op.drop_table("social_ingest_cursor")
    op.drop_index("ix_social_link_codes_contact", table_name="social_link_codes")
    op.drop_table("social_link_codes")
