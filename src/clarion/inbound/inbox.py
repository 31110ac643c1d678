"""The inbox: replies that are not keywords, kept as one conversation per contact.

A conversation is tied to the contact and, through each inbound message, to the message and
campaign that prompted it (the last one sent to the number; see ``service._prompt``). Each reply
is also an engagement event (``sms_reply``, de-duplicated by the inbound row's id) so segments
and reports can count it. Answers go out through the sending service as transactional messages
from the number the person wrote to.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.events.models import ContactRef, TrackIn
from clarion.events.service import track
from clarion.inbound import replies
from clarion.inbound.tables import conversation_messages, conversations, inbound_messages

REPLY_EVENT = "sms_reply"
MAX_ANSWER = 1600
STATUSES = ("open", "closed")


def add_inbound(
    conn: sa.Connection,
    actor: Actor,
    row: dict[str, Any],
    contact_id: int,
    phone: str,
    prompt_message_id: int | None,
    campaign_id: int | None,
) -> int:
    """File inbound ``row`` in the contact's conversation (opened if needed); return its id."""
    t = conversations
    at = row["received_at"]
    found = conn.execute(
        sa.select(t.c.id, t.c.last_message_at).where(
            t.c.workspace_id == actor.workspace_id, t.c.contact_id == contact_id
        )
    ).first()
    if found is None:
        conv = conn.execute(
            t.insert()
            .values(
                workspace_id=actor.workspace_id,
                contact_id=contact_id,
                phone=phone,
                our_number=row["recipient"],
                campaign_id=campaign_id,
                status="open",
                unread=1,
                last_message_at=at,
                created_at=utcnow(),
            )
            .returning(t.c.id)
        ).scalar_one()
    else:
        conv = found.id
        conn.execute(
            t.update()
            .where(t.c.id == conv)
            .values(
                status="open",
                unread=t.c.unread + 1,
                our_number=row["recipient"],
                campaign_id=sa.func.coalesce(campaign_id, t.c.campaign_id),
                last_message_at=max(found.last_message_at, at),
            )
        )
    conn.execute(
        conversation_messages.insert().values(
            conversation_id=conv,
            direction="in",
            text=row["text"],
            inbound_id=row["id"],
            message_id=prompt_message_id,
            campaign_id=campaign_id,
            at=at,
        )
    )
    props: dict[str, Any] = {"text": row["text"][:500], "conversation_id": int(conv)}
    if campaign_id is not None:
        props["campaign_id"] = campaign_id
    if prompt_message_id is not None:
        props["message_id"] = prompt_message_id
    track(
        conn,
        actor,
        [
            TrackIn(
                contact=ContactRef(contact_id=contact_id),
                name=REPLY_EVENT,
                properties=props,
                occurred_at=at,
                message_id=f"inbound:{row['id']}",
                source="sms",
            )
        ],
        create_contacts=False,
    )
    return int(conv)


def list_conversations(
    conn: sa.Connection,
    workspace_id: int,
    *,
    status: str | None = "open",
    campaign_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Return conversations, most recent first, with the contact's name and the last text."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed("unknown status", field="status", value=status, allowed=STATUSES)
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit must be 1-500", field="limit", value=limit)
    t, m = conversations, conversation_messages
    last_text = (
        sa.select(m.c.text)
        .where(m.c.conversation_id == t.c.id)
        .order_by(m.c.at.desc(), m.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    q = (
        sa.select(
            t.c.id,
            t.c.contact_id,
            t.c.phone,
            t.c.campaign_id,
            t.c.status,
            t.c.unread,
            t.c.last_message_at,
            contacts.c.first_name,
            contacts.c.last_name,
            last_text.label("last_text"),
        )
        .join(contacts, contacts.c.id == t.c.contact_id)
        .where(t.c.workspace_id == workspace_id)
        .order_by(t.c.last_message_at.desc(), t.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(t.c.status == status)
    if campaign_id is not None:
        q = q.where(t.c.campaign_id == campaign_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def _conversation(conn: sa.Connection, workspace_id: int, conversation_id: int) -> dict[str, Any]:
    t = conversations
    row = (
        conn.execute(
            sa.select(t).where(t.c.id == conversation_id, t.c.workspace_id == workspace_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"no conversation {conversation_id}", field="conversation_id", value=conversation_id
        )
    return dict(row)


def get_conversation(
    conn: sa.Connection, workspace_id: int, conversation_id: int
) -> dict[str, Any]:
    """Return a conversation with every message in it, oldest first."""
    out = _conversation(conn, workspace_id, conversation_id)
    m = conversation_messages
    out["messages"] = [
        dict(r)
        for r in conn.execute(
            sa.select(m).where(m.c.conversation_id == conversation_id).order_by(m.c.at, m.c.id)
        ).mappings()
    ]
    return out


def mark_read(conn: sa.Connection, actor: Actor, conversation_id: int) -> None:
    """Set the conversation's unread count to zero."""
    _conversation(conn, actor.workspace_id, conversation_id)
    conn.execute(
        conversations.update().where(conversations.c.id == conversation_id).values(unread=0)
    )


def set_status(conn: sa.Connection, actor: Actor, conversation_id: int, status: str) -> None:
    """Open or close a conversation (a new reply reopens a closed one)."""
    if status not in STATUSES:
        raise ValidationFailed("unknown status", field="status", value=status, allowed=STATUSES)
    _conversation(conn, actor.workspace_id, conversation_id)
    conn.execute(
        conversations.update().where(conversations.c.id == conversation_id).values(status=status)
    )
    record(conn, actor, f"inbox.{status}", "conversation", conversation_id, {})


def answer(conn: sa.Connection, actor: Actor, conversation_id: int, text: str) -> dict[str, Any]:
    """Send ``text`` to the conversation's contact and file it; return the filed message."""
    body = (text or "").strip()
    if not body or len(body) > MAX_ANSWER:
        raise ValidationFailed(
            f"an answer of 1-{MAX_ANSWER} characters is needed", field="text", value=text[:50]
        )
    conv = _conversation(conn, actor.workspace_id, conversation_id)
    sent = replies.send_reply(
        conn,
        actor,
        contact_id=int(conv["contact_id"]),
        to=conv["phone"],
        sender=conv["our_number"],
        text=body,
        source="inbox",
        metadata={"conversation_id": conversation_id},
    )
    if not sent["sent"]:
        raise Conflict(
            f"the answer could not be sent: {sent['detail']}",
            field="text",
            reason=sent["error"],
        )
    now = utcnow()
    new_id = conn.execute(
        conversation_messages.insert()
        .values(
            conversation_id=conversation_id,
            direction="out",
            text=body,
            message_id=sent["message_id"],
            campaign_id=conv["campaign_id"],
            author=actor.label,
            at=now,
        )
        .returning(conversation_messages.c.id)
    ).scalar_one()
    conn.execute(
        conversations.update()
        .where(conversations.c.id == conversation_id)
        .values(unread=0, last_message_at=now)
    )
    record(
        conn,
        actor,
        "inbox.reply",
        "conversation",
        conversation_id,
        {"message_id": sent["message_id"]},
    )
    return {"id": int(new_id), "conversation_id": conversation_id, **sent}


def inbound_for(conn: sa.Connection, workspace_id: int, inbound_id: int) -> dict[str, Any]:
    """Return one stored MO of the workspace, or raise NotFound."""
    t = inbound_messages
    row = (
        conn.execute(sa.select(t).where(t.c.id == inbound_id, t.c.workspace_id == workspace_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no inbound message {inbound_id}", field="inbound_id", value=inbound_id)
    return dict(row)
