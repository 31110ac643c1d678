"""Double opt-in: a JOIN keyword or a web signup asks; only the confirming reply subscribes.

A request is a row (pending -> confirmed | expired). While it waits, the ledger holds a
``pending`` statement (evidence that the person asked, and a state the planner never sends
marketing to); the person's YES appends ``opted_in`` with their reply as proof. A contact who
is already subscribed is told so and nothing is appended, so a repeated JOIN cannot turn an
active consent back into pending. Requests expire after the workspace's ``optin_ttl_hours``
(the periodic job in ``jobs.py``); a YES after that is an ordinary reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.compliance.policies import jurisdiction_for
from clarion.contacts.service import ContactIn, get_contact, upsert_contacts
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.inbound import effects, replies
from clarion.inbound.settings import brand_of, get_settings
from clarion.inbound.tables import optin_requests

SOURCE_SIGNUP = "web_signup"


@dataclass(frozen=True, slots=True)
class OptinAsk:
    """What is being asked for, by whom, through what."""

    contact_id: int
    phone: str
    channel: str = "sms"
    purpose: str = "marketing"
    source: str = SOURCE_SIGNUP
    proof: str | None = None
    language: str = "en"
    keyword_id: int | None = None
    campaign_id: int | None = None
    sender: str | None = None  # the number the confirmation request goes from
    jurisdiction: str = "default"


def request_optin(conn: sa.Connection, actor: Actor, ask: OptinAsk) -> dict[str, Any]:
    """Open a request and send the confirmation question; return what was done."""
    now = utcnow()
    settings = get_settings(conn, actor.workspace_id)
    brand = brand_of(conn, actor.workspace_id, settings)
    current = effects.consent_now(conn, ask.contact_id, ask.channel, [ask.purpose])[ask.purpose]
    if current == "opted_in":
        text = replies.render(
            "already", ask.language, ask.jurisdiction, brand=brand, settings=settings
        )
        reply = replies.send_reply(
            conn, actor, contact_id=ask.contact_id, to=ask.phone, sender=ask.sender, text=text
        )
        return {"status": "already_subscribed", "reply": reply}
    t = optin_requests
    # A newer request replaces an older one still waiting for the same subscription.
    conn.execute(
        t.update()
        .where(
            t.c.contact_id == ask.contact_id,
            t.c.channel == ask.channel,
            t.c.purpose == ask.purpose,
            t.c.status == "pending",
        )
        .values(status="replaced", resolved_at=now)
    )
    ttl = timedelta(hours=float(settings["optin_ttl_hours"]))
    request_id = conn.execute(
        t.insert()
        .values(
            workspace_id=actor.workspace_id,
            contact_id=ask.contact_id,
            channel=ask.channel,
            purpose=ask.purpose,
            source=ask.source,
            keyword_id=ask.keyword_id,
            campaign_id=ask.campaign_id,
            language=ask.language,
            proof=ask.proof,
            status="pending",
            requested_at=now,
            expires_at=now + ttl,
        )
        .returning(t.c.id)
    ).scalar_one()
    effects.change_consent(
        conn,
        actor,
        ask.contact_id,
        ask.channel,
        [ask.purpose],
        "pending",
        source=ask.source,
        proof=ask.proof or ask.source,
    )
    text = replies.render(
        "confirm_request",
        ask.language,
        ask.jurisdiction,
        brand=brand,
        settings=settings,
        purpose=ask.purpose,
    )
    reply = replies.send_reply(
        conn,
        actor,
        contact_id=ask.contact_id,
        to=ask.phone,
        sender=ask.sender,
        text=text,
        metadata={"optin_request": int(request_id)},
    )
    record(
        conn, actor, "inbound.optin.request", "optin_request", request_id, {"source": ask.source}
    )
    return {"status": "pending", "request_id": int(request_id), "reply": reply}


def pending_request(
    conn: sa.Connection, contact_id: int, at: datetime, channel: str = "sms"
) -> dict[str, Any] | None:
    """Return the contact's newest request still waiting at ``at``, or None."""
    t = optin_requests
    row = (
        conn.execute(
            sa.select(t)
            .where(
                t.c.contact_id == contact_id,
                t.c.channel == channel,
                t.c.status == "pending",
                t.c.expires_at > at,
            )
            .order_by(t.c.requested_at.desc(), t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def confirm(
    conn: sa.Connection, actor: Actor, request: dict[str, Any], reply_text: str, at: datetime
) -> list[str]:
    """Confirm ``request`` with the person's reply; return the purposes now opted in."""
    t = optin_requests
    done = conn.execute(
        t.update()
        .where(t.c.id == request["id"], t.c.status == "pending")
        .values(status="confirmed", resolved_at=at)
    )
    if done.rowcount != 1:
        return []
    asked = request["proof"] or request["source"]
    changed = effects.change_consent(
        conn,
        actor,
        int(request["contact_id"]),
        request["channel"],
        [request["purpose"]],
        "opted_in",
        source=effects.SOURCE_KEYWORD,
        proof=f"{reply_text} (confirming request {request['id']}: {asked})",
        occurred_at=at,
    )
    record(conn, actor, "inbound.optin.confirm", "optin_request", request["id"], {})
    return changed


def expire_due(conn: sa.Connection, now: datetime | None = None) -> int:
    """Mark every pending request past its expiry as expired; return how many."""
    t = optin_requests
    at = now or utcnow()
    res = conn.execute(
        t.update()
        .where(t.c.status == "pending", t.c.expires_at <= at)
        .values(status="expired", resolved_at=at)
    )
    return int(res.rowcount or 0)


def signup(
    conn: sa.Connection,
    actor: Actor,
    phone: str,
    *,
    purpose: str = "marketing",
    language: str = "en",
    statement: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """Start a double opt-in for a number given on a web form; return the request outcome."""
    if purpose not in ("marketing", "transactional"):
        raise ValidationFailed("unknown purpose", field="purpose", value=purpose)
    result = upsert_contacts(conn, actor, [ContactIn(phone=phone)], source=SOURCE_SIGNUP)
    if result.rejects:
        bad = result.rejects[0]
        raise ValidationFailed(
            f"unusable phone number: {bad.reason}",
            field="phone",
            value=phone,
        )
    contact_id = result.ids[0]
    if contact_id is None:  # pragma: no cover - a record is either rejected or gets an id
        raise ValidationFailed("the number could not be stored", field="phone", value=phone)
    e164 = str(get_contact(conn, actor.workspace_id, contact_id)["phone"])
    ask = OptinAsk(
        contact_id=contact_id,
        phone=e164,
        purpose=purpose,
        source=SOURCE_SIGNUP,
        proof=statement or f"web signup for {purpose} SMS",
        language=replies.language_of(language, None),
        sender=sender,
        jurisdiction=jurisdiction_for(e164),
    )
    return {"contact_id": contact_id, **request_optin(conn, actor, ask)}
