"""What a person's own consent change does, wherever it was said (a keyword, the preference page).

A change goes into the consent ledger with the person's words as proof, and an opt-out takes
effect at once: the contact's queued marketing messages on that channel are cancelled in the
same transaction (rows already on the wire cannot be recalled; transactional ones are kept).
Only a real change is recorded: a second STOP from someone already opted out appends nothing,
which is also what keeps the opt-out confirmation to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from clarion.audit.service import Actor
from clarion.campaigns.tables import campaigns
from clarion.consent.service import ConsentIn, record_consent
from clarion.consent.tables import consent_state
from clarion.db.types import utcnow
from clarion.delivery.dispatcher import log_cancelled
from clarion.delivery.tables import messages

#: Ledger sources of changes the person made themselves (the compliance engine reports an
#: opt-out from one of these as "opted_out" rather than "consent_revoked").
SOURCE_KEYWORD = "sms_keyword"
SOURCE_PAGE = "preference_page"


def consent_now(
    conn: sa.Connection, contact_id: int, channel: str, purposes: Sequence[str]
) -> dict[str, str]:
    """Return purpose -> current status (``none`` when nothing is recorded)."""
    t = consent_state
    rows = conn.execute(
        sa.select(t.c.purpose, t.c.status).where(
            t.c.contact_id == contact_id, t.c.channel == channel, t.c.purpose.in_(list(purposes))
        )
    )
    found = {str(p): str(s) for p, s in rows}
    return {p: found.get(p, "none") for p in purposes}


def change_consent(
    conn: sa.Connection,
    actor: Actor,
    contact_id: int,
    channel: str,
    purposes: Sequence[str],
    status: str,
    *,
    source: str,
    proof: str,
    occurred_at: datetime | None = None,
) -> list[str]:
    """Record ``status`` for the purposes whose state differs; return the purposes changed."""
    current = consent_now(conn, contact_id, channel, purposes)
    changed = [p for p in purposes if current[p] != status]
    if changed:
        record_consent(
            conn,
            actor,
            [
                ConsentIn(contact_id, channel, p, status, source, proof, occurred_at)
                for p in changed
            ],
        )
    if status == "opted_out" and "marketing" in changed:
        cancel_queued_marketing(conn, actor.workspace_id, contact_id, channel)
    return changed


def cancel_queued_marketing(
    conn: sa.Connection, workspace_id: int, contact_id: int, channel: str
) -> int:
    """Cancel the contact's queued marketing messages on ``channel``; return how many."""
    marketing = sa.select(campaigns.c.id).where(
        campaigns.c.workspace_id == workspace_id, campaigns.c.purpose == "marketing"
    )
    # Campaign rows take their purpose from the campaign; single sends carry their own kind.
    is_marketing = sa.or_(messages.c.campaign_id.in_(marketing), messages.c.kind == "marketing")
    theirs = sa.and_(
        messages.c.workspace_id == workspace_id,
        messages.c.contact_id == contact_id,
        messages.c.channel == channel,
        messages.c.status == "queued",
        is_marketing,
    )
    now = utcnow()
    log_cancelled(conn, theirs, now=now)  # the status history and *.cancelled webhooks
    res = conn.execute(messages.update().where(theirs).values(status="cancelled", cancelled_at=now))
    return int(res.rowcount or 0)
