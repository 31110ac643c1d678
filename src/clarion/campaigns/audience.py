"""A campaign's audience as SQL, read in keyset chunks with what planning needs per contact.

The audience (segments, tags, a static list, minus excluded segments) is one WHERE clause on
``contacts``; each chunk walks the primary key from the last id seen, so a million contacts cost
two hundred index range reads, not a scan per chunk. Each row carries whether the contact is
already in the outbox (a probe of the (campaign, contact) unique index) so a re-run or a resumed
plan skips it without a second query.
"""

from __future__ import annotations

import importlib
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from clarion.campaigns.render import contact_columns
from clarion.campaigns.service import Campaign
from clarion.compliance.engine import join_consent
from clarion.contacts.tables import contact_identities, contact_tags, contacts
from clarion.db.prepared import Prepared
from clarion.db.sql import in_values
from clarion.delivery.tables import messages
from clarion.errors import ValidationFailed

#: Columns every chunk reads after the contact's own: the consent the engine judges.
CONSENT_COLUMNS = ("consent_status", "soft_opt_in", "opt_out_source")
#: Columns every chunk reads: address, routing, zone and locale.
BASE_COLUMNS = (
    "id",
    "phone",
    "email",
    "country",
    "phone_region",
    "phone_carrier",
    "timezone",
    "phone_timezone",
    "locale",
)


def audience_ids(conn: sa.Connection, camp: Campaign) -> sa.Select[Any]:
    """Return a SELECT of the audience's contact ids (segments, tags, static list)."""
    aud = camp.audience
    ws = camp.workspace_id
    parts: list[sa.ColumnElement[bool]] = []
    # Unary plus on SQLite: it must not answer "workspace = ?" from an index on workspace_id,
    # which would make every chunk read the whole workspace instead of walking the primary key.
    # (PostgreSQL estimates better without it.)
    same_ws = (
        sa.literal_column("+contacts.workspace_id") == ws
        if conn.dialect.name == "sqlite"
        else contacts.c.workspace_id == ws
    )
    if aud.get("all"):
        parts.append(sa.true())
    if aud.get("tags"):
        parts.append(
            contacts.c.id.in_(
                sa.select(contact_tags.c.contact_id).where(contact_tags.c.tag.in_(aud["tags"]))
            )
        )
    if aud.get("contact_ids"):
        parts.append(contacts.c.id.in_(aud["contact_ids"]))
    segment_ids = aud.get("segment_ids") or []
    exclude_ids = aud.get("exclude_segment_ids") or []
    query = _segments_query()
    if (segment_ids or exclude_ids) and query is None:
        raise ValidationFailed(
            "segments are not available in this installation",
            field="audience.segment_ids",
            value=segment_ids,
        )
    if segment_ids and query is not None:
        parts.append(contacts.c.id.in_(query(conn, ws, segment_ids)))
    q = sa.select(contacts.c.id).where(same_ws, sa.or_(*parts))
    if exclude_ids and query is not None:
        q = q.where(contacts.c.id.not_in(query(conn, ws, exclude_ids)))
    return q


def _segments_query() -> Callable[..., sa.Select[Any]] | None:
    """Return ``clarion.segments.query.audience_query`` (None where segments are absent)."""
    try:
        module = importlib.import_module("clarion.segments.query")
    except ImportError:
        return None
    fn = getattr(module, "audience_query", None)
    return fn if callable(fn) else None


class ChunkReader:
    """Read the audience chunk by chunk with the columns the campaign's texts use."""

    def __init__(self, conn: sa.Connection, camp: Campaign, used: frozenset[str]) -> None:
        self.camp = camp
        self.template_columns = contact_columns(used)
        self.needs_attributes = any(u == "attributes" or u.startswith("attributes.") for u in used)
        self.needs_tags = bool({"tags", "contact.tags", "contact"} & used)
        self.needs_identities = bool({"contact.identities", "contact"} & used)
        self.best_hour = camp.schedule.get("kind") == "best_hour"
        self.audience = audience_ids(conn, camp)
        self.names = list(dict.fromkeys([*BASE_COLUMNS, *self.template_columns]))
        #: a chunk's rows: plain named tuples (a SQLAlchemy Row's attribute access costs ten
        #: times a tuple's, and the planner reads a dozen attributes of every row)
        fields = [*self.names, "existing", "attributes", "best_hour", *CONSENT_COLUMNS]
        row_type = namedtuple("AudienceRow", fields)  # type: ignore[misc]
        self._make: Callable[[Iterable[Any]], Any] = row_type._make
        self._chunk = Prepared(self.query(sa.bindparam("after"), sa.bindparam("size")))

    def query(self, after: Any, size: Any) -> sa.Select[Any]:
        """Return the SELECT of the next ``size`` audience contacts after id ``after``."""
        # A correlated lookup on the (campaign, contact) unique index: one probe per contact,
        # whatever the statistics say about the growing outbox.
        existing = (
            sa.select(messages.c.id)
            .where(messages.c.campaign_id == self.camp.id, messages.c.contact_id == contacts.c.id)
            .scalar_subquery()
        )
        cols: list[Any] = [contacts.c[n] for n in self.names]
        cols.append(existing.label("existing"))
        # Attributes are decoded only when a text reads them (or a filter needs the currency).
        cols.append(
            contacts.c.attributes if self.needs_attributes else sa.null().label("attributes")
        )
        joined: Any = contacts
        if self.best_hour:
            from clarion.traits.tables import contact_traits as tr

            joined = joined.outerjoin(
                tr, sa.and_(tr.c.contact_id == contacts.c.id, tr.c.name == "best_hour")
            )
            cols.append(tr.c.value_num.label("best_hour"))
        else:
            cols.append(sa.null().label("best_hour"))
        # The consent the compliance engine judges, read here rather than by a query of its own
        # (a probe of consent_state's primary key per contact, in the walk the chunk makes).
        joined, consent = join_consent(
            joined, contacts.c.id, self.camp.channel, self.camp.purpose, after=after
        )
        cols += consent
        # The audience's conditions apply to this select directly, so the database walks the
        # primary key from ``after`` and stops after ``size`` rows (an IN over a limited subquery
        # made SQLite scan every contact for every chunk).
        where = self.audience.whereclause
        return (
            sa.select(*cols)
            .select_from(joined)
            .where(where if where is not None else sa.true())
            .where(contacts.c.id > after)
            .order_by(contacts.c.id)
            .limit(size)
        )

    def read(self, conn: sa.Connection, after: int, size: int) -> Sequence[Any]:
        """Return the next chunk of rows (empty when the audience is exhausted)."""
        return list(map(self._make, self._chunk.all(conn, {"after": after, "size": size})))

    def extras(
        self, conn: sa.Connection, ids: Sequence[int]
    ) -> tuple[dict[int, list[str]], dict[int, dict[str, str]]]:
        """Return the chunk's tags and identities by contact, when the texts read them."""
        tags: dict[int, list[str]] = defaultdict(list)
        idents: dict[int, dict[str, str]] = defaultdict(dict)
        if self.needs_tags and ids:
            rows: Iterable[Any] = conn.execute(
                sa.select(contact_tags.c.contact_id, contact_tags.c.tag)
                .where(in_values(conn, contact_tags.c.contact_id, list(ids)))
                .order_by(contact_tags.c.contact_id, contact_tags.c.tag)
            )
            for cid, tag in rows:
                tags[int(cid)].append(tag)
        if self.needs_identities and ids:
            t = contact_identities
            rows = conn.execute(
                sa.select(t.c.contact_id, t.c.namespace, t.c.value)
                .where(in_values(conn, t.c.contact_id, list(ids)))
                .order_by(t.c.id)
            )
            for cid, ns, value in rows:
                idents[int(cid)][ns] = value
        return tags, idents
