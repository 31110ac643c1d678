"""Read sent messages: one with its status history, or a page of them.

The history is the outbox row's ``queued_at`` followed by the append-only attempt log
(``message_attempts``): every submit, receipt, failure, retry and expiry with its code and
time, so a caller sees not just where a message is but how it got there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.delivery.tables import message_attempts, messages, routes
from clarion.errors import NotFound, ValidationFailed

#: What each attempt result means for the message, as the history shows it.
RESULT_STATUS = {
    "submitted": "submitted",
    "delivered": "delivered",
    "failed_permanent": "failed",
    "failed_transient": "failed",
    "connector_down": "failed",
    "undelivered": "failed",
    "expired": "expired",
    "uncertain": "uncertain",
    "not_delivered_in_time": "failed",
}
STATUSES = ("queued", "sending", "submitted", "delivered", "failed", "expired", "cancelled")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def public_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return a message row as the API shows it."""
    return {
        "id": int(row["id"]),
        "status": row["status"],
        "channel": row["channel"],
        "kind": row.get("kind"),
        "to": row["destination"],
        "contact_id": row.get("contact_id"),
        "campaign_id": row.get("campaign_id"),
        "text": row.get("body"),
        "template": row.get("template"),
        "encoding": row.get("encoding"),
        "parts": int(row.get("parts") or 0),
        "cost": float(row.get("cost") or 0),
        "sender": row.get("sender"),
        "send_at": _iso(row.get("send_at")),
        "validity_s": row.get("validity_s"),
        "callback_url": row.get("callback_url"),
        "idempotency_key": row.get("idempotency_key"),
        "source": row.get("source"),
        "metadata": row.get("meta") or {},
        "provider_id": row.get("provider_id"),
        "provider_code": row.get("provider_code"),
        "queued_at": _iso(row.get("queued_at")),
        "submitted_at": _iso(row.get("submitted_at")),
        "delivered_at": _iso(row.get("delivered_at")),
        "failed_at": _iso(row.get("failed_at")),
        "expired_at": _iso(row.get("expired_at")),
    }


def get_message(conn: sa.Connection, workspace_id: int, message_id: int) -> dict[str, Any]:
    """Return a message of the workspace with its status history, or raise NotFound."""
    row = (
        conn.execute(
            sa.select(messages).where(
                messages.c.workspace_id == workspace_id, messages.c.id == message_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no message {message_id}", field="message_id", value=message_id)
    out = public_message(dict(row))
    history: list[dict[str, Any]] = [{"status": "queued", "at": out["queued_at"]}]
    attempts = conn.execute(
        sa.select(message_attempts, routes.c.name.label("route"))
        .outerjoin(routes, routes.c.id == message_attempts.c.route_id)
        .where(message_attempts.c.message_id == message_id)
        .order_by(message_attempts.c.id)
    ).mappings()
    seen_submit: set[tuple[Any, Any]] = set()
    for a in attempts:
        if a["result"] == "submitted":
            # One attempt row per part: show one "submitted" per send, listing every part.
            key = (a["at"], a["route_id"])
            if key in seen_submit:
                history[-1]["provider_ids"].append(a["provider_id"])
                continue
            seen_submit.add(key)
        history.append(
            {
                "status": RESULT_STATUS.get(a["result"], a["result"]),
                "result": a["result"],
                "at": a["at"].isoformat(),
                "code": a["provider_code"],
                "route": a["route"],
                **({"provider_ids": [a["provider_id"]]} if a["result"] == "submitted" else {}),
            }
        )
    out["history"] = history
    return out


def list_messages(
    conn: sa.Connection,
    workspace_id: int,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Return the workspace's send-API messages, newest first (keyset: pass the last id)."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit", value=limit)
    if status is not None and status not in STATUSES:
        raise ValidationFailed("unknown status", field="status", value=status, allowed=STATUSES)
    q = sa.select(messages).where(
        messages.c.workspace_id == workspace_id, messages.c.campaign_id.is_(None)
    )
    if status is not None:
        q = q.where(messages.c.status == status)
    if before_id is not None:
        q = q.where(messages.c.id < before_id)
    rows = conn.execute(q.order_by(messages.c.id.desc()).limit(limit)).mappings()
    return [public_message(dict(r)) for r in rows]
