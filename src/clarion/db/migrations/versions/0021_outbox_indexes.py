"""outbox: partial indexes on messages, no route foreign key on attempts

Each message row is rewritten about three times while it is sent (claimed, submitted,
delivered). ``status`` is indexed, so none of those is a HOT update and each one added an entry
to all seven indexes of ``messages``. The status indexes become partial: the due index holds
queued rows only, ``ix_messages_open`` the rows that still wait for something, the
idempotency index the send-API rows that have a key. ``ix_messages_lane_status_send_at`` and
``ix_messages_campaign_status`` are replaced by them. Attempts lose the foreign key on
``route_id`` (every attempt row of every batch key-share locked the same routes row) and keep
their provider ids indexed only where there is one.

Revision ID: 0021_outbox_indexes
Revises: 0020_merge_session2
Create Date: 2026-11-23 01:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0021_outbox_indexes"
down_revision: str | Sequence[str] | None = "0020_merge_session2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "status = 'queued'"
OPEN = "status = 'queued' OR status = 'sending' OR status = 'submitted' OR status = 'uncertain'"


def _where(text: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(text), "sqlite_where": sa.text(text)}


def upgrade() -> None:
    for name in (
        "ix_messages_due",
        "ix_messages_campaign_status",
        "ix_messages_lane_status_send_at",
        "ix_messages_workspace_id_idempotency_key",
    ):
        op.drop_index(name, table_name="messages")
    op.create_index("ix_messages_due", "messages", ["send_at"], **_where(QUEUED))
    op.create_index(
        "ix_messages_lane_due",
        "messages",
        ["send_at"],
        **_where(f"{QUEUED} AND lane = 'transactional'"),
    )
    op.create_index("ix_messages_open", "messages", ["status", "campaign_id"], **_where(OPEN))
    op.create_index(
        "ix_messages_workspace_id_idempotency_key",
        "messages",
        ["workspace_id", "idempotency_key"],
        unique=True,
        **_where("idempotency_key IS NOT NULL"),
    )
    op.drop_index("ix_message_attempts_provider_id", table_name="message_attempts")
    op.create_index(
        "ix_message_attempts_provider_id",
        "message_attempts",
        ["provider_id"],
        **_where("provider_id IS NOT NULL"),
    )
    with op.batch_alter_table("message_attempts") as batch:
        batch.drop_constraint("fk_message_attempts_route_id_routes", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("message_attempts") as batch:
        batch.create_foreign_key(
            "fk_message_attempts_route_id_routes", "routes", ["route_id"], ["id"]
        )
    op.drop_index("ix_message_attempts_provider_id", table_name="message_attempts")
    op.create_index("ix_message_attempts_provider_id", "message_attempts", ["provider_id"])
    for name in (
        "ix_messages_due",
        "ix_messages_lane_due",
        "ix_messages_open",
        "ix_messages_workspace_id_idempotency_key",
    ):
        op.drop_index(name, table_name="messages")
    op.create_index("ix_messages_due", "messages", ["status", "send_at"])
    op.create_index("ix_messages_campaign_status", "messages", ["campaign_id", "status"])
    op.create_index("ix_messages_lane_status_send_at", "messages", ["lane", "status", "send_at"])
    op.create_index(
        "ix_messages_workspace_id_idempotency_key",
        "messages",
        ["workspace_id", "idempotency_key"],
        unique=True,
    )
