"""Take in MO messages: store each as received, before anything is decided about it.

Every way an MO arrives (SMPP through the worker, an HTTP provider's callback, ``POST
/v1/inbound``) ends in :func:`store`, one bulk insert. Handling is a separate step
(``service.handle``), so an exception while handling one message leaves it ``received`` for the
retry job instead of losing it. A gateway's own message id, when given, makes a retried
hand-over a no-op (``ON CONFLICT DO NOTHING`` on (workspace, source, external id)).

The workspace of an MO is the one whose route or SMPP connector has the connector's name
(unique across the installation in practice); a worker serving one workspace passes it. An MO
no workspace claims is kept ``unrouted`` rather than dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.channels.base import Inbound
from clarion.contacts.phones import PhoneInfo, parse_phone
from clarion.contacts.service import workspace_region
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.inbound.tables import inbound_messages
from clarion.workspaces.tables import workspaces

MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class InboundIn:
    """One MO as handed to Clarion, whatever the transport."""

    sender: str
    to: str
    text: str
    received_at: datetime | None = None
    connector: str | None = None
    source: str = "smpp"  # smpp, http, api
    external_id: str | None = None

    @classmethod
    def from_channel(cls, mo: Inbound, source: str = "smpp") -> InboundIn:
        """Return the MO a channel reported, as stored."""
        return cls(mo.sender, mo.to, mo.text, mo.received_at, mo.connector, source)


def validate(items: Sequence[InboundIn]) -> None:
    """Raise ValidationFailed naming the row and field of the first unusable MO."""
    for i, m in enumerate(items):
        for name in ("sender", "to"):
            value = getattr(m, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 40:
                raise ValidationFailed(
                    f"{name} must be 1-40 characters", row=i, field=name, value=value
                )
        if not isinstance(m.text, str) or len(m.text) > MAX_TEXT:
            raise ValidationFailed(
                f"text must be at most {MAX_TEXT} characters", row=i, field="text"
            )
        if m.received_at is not None and m.received_at.tzinfo is None:
            raise ValidationFailed(
                "received_at needs a time zone",
                row=i,
                field="received_at",
                value=str(m.received_at),
            )


def workspace_for_connector(conn: sa.Connection, connector: str | None) -> int | None:
    """Return the one workspace using ``connector`` (a route's or an SMPP connector's name)."""
    from clarion.channels.smpp.tables import smpp_connectors
    from clarion.delivery.tables import routes

    if connector is None:
        only = conn.execute(sa.select(workspaces.c.id).limit(2)).scalars().all()
        return int(only[0]) if len(only) == 1 else None
    found = set(
        conn.execute(
            sa.select(routes.c.workspace_id).where(routes.c.connector == connector)
        ).scalars()
    )
    found |= set(
        conn.execute(
            sa.select(smpp_connectors.c.workspace_id).where(smpp_connectors.c.name == connector)
        ).scalars()
    )
    return int(found.pop()) if len(found) == 1 else None


def store(
    conn: sa.Connection, items: Sequence[InboundIn], *, workspace_id: int | None = None
) -> list[int]:
    """Insert ``items`` as received MOs; return the ids of the new rows (duplicates skipped)."""
    validate(items)
    now = utcnow()
    memo: dict[str | None, int | None] = {}
    rows: list[dict[str, Any]] = []
    for m in items:
        ws = workspace_id
        if ws is None:
            if m.connector not in memo:
                memo[m.connector] = workspace_for_connector(conn, m.connector)
            ws = memo[m.connector]
        rows.append(
            {
                "workspace_id": ws,
                "source": m.source,
                "connector": m.connector,
                "external_id": m.external_id,
                "sender": m.sender.strip(),
                "recipient": m.to.strip(),
                "text": m.text,
                "received_at": m.received_at or now,
                "status": "received" if ws is not None else "unrouted",
                "actions": {},
            }
        )
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    ids: list[int] = []
    for row in rows:  # one statement per MO: ON CONFLICT with RETURNING skips duplicates
        stmt = (
            dialect.insert(inbound_messages)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["workspace_id", "source", "external_id"])
            .returning(inbound_messages.c.id)
        )
        got = conn.execute(stmt).scalar()
        if got is not None:
            ids.append(int(got))
    return ids


def sender_phone(conn: sa.Connection, workspace_id: int, sender: str) -> PhoneInfo | None:
    """Return the sender's number, preferring a reading that matches an existing contact.

    SMPP delivers international numbers without "+" (TON 1), HTTP providers mostly with it, and
    some gateways send national numbers: try ``+digits`` and the national reading in the
    workspace's region, and take the one a contact already has, else the first valid one.
    """
    raw = sender.strip()
    candidates: list[PhoneInfo] = []
    if raw.startswith("+"):
        readings = [parse_phone(raw, None)]
    else:
        readings = [
            parse_phone("+" + raw, None),
            parse_phone(raw, workspace_region(conn, workspace_id)),
        ]
    for got in readings:
        if isinstance(got, PhoneInfo) and got not in candidates:
            candidates.append(got)
    if len(candidates) > 1:
        known = set(
            conn.execute(
                sa.select(contacts.c.phone).where(
                    contacts.c.workspace_id == workspace_id,
                    contacts.c.phone.in_([c.e164 for c in candidates]),
                )
            ).scalars()
        )
        for c in candidates:
            if c.e164 in known:
                return c
    return candidates[0] if candidates else None
