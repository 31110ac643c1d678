"""Connectors of every kind but SMPP (which keeps its typed table, ``smpp_connectors``).

A provider's settings differ per kind (a Twilio account SID, a Kannel host and dlr-mask, an SMTP
relay), so they are a JSON document checked by the kind's own settings model
(:mod:`clarion.channels.registry`). Secrets (tokens, passwords, signing keys) sit in a column of
their own so that no listing, log line or audit entry ever has to filter them out of a mixed
document. ``callback_key`` is the unguessable path component of the connector's callback URLs
(``/v1/callbacks/<callback_key>/...``): it names the connector (and so its workspace) and is
the only authentication of providers that do not sign their callbacks.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

connectors = sa.Table(
    "connectors",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("settings", Json, nullable=False),
    sa.Column("secrets", Json, nullable=False),
    sa.Column("callback_key", sa.String(64), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
    sa.UniqueConstraint("callback_key"),
)
