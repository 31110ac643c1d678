"""inbound: received messages, keywords, settings, opt-in requests, conversations, preference keys

Revision ID: 0013_inbound
Revises: 0009_merge_features
Create Date: 2026-11-22 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0013_inbound"
down_revision: str | Sequence[str] | None = "0009_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_contact", ["contact_id"], unique=False)
    op.create_table(
        "inbound_settings",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_inbound_settings_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_inbound_settings")),
    )
    op.create_table(
        "preference_keys",
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_preference_keys_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_preference_keys")),
    )
    op.create_table(
        "conversations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("our_number", sa.String(length=40), nullable=True),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("last_message_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_conversations_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_conversations_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "workspace_id", "contact_id", name=op.f("uq_conversations_workspace_id_contact_id")
        ),
    )
    op.create_index(
        "ix_conversations_ws_last",
        "conversations",
        ["workspace_id", "status", "last_message_at"],
        unique=False,
    )
    op.create_table(
        "inbound_keywords",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("keyword", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_inbound_keywords_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_inbound_keywords_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_keywords")),
        sa.UniqueConstraint(
            "workspace_id", "keyword", name=op.f("uq_inbound_keywords_workspace_id_keyword")
        ),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("sender", sa.String(length=40), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("intent", sa.String(length=20), nullable=True),
        sa.Column("keyword", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("prompt_message_id", BigId, nullable=True),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("actions", Json, nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_inbound_messages_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_inbound_messages_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "workspace_id",
            "source",
            "external_id",
            name=op.f("uq_inbound_messages_workspace_id_source_external_id"),
        ),
    )
    op.create_index(
        "ix_inbound_messages_contact",
        "inbound_messages",
        ["contact_id", "received_at"],
        unique=False,
    )
    op.create_index(
        "ix_inbound_messages_status", "inbound_messages", ["status", "received_at"], unique=False
    )
    op.create_table(
        "conversation_messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("conversation_id", BigId, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("inbound_id", BigId, nullable=True),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_conversation_messages_inbound_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
        sa.UniqueConstraint("inbound_id", name=op.f("uq_conversation_messages_inbound_id")),
    )
    op.create_index(
        "ix_conversation_messages_conv",
        "conversation_messages",
        ["conversation_id", "at"],
        unique=False,
    )
    op.create_table(
        "optin_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("keyword_id", BigId, nullable=True),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("proof", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_optin_requests_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["inbound_keywords.id"],
            name=op.f("fk_optin_requests_keyword_id_inbound_keywords"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_optin_requests_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optin_requests")),
    )
    op.create_index(
        "ix_optin_requests_contact", "optin_requests", ["contact_id", "status"], unique=False
    )
    op.create_index(
        "ix_optin_requests_due", "optin_requests", ["status", "expires_at"], unique=False
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_contact")
    op.drop_table("optin_requests")
    op.drop_table("conversation_messages")
    op.drop_table("inbound_messages")
    op.drop_table("inbound_keywords")
    op.drop_table("conversations")
    op.drop_table("preference_keys")
    op.drop_table("inbound_settings")
