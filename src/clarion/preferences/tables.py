"""Tables of the preferences feature: the per-workspace key that signs preference links.

A key of its own per workspace (not the process secret) so links in messages sent months ago
keep working across restarts and machines, and one workspace's key cannot sign another's links.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import UTCDateTime

preference_keys = sa.Table(
    "preference_keys",
    metadata,
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
