"""Tables of the inbound feature: received messages, keywords, settings, opt-in requests, inbox.

``inbound_messages`` keeps every MO as received, before anything is decided about it, so a
crash or an error while handling one loses nothing: a periodic job picks up rows still in
``received`` and handles them again (handling is idempotent per row). A row's ``status`` moves
``received -> handled`` (or ``unrouted`` when no workspace owns the number it came through).
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime
from clarion.delivery.tables import messages

#: The outbox by contact: an opt-out cancels the contact's queued messages, a reply looks up the
#: last message sent to the contact, and deleting a contact cascades to its messages. Without
#: it each of those scans the whole outbox (millions of rows). Declared here, on the delivery
#: feature's table, because inbound is what needs it (migration 0013_inbound creates it); it
#: costs the planner's bulk insert about 15% on SQLite (measured on 400,000 rows).
ix_messages_contact = sa.Index("ix_messages_contact", messages.c.contact_id)

inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # NULL while unrouted: the connector names no workspace's route or connector.
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id")),
    sa.Column("source", sa.String(20), nullable=False),  # smpp, http, api
    sa.Column("connector", sa.String(100)),
    # The gateway's own id for the MO, when it has one: a retried hand-over adds nothing.
    sa.Column("external_id", sa.String(200)),
    sa.Column("sender", sa.String(40), nullable=False),  # as received
    sa.Column("phone", sa.String(20)),  # the sender in E.164, when it parses
    sa.Column("recipient", sa.String(40), nullable=False),  # our number / short code
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # received, handled, unrouted
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE")),
    # What the text was taken to mean: opt_out, opt_in, help, join, confirm, reply.
    sa.Column("intent", sa.String(20)),
    sa.Column("keyword", sa.String(100)),  # the keyword or phrase that matched
    sa.Column("language", sa.String(10)),
    # The outbound message and campaign that prompted the reply (last one sent to the number).
    sa.Column("prompt_message_id", BigId),
    sa.Column("campaign_id", BigId),
    sa.Column("actions", Json, nullable=False, default=dict),  # what handling did
    sa.Column("handled_at", UTCDateTime),
    sa.UniqueConstraint("workspace_id", "source", "external_id"),
    sa.Index("ix_inbound_messages_status", "status", "received_at"),
    sa.Index("ix_inbound_messages_contact", "contact_id", "received_at"),
)

inbound_keywords = sa.Table(
    "inbound_keywords",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("keyword", sa.String(100), nullable=False),  # normalised (see keywords.normalise)
    sa.Column("action", sa.String(20), nullable=False),  # opt_out, opt_in, help, join
    sa.Column("language", sa.String(10), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("campaign_id", sa.ForeignKey("campaigns.id", ondelete="SET NULL")),
    sa.Column("reply", sa.Text),  # the workspace's own reply text, instead of the default
    sa.Column("double_opt_in", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "keyword"),
)

inbound_settings = sa.Table(
    "inbound_settings",
    metadata,
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), primary_key=True),
    # brand, support, frequency, public_url, optin_ttl_hours, opt_out_phrases, ...
    sa.Column("settings", Json, nullable=False, default=dict),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

optin_requests = sa.Table(
    "optin_requests",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("source", sa.String(50), nullable=False),  # sms_keyword:<KEYWORD>, web_signup
    sa.Column("keyword_id", sa.ForeignKey("inbound_keywords.id", ondelete="SET NULL")),
    sa.Column("campaign_id", BigId),
    sa.Column("language", sa.String(10), nullable=False),
    sa.Column("proof", sa.Text),  # the JOIN text, or the signup form's statement
    sa.Column("status", sa.String(20), nullable=False),  # pending, confirmed, expired
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Index("ix_optin_requests_contact", "contact_id", "status"),
    sa.Index("ix_optin_requests_due", "status", "expires_at"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("our_number", sa.String(40)),  # the number they wrote to: replies go from it
    sa.Column("campaign_id", BigId),  # the campaign that prompted the latest reply
    sa.Column("status", sa.String(20), nullable=False),  # open, closed
    sa.Column("unread", sa.Integer, nullable=False, default=0),
    sa.Column("last_message_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "contact_id"),
    sa.Index("ix_conversations_ws_last", "workspace_id", "status", "last_message_at"),
)

conversation_messages = sa.Table(
    "conversation_messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id", sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("direction", sa.String(3), nullable=False),  # in, out
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("inbound_id", sa.ForeignKey("inbound_messages.id", ondelete="CASCADE")),
    sa.Column("message_id", BigId),  # the outbox row of an answer
    sa.Column("campaign_id", BigId),
    sa.Column("author", sa.String(200)),  # the actor who answered
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("inbound_id"),
    sa.Index("ix_conversation_messages_conv", "conversation_id", "at"),
)
