"""Tables of the audit feature."""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    # "apikey:12" or "cli:alice" or "system:worker"
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("object_type", sa.String(50), nullable=False),
    sa.Column("object_id", sa.String(100)),
    sa.Column("details", Json, nullable=False, default=dict),
    sa.Index("ix_audit_log_ws_at", "workspace_id", "at"),
    sa.Index("ix_audit_log_object", "object_type", "object_id"),
)
