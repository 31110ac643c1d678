"""Attach per-message fallback policies, render the fallback content, and fire due timers.

The move itself (outbox row to the new channel, attempt row, timer settled) happens in
:func:`clarion.delivery.outcomes.fail_or_failover`, the one place every attempt ends, so a
failure and a timer follow the same rules and the same conditional write.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from clarion.channels.email.content import EmailContent, split_subject
from clarion.delivery.fallback.policy import FallbackPolicy, policy_of_failover
from clarion.delivery.fallback.tables import message_fallbacks
from clarion.delivery.tables import messages, routes, status_is
from clarion.messages.templates import (
    CompiledTemplate,
    LocalizedTemplate,
    compile_template,
    contact_context,
)

#: Outbox states a fallback may move a message from (never ``sending``: it is on the wire).
OPEN_STATES = ("queued", "submitted", "uncertain")


def attach(
    conn: sa.Connection,
    workspace_id: int,
    message_id: int,
    policy: FallbackPolicy,
    *,
    due_from: datetime,
) -> None:
    """Keep ``policy`` for a message; its timer (if any) runs from ``due_from`` (its send_at)."""
    due = due_from + timedelta(seconds=policy.after_s) if policy.after_s else None
    conn.execute(
        message_fallbacks.insert().values(
            message_id=message_id,
            workspace_id=workspace_id,
            policy=policy.model_dump(exclude_none=True),
            due_at=due,
        )
    )


def load_contacts(conn: sa.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Return what templates see of each contact (profile, attributes, tags), in two queries."""
    from clarion.contacts.tables import contact_tags, contacts
    from clarion.db.sql import in_values

    if not ids:
        return {}
    out = {
        int(r["id"]): {**dict(r), "tags": []}
        for r in conn.execute(sa.select(contacts).where(in_values(conn, contacts.c.id, list(ids))))
        .mappings()
        .all()
    }
    for cid, tag in conn.execute(
        sa.select(contact_tags.c.contact_id, contact_tags.c.tag)
        .where(in_values(conn, contact_tags.c.contact_id, list(out)))
        .order_by(contact_tags.c.tag)
    ):
        out[int(cid)]["tags"].append(tag)
    return out


@lru_cache(maxsize=512)
def _compiled(source: str) -> CompiledTemplate:
    """Compile an inline policy template once per process (policies repeat for every message)."""
    return compile_template(source)


def render_content(
    conn: sa.Connection,
    workspace_id: int,
    contact: Mapping[str, Any] | None,
    policy: FallbackPolicy,
    original: str | None,
    *,
    templates: dict[tuple[int, str, str], LocalizedTemplate] | None = None,
) -> str:
    """Return the outbox body for the fallback channel (see the policy's content rules).

    ``contact`` is the contact as :func:`load_contacts` gives it (None: a bare address);
    ``templates`` caches saved templates across the messages of one batch.
    """
    contact = dict(contact or {})
    if contact and int(contact.get("workspace_id", workspace_id)) != workspace_id:
        contact = {}
    ctx = contact_context(contact)

    def render(src: str | None) -> str | None:
        return None if src is None else _compiled(src).render(ctx)

    subject = render(policy.subject)
    if policy.template:
        from clarion.messages.service import load_template

        key = (workspace_id, policy.template, policy.channel)
        cache = templates if templates is not None else {}
        if key not in cache:
            cache[key] = load_template(conn, workspace_id, policy.template, channel=policy.channel)
        # The whole template renders (locale variant included), then loses its Subject line.
        subject_line, text = split_subject(cache[key].render(ctx))
        subject = subject or subject_line
    elif policy.text is not None:
        text = render(policy.text) or ""
    else:
        text = EmailContent.from_body(original).text if original else ""
    if policy.channel != "email":
        return text
    contact_id = int(contact["id"]) if contact.get("id") is not None else None
    return EmailContent(
        text=text,
        subject=subject,
        html=render(policy.html),
        unsubscribe_url=unsubscribe_url(conn, workspace_id, contact_id),
    ).to_body()


def unsubscribe_url(conn: sa.Connection, workspace_id: int, contact_id: int | None) -> str | None:
    """Return the contact's signed preference link, if the preferences feature provides one.

    Without it the email channel falls back to its connector's ``unsubscribe_url`` template.
    """
    if contact_id is None:
        return None
    try:  # looked up at run time: the preferences feature is optional to this one
        links = importlib.import_module("clarion.preferences.links")
    except ImportError:
        return None
    return str(links.preference_url(conn, workspace_id, contact_id))


def due_timers(conn: sa.Connection, *, now: datetime, limit: int = 500) -> list[int]:
    """Lock and return messages whose fallback timer is due, per message or per campaign.

    Timers of messages that settled meanwhile (delivered, failed...) are closed here, so the
    scan only ever sees pending ones.
    """
    # Per-message timers (send API).
    rows = conn.execute(
        sa.select(message_fallbacks.c.message_id, messages.c.status)
        .join(messages, messages.c.id == message_fallbacks.c.message_id)
        .where(message_fallbacks.c.due_at <= now)
        .order_by(message_fallbacks.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=[message_fallbacks, messages])
    ).all()
    due = [int(r.message_id) for r in rows if r.status in OPEN_STATES]
    settled = [(int(r.message_id), str(r.status)) for r in rows if r.status not in OPEN_STATES]
    settled = [(m, s) for m, s in settled if s != "sending"]  # on the wire: look again later
    if settled:
        conn.execute(
            message_fallbacks.update()
            .where(message_fallbacks.c.message_id == sa.bindparam("m"))
            .values(due_at=None, fired_at=now, outcome=sa.bindparam("s")),
            [{"m": m, "s": s} for m, s in settled],
        )
    # Campaign timers: few campaigns, each one indexed scan of its open messages.
    from clarion.campaigns.service import SENDING_STATES
    from clarion.campaigns.tables import campaigns
    from clarion.contacts.tables import contacts

    for cid, ws, failover in conn.execute(
        sa.select(campaigns.c.id, campaigns.c.workspace_id, campaigns.c.failover).where(
            campaigns.c.status.in_(SENDING_STATES)
        )
    ):
        if len(due) >= limit:
            break
        policy = policy_of_failover(failover)
        if policy is None or policy.after_s is None or not _has_route(conn, ws, policy.channel):
            continue
        q = (
            sa.select(messages.c.id)
            .where(
                messages.c.campaign_id == cid,
                status_is(*OPEN_STATES),
                messages.c.channel != policy.channel,
                messages.c.send_at <= now - timedelta(seconds=policy.after_s),
                # fired already (and could not fall back): never picked again
                ~sa.exists().where(message_fallbacks.c.message_id == messages.c.id),
            )
            .limit(limit - len(due))
            .with_for_update(skip_locked=True, of=messages)
        )
        if policy.to is None:  # only contacts the fallback channel can reach
            have = contacts.c.email if policy.channel == "email" else contacts.c.phone
            q = q.join(contacts, contacts.c.id == messages.c.contact_id).where(
                have.is_not(None), have != ""
            )
        due += [int(i) for i in conn.execute(q).scalars()]
    return due


def _has_route(conn: sa.Connection, workspace_id: int, channel: str) -> bool:
    return (
        conn.execute(
            sa.select(routes.c.id).where(
                routes.c.workspace_id == workspace_id,
                routes.c.channel == channel,
                routes.c.active.is_(True),
            )
        ).first()
        is not None
    )


def fire_due(conn: sa.Connection, *, now: datetime, limit: int = 500) -> Counter[str]:
    """Move every message whose timer is due to its fallback channel; return what happened."""
    from clarion.delivery.outcomes import Failure, fail_or_failover

    ids = due_timers(conn, now=now, limit=limit)
    if not ids:
        return Counter()
    return fail_or_failover(
        conn,
        [Failure(i, "timeout", "NOT_DELIVERED_IN_TIME") for i in ids],
        now=now,
        expect=OPEN_STATES,
    )
