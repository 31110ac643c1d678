"""The feedback inbox: SMS replies and social comments in one list, each with a sentiment.

SMS replies stay where ``clarion.inbound`` files them (one conversation per contact, answered
from there); social comments and replies are filed by the ingest job in ``social_feedback``.
This module reads both into one time-ordered list, so a team sees what people say on every
channel in one place. An SMS reply's sentiment is computed when it is listed (the same model as
for comments; a page is at most a few hundred short texts), so the inbound path pays nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.contacts.tables import contacts
from clarion.errors import NotFound, ValidationFailed
from clarion.social.sentiment import analyse
from clarion.social.tables import social_feedback, social_posts

CHANNELS = ("sms", "social")
LABELS = ("positive", "neutral", "negative")
STATUSES = ("open", "closed")


def _check(channel: str | None, sentiment: str | None, status: str | None, limit: int) -> None:
    if channel is not None and channel not in CHANNELS:
        raise ValidationFailed(
            f"channel is one of {', '.join(CHANNELS)}", field="channel", value=channel
        )
    if sentiment is not None and sentiment not in LABELS:
        raise ValidationFailed(
            f"sentiment is one of {', '.join(LABELS)}", field="sentiment", value=sentiment
        )
    if status is not None and status not in STATUSES:
        raise ValidationFailed(
            f"status is one of {', '.join(STATUSES)}", field="status", value=status
        )
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit must be 1-500", field="limit", value=limit)


def _social(
    conn: sa.Connection, ws: int, status: str | None, campaign_id: int | None, limit: int
) -> list[dict[str, Any]]:
    f = social_feedback
    campaign = (
        sa.select(social_posts.c.campaign_id)
        .where(social_posts.c.workspace_id == ws, social_posts.c.platform_post_id == f.c.post_id)
        .limit(1)
        .scalar_subquery()
    )
    q = (
        sa.select(f, contacts.c.first_name, contacts.c.last_name, campaign.label("campaign_id"))
        .join(contacts, contacts.c.id == f.c.contact_id)
        .where(f.c.workspace_id == ws)
        .order_by(f.c.at.desc(), f.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(f.c.status == status)
    if campaign_id is not None:
        q = q.where(campaign == campaign_id)
    return [
        {
            "channel": "social",
            "id": f"social:{r.id}",
            "contact_id": r.contact_id,
            "name": " ".join(x for x in (r.first_name, r.last_name) if x) or None,
            "platform": r.platform,
            "kind": r.kind,
            "from": r.author_handle,
            "text": r.text,
            "sentiment": r.sentiment,
            "score": r.sentiment_score,
            "status": r.status,
            "campaign_id": r.campaign_id,
            "at": r.at,
        }
        for r in conn.execute(q)
    ]


def _sms(
    conn: sa.Connection, ws: int, status: str | None, campaign_id: int | None, limit: int
) -> list[dict[str, Any]]:
    from clarion.inbound.tables import conversation_messages as m
    from clarion.inbound.tables import conversations as c

    q = (
        sa.select(
            m.c.id,
            m.c.text,
            m.c.at,
            m.c.campaign_id,
            c.c.contact_id,
            c.c.phone,
            c.c.status,
            c.c.id.label("conversation_id"),
            contacts.c.first_name,
            contacts.c.last_name,
        )
        .join(c, c.c.id == m.c.conversation_id)
        .join(contacts, contacts.c.id == c.c.contact_id)
        .where(c.c.workspace_id == ws, m.c.direction == "in")
        .order_by(m.c.at.desc(), m.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(c.c.status == status)
    if campaign_id is not None:
        q = q.where(m.c.campaign_id == campaign_id)
    rows = conn.execute(q).all()
    out = []
    for r in rows:
        s = analyse(r.text)
        out.append(
            {
                "channel": "sms",
                "id": f"sms:{r.id}",
                "contact_id": r.contact_id,
                "name": " ".join(x for x in (r.first_name, r.last_name) if x) or None,
                "platform": "sms",
                "kind": "reply",
                "from": r.phone,
                "text": r.text,
                "sentiment": s.label,
                "score": s.score,
                "status": r.status,
                "campaign_id": r.campaign_id,
                "conversation_id": r.conversation_id,
                "at": r.at,
            }
        )
    return out


def list_feedback(
    conn: sa.Connection,
    workspace_id: int,
    *,
    channel: str | None = None,
    sentiment: str | None = None,
    status: str | None = None,
    campaign_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Return SMS replies and social comments, newest first, each with a sentiment label."""
    _check(channel, sentiment, status, limit)
    items: list[dict[str, Any]] = []
    if channel in (None, "social"):
        items += _social(conn, workspace_id, status, campaign_id, limit)
    if channel in (None, "sms"):
        items += _sms(conn, workspace_id, status, campaign_id, limit)
    if sentiment is not None:
        items = [i for i in items if i["sentiment"] == sentiment]
    items.sort(key=lambda i: (i["at"], i["id"]), reverse=True)
    for i in items[:limit]:
        i["at"] = i["at"].isoformat()
    return items[:limit]


def set_feedback_status(conn: sa.Connection, actor: Actor, item_id: str, status: str) -> None:
    """Open or close one social comment (``social:<id>``); SMS replies close as conversations."""
    if status not in STATUSES:
        raise ValidationFailed(
            f"status is one of {', '.join(STATUSES)}", field="status", value=status
        )
    kind, _, raw = item_id.partition(":")
    if kind != "social" or not raw.isdigit():
        raise ValidationFailed(
            "a social feedback id looks like social:12 (close SMS replies as conversations)",
            field="id",
            value=item_id,
        )
    f = social_feedback
    done = conn.execute(
        f.update()
        .where(f.c.workspace_id == actor.workspace_id, f.c.id == int(raw))
        .values(status=status)
    )
    if not done.rowcount:
        raise NotFound(f"no feedback {item_id}", field="id", value=item_id)
    record(conn, actor, "social.feedback.status", "social_feedback", int(raw), {"status": status})
