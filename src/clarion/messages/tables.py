"""Tables of the messages feature: saved templates."""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),  # sms, email, social
    sa.Column("purpose", sa.String(50), nullable=False),  # marketing, transactional, ...
    sa.Column("body", sa.Text, nullable=False),  # the default variant
    # {"zh-CN": "...", "de": "..."}: locale variants, chosen with fallback zh-CN -> zh -> body
    sa.Column("variants", Json, nullable=False, default=dict),
    # lint warnings found when last saved (errors are never saved)
    sa.Column("warnings", Json, nullable=False, default=list),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "channel", "name"),
)
