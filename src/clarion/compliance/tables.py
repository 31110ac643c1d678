"""Tables of the compliance feature.

``compliance_send_log`` is the send history frequency caps and the first-message rule count:
delivery appends a row per submitted message (:func:`clarion.compliance.history.log_sends`);
its index serves the one count query per chunk.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

compliance_suppressions = sa.Table(
    "compliance_suppressions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),  # sms, email, social, or * for all
    sa.Column("value", sa.String(320), nullable=False),  # E.164 phone or lower-cased email
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),  # manual, import, api, complaint, ...
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.UniqueConstraint("workspace_id", "channel", "value"),
    sa.Index("ix_compliance_suppressions_value", "workspace_id", "value"),
)

compliance_policy_overrides = sa.Table(
    "compliance_policy_overrides",
    metadata,
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), primary_key=True),
    # A built-in jurisdiction code (US, US-FL, CN, EU, GB, default) or * for the workspace.
    sa.Column("jurisdiction", sa.String(16), primary_key=True),
    sa.Column("settings", Json, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
)

compliance_terms = sa.Table(
    "compliance_terms",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("jurisdiction", sa.String(16), nullable=False),  # or * for every jurisdiction
    sa.Column("category", sa.String(50), nullable=False),
    sa.Column("term", sa.String(200), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),  # block or warn
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.UniqueConstraint("workspace_id", "jurisdiction", "term"),
)

compliance_send_log = sa.Table(
    "compliance_send_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # No foreign keys (migration 0022): the check key-share locked the contact and the
    # workspace for every row of every submit batch. Deleting a contact deletes its rows by
    # a trigger on ``contacts``; workspaces are never deleted.
    sa.Column("workspace_id", BigId, nullable=False),
    sa.Column("contact_id", BigId, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("campaign_id", sa.BigInteger),  # no foreign key: campaigns come later
    sa.Column("message_ref", sa.String(100)),
    sa.Index(
        "ix_compliance_send_log_count",
        "workspace_id",
        "contact_id",
        "channel",
        "purpose",
        "sent_at",
    ),
)
