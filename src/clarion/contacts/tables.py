"""Tables of the contacts feature.

Phone, email and external id are each unique within a workspace (NULLs allowed many times), which
is what makes "one profile per person" enforceable by the database rather than by hope.

The contact's workspace and a tag's contact are kept by triggers rather than foreign keys, which
PostgreSQL checked row by row with a lock on the row named (see migration 0023).
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # Checked per INSERT statement by a trigger, not a foreign key (migration 0023).
    sa.Column("workspace_id", BigId, nullable=False),
    sa.Column("external_id", sa.String(200)),
    sa.Column("first_name", sa.String(200)),
    sa.Column("last_name", sa.String(200)),
    sa.Column("phone", sa.String(20)),  # E.164
    sa.Column("phone_type", sa.String(32)),  # mobile, fixed_line, fixed_line_or_mobile, voip, ...
    sa.Column("phone_region", sa.String(2)),  # ISO 3166-1 alpha-2 of the number
    sa.Column("phone_carrier", sa.String(100)),  # original allocation, not live after porting
    sa.Column("phone_timezone", sa.String(64)),  # the number's zone when unambiguous
    sa.Column("email", sa.String(320)),
    sa.Column("locale", sa.String(20)),
    sa.Column("country", sa.String(2)),
    sa.Column("timezone", sa.String(64)),
    sa.Column("attributes", Json, nullable=False, default=dict),
    sa.Column("source", sa.String(100)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "phone"),
    sa.UniqueConstraint("workspace_id", "email"),
    sa.UniqueConstraint("workspace_id", "external_id"),
    sa.Index("ix_contacts_ws_country", "workspace_id", "country"),
)

contact_tags = sa.Table(
    "contact_tags",
    metadata,
    # Deleted with its contact by a trigger on contacts, not a foreign key (migration 0023).
    sa.Column("contact_id", BigId, primary_key=True),
    sa.Column("tag", sa.String(100), primary_key=True),
    sa.Index("ix_contact_tags_tag", "tag", "contact_id"),
)

contact_identities = sa.Table(
    "contact_identities",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column(
        "contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    # "crm", "shopify", ... for external ids; "weibo", "x", "mastodon", "wechat" for social handles
    sa.Column("namespace", sa.String(50), nullable=False),
    sa.Column("value", sa.String(300), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "namespace", "value"),
)

import_jobs = sa.Table(
    "import_jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # contacts, events, orders
    sa.Column("filename", sa.String(500), nullable=False),
    sa.Column("file_sha256", sa.String(64)),
    sa.Column("status", sa.String(20), nullable=False),  # running, completed, failed
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("report", Json, nullable=False, default=dict),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
)
