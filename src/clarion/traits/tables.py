"""Tables of the traits feature.

One row per (contact, trait name) holding the latest value, numeric or text. The indexes end in
``contact_id`` so a segment condition such as "churn_risk > 0.7" is answered from the index alone.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import UTCDateTime

contact_traits = sa.Table(
    "contact_traits",
    metadata,
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("value_num", sa.Float),
    sa.Column("value_text", sa.String(500)),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    # Which computation produced the value ("rfm", "kmeans", "import", ...) and its version.
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("model_version", sa.String(100), nullable=False),
    sa.Index("ix_contact_traits_ws_name_num", "workspace_id", "name", "value_num", "contact_id"),
    sa.Index("ix_contact_traits_ws_name_text", "workspace_id", "name", "value_text", "contact_id"),
)
