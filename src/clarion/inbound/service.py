"""Handle a received MO: who sent it, what it means, and what that changes.

:func:`handle` works on one stored row inside the caller's transaction and is idempotent: it
acts only on a row still ``received`` (read with a row lock on PostgreSQL; SQLite writers are
already serialised by ``BEGIN IMMEDIATE``), and marks it ``handled`` with what it did. Any error
rolls the whole transaction back and leaves the row for the retry job.

The sender becomes a contact: an unknown number gets a new contact (source ``inbound``) with no
consent, so that a STOP from a number we have never heard of is still on record when the number
is imported later (the import merges into the same contact by phone). A workspace may turn this
off (``create_unknown_contacts``); the MO is then kept without a contact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance.content import help_reply_reasons
from clarion.compliance.policies import jurisdiction_for, resolve
from clarion.compliance.settings import policy_overrides
from clarion.contacts.service import ContactIn, upsert_contacts
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.delivery.tables import messages
from clarion.inbound import effects, inbox, optin, replies
from clarion.inbound import keywords as kw
from clarion.inbound.receive import InboundIn, sender_phone, store
from clarion.inbound.settings import brand_of, custom_keywords, get_settings, phrases_of
from clarion.inbound.tables import inbound_messages, optin_requests

log = logging.getLogger("clarion.inbound")

#: How far back a reply is tied to the campaign that prompted it.
CAMPAIGN_WINDOW = timedelta(days=7)
#: Automatic replies to one contact per hour: beyond this another machine is probably talking
#: to ours (an auto-responder answering every HELP reply), and the loop is broken by silence.
MAX_AUTO_REPLIES_PER_HOUR = 5
PROCESS = "inbound"


def _lock_row(conn: sa.Connection, inbound_id: int) -> dict[str, Any] | None:
    q = sa.select(inbound_messages).where(
        inbound_messages.c.id == inbound_id, inbound_messages.c.status == "received"
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    row = conn.execute(q).mappings().first()
    return dict(row) if row is not None else None


def _contact(
    conn: sa.Connection, actor: Actor, phone: str, create: bool
) -> tuple[int | None, str | None]:
    """Return (contact id, locale) of the number, creating the contact when allowed."""
    found = conn.execute(
        sa.select(contacts.c.id, contacts.c.locale).where(
            contacts.c.workspace_id == actor.workspace_id, contacts.c.phone == phone
        )
    ).first()
    if found is not None:
        return int(found.id), found.locale
    if not create:
        return None, None
    result = upsert_contacts(conn, actor, [ContactIn(phone=phone)], source="inbound")
    return result.ids[0], None


def _prompt(
    conn: sa.Connection, workspace_id: int, contact_id: int, at: datetime
) -> tuple[int | None, int | None]:
    """Return (last message sent to the contact, campaign of the last campaign message)."""
    m = messages
    sent = sa.and_(
        m.c.workspace_id == workspace_id,
        m.c.contact_id == contact_id,
        m.c.channel == "sms",
        m.c.submitted_at.is_not(None),
        m.c.submitted_at <= at,
    )
    last = conn.execute(
        sa.select(m.c.id).where(sent).order_by(m.c.submitted_at.desc(), m.c.id.desc()).limit(1)
    ).scalar()
    campaign = conn.execute(
        sa.select(m.c.campaign_id)
        .where(sent, m.c.campaign_id.is_not(None), m.c.submitted_at >= at - CAMPAIGN_WINDOW)
        .order_by(m.c.submitted_at.desc(), m.c.id.desc())
        .limit(1)
    ).scalar()
    return (int(last) if last else None), (int(campaign) if campaign else None)


class _Context:
    """What handling one MO needs: the row, the workspace's settings, the reply helpers."""

    def __init__(self, conn: sa.Connection, row: dict[str, Any], phone: str) -> None:
        self.conn = conn
        self.row = row
        self.phone = phone
        self.ws = int(row["workspace_id"])
        self.actor = Actor.system(self.ws, PROCESS)
        self.settings = get_settings(conn, self.ws)
        self.jurisdiction = jurisdiction_for(phone)
        self.actions: dict[str, Any] = {}

    def reply(self, kind: str, language: str, contact_id: int | None, **extra: Any) -> None:
        """Send reply ``kind`` (or a custom keyword's own text) back to the sender."""
        if contact_id is not None and self._replies_last_hour(contact_id) >= (
            MAX_AUTO_REPLIES_PER_HOUR
        ):
            self.actions["reply"] = {"sent": False, "error": "reply_limit", "kind": kind}
            return
        text = extra.pop("text", None) or replies.render(
            kind,
            language,
            self.jurisdiction,
            brand=brand_of(self.conn, self.ws, self.settings),
            settings=self.settings,
            **extra,
        )
        if kind == "help":
            self.actions["help_check"] = self._help_check(text)
        self.actions["reply"] = replies.send_reply(
            self.conn,
            self.actor,
            contact_id=contact_id,
            to=self.phone,
            sender=self.row["recipient"],
            text=text,
            metadata={"inbound_id": self.row["id"], "reply": kind},
        )

    def _help_check(self, text: str) -> list[str]:
        """Return what the HELP reply lacks under the jurisdiction's policy (CTIA parts)."""
        policy = resolve(self.jurisdiction, policy_overrides(self.conn, self.ws))
        missing = [r.code for r in help_reply_reasons(text, policy)]
        if missing:
            log.warning("workspace %s HELP reply lacks %s: set 'support'", self.ws, missing)
        return missing

    def _replies_last_hour(self, contact_id: int) -> int:
        m = messages
        since = self.row["received_at"] - timedelta(hours=1)
        return int(
            self.conn.execute(
                sa.select(sa.func.count()).where(
                    m.c.contact_id == contact_id, m.c.source == "inbound", m.c.queued_at >= since
                )
            ).scalar_one()
        )


def handle(conn: sa.Connection, inbound_id: int) -> dict[str, Any] | None:
    """Handle stored MO ``inbound_id`` if still unhandled; return what was done, else None."""
    row = _lock_row(conn, inbound_id)
    if row is None or row["workspace_id"] is None:
        return None
    at = row["received_at"]
    info = sender_phone(conn, int(row["workspace_id"]), row["sender"])
    phone = info.e164 if info is not None else row["sender"]
    ctx = _Context(conn, row, phone)
    contact_id, locale = (
        _contact(conn, ctx.actor, phone, bool(ctx.settings["create_unknown_contacts"]))
        if info is not None
        else (None, None)
    )
    prompt, campaign = _prompt(conn, ctx.ws, contact_id, at) if contact_id else (None, None)
    match = kw.classify(
        row["text"],
        custom_keywords(conn, ctx.ws),
        phrases_of(ctx.settings),
        language=replies.language_of(None, locale),
    )
    language = replies.language_of(match.language, locale)
    intent = match.intent
    if contact_id is None:
        ctx.actions["contact"] = "none"
    elif intent == kw.OPT_OUT:
        _opt_out(ctx, contact_id, match, language)
    elif intent == kw.CONFIRM:
        intent = _confirm(ctx, contact_id, match, language)
    elif intent == kw.OPT_IN:
        _opt_in(ctx, contact_id, match, language)
    elif intent == kw.HELP:
        ctx.reply("help", language, contact_id, text=_custom_reply(match))
    elif intent == kw.JOIN:
        _join(ctx, contact_id, match, language)
    if intent == kw.REPLY and contact_id is not None:
        ctx.actions["conversation"] = inbox.add_inbound(
            conn, ctx.actor, row, contact_id, phone, prompt, campaign
        )
    conn.execute(
        inbound_messages.update()
        .where(inbound_messages.c.id == inbound_id)
        .values(
            status="handled",
            phone=phone if info is not None else None,
            contact_id=contact_id,
            intent=intent,
            keyword=match.keyword,
            language=language,
            prompt_message_id=prompt,
            campaign_id=campaign,
            actions=ctx.actions,
            handled_at=utcnow(),
        )
    )
    return {"id": inbound_id, "intent": intent, "keyword": match.keyword, **ctx.actions}


def _custom_reply(match: kw.Match) -> str | None:
    return match.custom.reply if match.custom is not None else None


def _opt_out(ctx: _Context, contact_id: int, match: kw.Match, language: str) -> None:
    custom = match.custom
    channel = custom.channel if custom is not None else "sms"
    if custom is not None:
        purposes = [custom.purpose]
    else:
        purposes = ["marketing", "transactional"] if match.all_purposes else ["marketing"]
    changed = effects.change_consent(
        ctx.conn,
        ctx.actor,
        contact_id,
        channel,
        purposes,
        "opted_out",
        source=effects.SOURCE_KEYWORD,
        proof=ctx.row["text"],
        occurred_at=ctx.row["received_at"],
    )
    ctx.actions["opted_out"] = changed
    # Pending double opt-in requests die with the opt-out.
    t = optin_requests
    ctx.conn.execute(
        t.update()
        .where(t.c.contact_id == contact_id, t.c.status == "pending")
        .values(status="cancelled", resolved_at=ctx.row["received_at"])
    )
    if changed:  # one confirmation: a repeated STOP changes nothing and gets no reply
        ctx.reply(
            "opt_out",
            language,
            contact_id,
            text=_custom_reply(match),
            all_purposes=match.all_purposes,
        )


def _opt_in(ctx: _Context, contact_id: int, match: kw.Match, language: str) -> None:
    purpose = match.custom.purpose if match.custom is not None else "marketing"
    channel = match.custom.channel if match.custom is not None else "sms"
    changed = effects.change_consent(
        ctx.conn,
        ctx.actor,
        contact_id,
        channel,
        [purpose],
        "opted_in",
        source=effects.SOURCE_KEYWORD,
        proof=ctx.row["text"],
        occurred_at=ctx.row["received_at"],
    )
    ctx.actions["opted_in"] = changed
    ctx.reply("opt_in" if changed else "already", language, contact_id, text=_custom_reply(match))


def _confirm(ctx: _Context, contact_id: int, match: kw.Match, language: str) -> str:
    """Confirm a pending request, else let YES re-subscribe someone who opted out.

    With nothing pending, YES is the carriers' re-subscribe keyword only for a contact who
    opted out; from anyone else (an expired request, no history) it is an ordinary reply, so
    an unconfirmed double opt-in cannot be completed after it expired.
    """
    request = optin.pending_request(ctx.conn, contact_id, ctx.row["received_at"])
    if request is not None:
        changed = optin.confirm(
            ctx.conn, ctx.actor, request, ctx.row["text"], ctx.row["received_at"]
        )
        ctx.actions["confirmed"] = {"request_id": request["id"], "opted_in": changed}
        ctx.reply("welcome", request["language"] or language, contact_id)
        return kw.CONFIRM
    now = effects.consent_now(ctx.conn, contact_id, "sms", ["marketing"])["marketing"]
    if match.also_opt_in and now == "opted_out":
        _opt_in(ctx, contact_id, match, language)
        return kw.OPT_IN
    return kw.REPLY


def _join(ctx: _Context, contact_id: int, match: kw.Match, language: str) -> None:
    custom = match.custom
    assert custom is not None  # JOIN exists only as a workspace keyword
    if not custom.double_opt_in:
        changed = effects.change_consent(
            ctx.conn,
            ctx.actor,
            contact_id,
            custom.channel,
            [custom.purpose],
            "opted_in",
            source=effects.SOURCE_KEYWORD,
            proof=ctx.row["text"],
            occurred_at=ctx.row["received_at"],
        )
        ctx.actions["opted_in"] = changed
        ctx.reply("welcome" if changed else "already", language, contact_id, text=custom.reply)
        return
    ask = optin.OptinAsk(
        contact_id=contact_id,
        phone=ctx.phone,
        channel=custom.channel,
        purpose=custom.purpose,
        source=f"sms_keyword:{custom.keyword.upper()}"[:50],
        proof=ctx.row["text"],
        language=language,
        keyword_id=custom.id,
        campaign_id=custom.campaign_id,
        sender=ctx.row["recipient"],
        jurisdiction=ctx.jurisdiction,
    )
    ctx.actions["optin"] = optin.request_optin(ctx.conn, ctx.actor, ask)


#: MOs handled per transaction: one commit for many (a commit is the costly part on
#: PostgreSQL), short enough that SQLite's single writer is not held for long.
HANDLE_CHUNK = 50


def handle_pending(engine: Engine, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Handle stored MOs, a chunk per transaction and a savepoint per MO; return what was done.

    One failing message does not hold up the others: its savepoint is rolled back, it is
    logged and stays ``received`` for the retry job. A crash loses nothing either: the rows
    were committed as received before handling began.
    """
    done: list[dict[str, Any]] = []
    for start in range(0, len(ids), HANDLE_CHUNK):
        with engine.begin() as conn:
            for inbound_id in ids[start : start + HANDLE_CHUNK]:
                try:
                    with conn.begin_nested():
                        got = handle(conn, inbound_id)
                except Exception:
                    log.exception(
                        "inbound message %s could not be handled; retried later", inbound_id
                    )
                    continue
                if got is not None:
                    done.append(got)
    return done


def receive(
    engine: Engine, items: Sequence[InboundIn], *, workspace_id: int | None = None
) -> list[dict[str, Any]]:
    """Store ``items`` (one transaction), then handle each; return what was done."""
    with engine.begin() as conn:
        ids = store(conn, items, workspace_id=workspace_id)
    return handle_pending(engine, ids)


def unhandled(conn: sa.Connection, older_than: timedelta, limit: int = 500) -> list[int]:
    """Return ids of MOs still waiting to be handled that arrived before ``older_than`` ago."""
    t = inbound_messages
    q = (
        sa.select(t.c.id)
        .where(t.c.status == "received", t.c.received_at <= utcnow() - older_than)
        .order_by(t.c.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(q).scalars()]


def list_inbound(
    conn: sa.Connection, workspace_id: int, *, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Return received MOs of the workspace, oldest first from ``after_id``."""
    t = inbound_messages
    q = (
        sa.select(t)
        .where(t.c.workspace_id == workspace_id, t.c.id > after_id)
        .order_by(t.c.id)
        .limit(max(1, min(limit, 1000)))
    )
    return [dict(r) for r in conn.execute(q).mappings()]
