"""Tables of the delivery feature: routes, the outbox (``messages``), attempts and leases.

``messages`` is the work queue. One row per (campaign, contact), enforced by the database, is
what makes a re-run of the planner or a restarted worker unable to send a second campaign
message to anybody. The dispatcher claims rows by moving them from ``queued`` to ``sending`` with
its worker id and a claim token; a row left in ``sending`` by a dead worker is what "uncertain"
means.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

Money = sa.Numeric(14, 4, asdecimal=False)

#: The predicates of the outbox's partial indexes. A query uses such an index only when its own
#: WHERE clause states the predicate with the same literal values (SQLite cannot see through
#: a bound parameter, nor PostgreSQL through a generic plan): see :func:`status_is`.
QUEUED = "status = 'queued'"
#: States of a message that has not reached its outcome (the campaign is not finished).
OPEN_STATES = ("queued", "sending", "submitted")
#: Messages that still wait for an outcome (uncertain ones may yet get a receipt). Written with
#: ORs: SQLite proves that ``status = 'sending'`` implies an OR of terms, not an IN list.
OPEN = "status = 'queued' OR status = 'sending' OR status = 'submitted' OR status = 'uncertain'"

routes = sa.Table(
    "routes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("connector", sa.String(100), nullable=False),
    # Empty lists mean "any".
    sa.Column("countries", Json, nullable=False, default=list),
    sa.Column("prefixes", Json, nullable=False, default=list),
    sa.Column("carriers", Json, nullable=False, default=list),
    sa.Column("priority", sa.Integer, nullable=False, default=100),
    sa.Column("price_per_part", Money, nullable=False, default=0),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)

#: The queued rows by send_at, and the transactional lane's; claims name them on SQLite
#: (``INDEXED BY``: see ``clarion.db.engine._SQLiteHintCompiler``).
DUE_INDEX = "ix_messages_due"
LANE_DUE_INDEX = "ix_messages_lane_due"

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # workspace_id, variant_id and route_id carry no foreign key: they are copied from rows the
    # planner has just read, and three referential checks per row cost a third of the bulk
    # insert on PostgreSQL. campaign_id and contact_id keep theirs (deletes cascade).
    sa.Column("workspace_id", BigId, nullable=False),
    # NULL campaign: a message sent through the send API (clarion.sending); NULL contact: sent
    # to an address that belongs to no contact.
    sa.Column("campaign_id", sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=True),
    sa.Column("variant_id", BigId),
    sa.Column("holdout", sa.Boolean, nullable=False, default=False),
    # holdout, queued, sending, submitted, delivered, failed, expired, cancelled, uncertain
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("destination", sa.String(320)),
    sa.Column("route_id", BigId),
    sa.Column("send_at", UTCDateTime, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("encoding", sa.String(10)),
    sa.Column("parts", sa.Integer, nullable=False, default=0),
    sa.Column("cost", Money, nullable=False, default=0),
    sa.Column("provider_id", sa.String(100)),
    sa.Column("provider_code", sa.String(50)),
    sa.Column("worker_id", sa.String(100)),
    sa.Column("claim_token", sa.String(40)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("uncertain", sa.Boolean, nullable=False, default=False),
    sa.Column("queued_at", UTCDateTime, nullable=False),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("submitted_at", UTCDateTime),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("failed_at", UTCDateTime),
    sa.Column("expired_at", UTCDateTime),
    sa.Column("cancelled_at", UTCDateTime),
    # -- the send API (clarion.sending, migration 0010_sending) --------------------------------
    # "bulk" (campaigns, marketing sends) or "transactional": the worker claims the
    # transactional lane first and on its own, so a large campaign never delays it.
    sa.Column("lane", sa.String(20), nullable=False, server_default="bulk"),
    sa.Column("kind", sa.String(20)),  # transactional | marketing; NULL for campaign rows
    sa.Column("purpose", sa.String(50)),  # consent purpose of a send-API message
    sa.Column("source", sa.String(100)),  # api, journey:<id>, inbound, ...
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("request_hash", sa.String(64)),  # what the idempotency key was first used for
    sa.Column("callback_url", sa.String(2000)),
    sa.Column("sender", sa.String(20)),
    sa.Column("template", sa.String(200)),
    sa.Column("validity_s", sa.Integer),  # NULL: the campaign's
    sa.Column("valid_until", UTCDateTime),  # send_at + validity: expired if not delivered by then
    sa.Column("meta", Json),  # the caller's metadata, echoed in status webhooks
    sa.UniqueConstraint("campaign_id", "contact_id"),
    # Partial indexes (migration 0021): a row is rewritten about three times (claimed,
    # submitted, delivered), never as a HOT update because ``status`` is indexed, so each
    # rewrite adds an entry to every index whose predicate the new version meets. A finished
    # message is in none of these three; a queued one in two.
    sa.Index(
        DUE_INDEX,
        "send_at",
        postgresql_where=sa.text(QUEUED),
        sqlite_where=sa.text(QUEUED),
    ),
    sa.Index(
        LANE_DUE_INDEX,
        "send_at",
        postgresql_where=sa.text(f"{QUEUED} AND lane = 'transactional'"),
        sqlite_where=sa.text(f"{QUEUED} AND lane = 'transactional'"),
    ),
    sa.Index(
        "ix_messages_open",
        "status",
        "campaign_id",
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    ),
    sa.Index(
        "ix_messages_workspace_id_idempotency_key",
        "workspace_id",
        "idempotency_key",
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    ),
)

message_attempts = sa.Table(
    "message_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # No foreign key (migration 0022): its check key-share locked the message for each of
    # the two attempt rows every message writes. Deleting a message deletes its attempts by
    # a trigger on ``messages``.
    sa.Column("message_id", BigId, nullable=False),
    sa.Column("campaign_id", sa.BigInteger, nullable=True),  # NULL: a send-API message
    # No foreign key (migration 0021): copied from the message's route; the check took a key
    # share lock on the same routes row for every attempt row of every concurrent batch.
    sa.Column("route_id", BigId),
    sa.Column("worker_id", sa.String(100)),
    # submitted, failed_permanent, failed_transient, delivered, undelivered, expired, uncertain
    sa.Column("result", sa.String(30), nullable=False),
    sa.Column("provider_id", sa.String(100)),
    sa.Column("provider_code", sa.String(50)),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_message_attempts_message", "message_id"),
    sa.Index("ix_message_attempts_campaign_at", "campaign_id", "at"),
    # Receipts are matched to messages through the provider id of any of their parts.
    # Partial: half the rows (delivered, failed) carry no provider id (migration 0021).
    sa.Index(
        "ix_message_attempts_provider_id",
        "provider_id",
        postgresql_where=sa.text("provider_id IS NOT NULL"),
        sqlite_where=sa.text("provider_id IS NOT NULL"),
    ),
)

worker_leases = sa.Table(
    "worker_leases",
    metadata,
    # "worker:<id>" for a worker's liveness, "connector:<name>" for a connector's binds.
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("info", Json, nullable=False, default=dict),
)


def _checked_states(states: tuple[str, ...]) -> str:
    """Return the states as SQL literals, refusing anything but identifiers (they are inlined)."""
    for s in states:
        if not s.isidentifier():
            raise ValueError(f"not a message state: {s!r}")
    return ", ".join(f"'{s}'" for s in states)


def status_is(*states: str) -> sa.ColumnElement[bool]:
    """Return ``messages.status = 'x'`` (ORed for several) with the states as literals.

    A bound parameter would hide the value from the planners, and the outbox's partial
    indexes (``ix_messages_due``, ``ix_messages_open``) would never be chosen.
    """
    _checked_states(states)
    return sa.or_(*(messages.c.status == sa.literal_column(f"'{s}'") for s in states))


def status_check(*states: str) -> sa.ColumnElement[bool]:
    """Return ``messages.status`` in ``states`` as a check on rows a statement finds by id,
    never as a way to find them.

    Each rewrite of an outbox row leaves its old version's entries in the partial status
    indexes until VACUUM (a campaign of a million rows leaves a million before the sweep
    comes), and a state the statistics call rare ('sending', 'submitted') led PostgreSQL to
    read a batch's rows through those indexes, every dead entry included, and then to join
    them to the batch's values by a nested loop: 0.7 s for 1,000 ids at the 300,000th message
    of a campaign. ``status || ''`` is in no index, so the primary key is the only way in.
    """
    _checked_states(states)
    as_text = messages.c.status.concat(sa.literal_column("''"))
    return sa.or_(*(as_text == sa.literal_column(f"'{s}'") for s in states))


def status_check_sql(alias: str, *states: str) -> str:
    """Return :func:`status_check` as SQL text for the table aliased ``alias``."""
    if not alias.isidentifier():
        raise ValueError(f"not an alias: {alias!r}")
    return f"({alias}.status || '') IN ({_checked_states(states)})"
