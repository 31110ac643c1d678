"""Tables of the consent feature.

``consent_ledger`` is append-only: nothing updates or deletes its rows. ``consent_state`` holds the
latest entry per (contact, channel, purpose); it is derived from the ledger by the service function
that appends, in the same transaction, so segments and the planner read one row instead of scanning
history. ``rebuild_state`` recomputes it from the ledger alone.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, UTCDateTime

consent_ledger = sa.Table(
    "consent_ledger",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),  # sms, email, social
    sa.Column("purpose", sa.String(20), nullable=False),  # marketing, transactional
    sa.Column("status", sa.String(20), nullable=False),  # opted_in, opted_out, pending
    sa.Column("source", sa.String(100), nullable=False),  # import, form, keyword, api, ...
    sa.Column("proof", sa.Text),  # the form text, the reply received, ...
    sa.Column("soft_opt_in", sa.Boolean, nullable=False, default=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Index("ix_consent_ledger_contact", "contact_id", "channel", "purpose", "occurred_at"),
)

consent_state = sa.Table(
    "consent_state",
    metadata,
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("purpose", sa.String(20), primary_key=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("soft_opt_in", sa.Boolean, nullable=False, default=False),
    sa.Column("ledger_id", sa.ForeignKey("consent_ledger.id"), nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Index("ix_consent_state_ws", "workspace_id", "channel", "purpose", "status"),
)
