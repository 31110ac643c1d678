"""Send history for frequency caps and the first-message rule.

The engine asks a :class:`SendHistory` how many messages each contact was sent since a moment;
the shipped implementation counts ``compliance_send_log``, which delivery fills through
:func:`log_sends` when it submits messages. Another store (delivery's own messages table) can
serve instead by implementing the same one-method protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from clarion.compliance.tables import compliance_send_log
from clarion.db.sql import in_values
from clarion.errors import ValidationFailed

#: Contacts per IN list: well under every database's parameter limit.
CHUNK = 5000


class SendHistory(Protocol):
    """Where previously SENT messages are counted."""

    def counts(
        self,
        conn: sa.Connection,
        workspace_id: int,
        contact_ids: Sequence[int],
        channel: str,
        purpose: str,
        since: datetime | None,
    ) -> dict[int, int]:
        """Return, per contact with at least one, the sends at or after ``since`` (None: ever)."""
        ...


@dataclass(frozen=True, slots=True)
class SendLogRow:
    """One submitted message, as delivery reports it."""

    workspace_id: int
    contact_id: int
    channel: str
    purpose: str
    sent_at: datetime
    campaign_id: int | None = None
    message_ref: str | None = None


class SendLogHistory:
    """:class:`SendHistory` over ``compliance_send_log``: one grouped count per chunk."""

    def counts(
        self,
        conn: sa.Connection,
        workspace_id: int,
        contact_ids: Sequence[int],
        channel: str,
        purpose: str,
        since: datetime | None,
    ) -> dict[int, int]:
        """Return, per contact with at least one, the sends at or after ``since``."""
        t = compliance_send_log
        out: dict[int, int] = {}
        ids = sorted(set(contact_ids))
        for i in range(0, len(ids), CHUNK):
            q = (
                sa.select(t.c.contact_id, sa.func.count())
                .where(
                    t.c.workspace_id == workspace_id,
                    in_values(conn, t.c.contact_id, ids[i : i + CHUNK]),
                    t.c.channel == channel,
                    t.c.purpose == purpose,
                )
                .group_by(t.c.contact_id)
            )
            if since is not None:
                q = q.where(t.c.sent_at >= since)
            out.update({int(cid): int(n) for cid, n in conn.execute(q).all()})
        return out


def log_sends(conn: sa.Connection, rows: Iterable[SendLogRow | Mapping[str, Any]]) -> int:
    """Append submitted messages to the send log in one bulk insert; return how many.

    Delivery calls this on submit, in the transaction that records the submission; it is a
    log of facts, not a state change, so it writes no audit entry per message.
    """
    values: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        d = (
            dict(r)
            if isinstance(r, Mapping)
            else {
                "workspace_id": r.workspace_id,
                "contact_id": r.contact_id,
                "channel": r.channel,
                "purpose": r.purpose,
                "sent_at": r.sent_at,
                "campaign_id": r.campaign_id,
                "message_ref": r.message_ref,
            }
        )
        sent_at = d.get("sent_at")
        if not isinstance(sent_at, datetime) or sent_at.tzinfo is None:
            raise ValidationFailed(
                "sent_at must be an aware datetime", field="sent_at", value=str(sent_at), row=i
            )
        d.setdefault("campaign_id", None)
        d.setdefault("message_ref", None)
        values.append(d)
    if values:
        conn.execute(compliance_send_log.insert(), values)
    return len(values)
