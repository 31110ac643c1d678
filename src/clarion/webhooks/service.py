"""Webhook endpoints, the callback signing key, and reading and replaying deliveries.

An endpoint is a URL of the customer's with its own secret and the event types it wants
(``message.delivered``, ``message.failed`` ... for send-API messages, ``campaign_message.*``
for campaign messages, ``*`` for everything). A per-message ``callback_url`` gets every event
of its message, signed with the workspace's callback key. These functions are the only
writers of the webhook tables besides the collector and the sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import NotFound, ValidationFailed
from clarion.webhooks.signing import new_secret
from clarion.webhooks.tables import webhook_deliveries, webhook_endpoints, webhook_signing_keys

#: Status events of a message; campaign messages use the ``campaign_message.`` prefix.
EVENTS = (
    "queued",
    "submitted",
    "delivered",
    "failed",
    "expired",
    "retrying",
    "uncertain",
    "cancelled",
)
EVENT_TYPES = tuple(f"{p}.{e}" for p in ("message", "campaign_message") for e in EVENTS)
DELIVERY_STATUSES = ("pending", "sending", "delivered", "dead")


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise ValidationFailed("a webhook URL is http(s) and at most 2000 characters", field="url")
    return url


def _check_events(events: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(events))
    if not out:
        raise ValidationFailed("name at least one event type (or '*')", field="events")
    for e in out:
        if e != "*" and e not in EVENT_TYPES:
            raise ValidationFailed(
                f"unknown event type {e!r}", field="events", value=e, allowed=["*", *EVENT_TYPES]
            )
    return out


def create_endpoint(
    conn: sa.Connection,
    actor: Actor,
    url: str,
    events: Sequence[str] = ("*",),
    *,
    description: str | None = None,
) -> dict[str, Any]:
    """Create an endpoint with a new secret; return it, secret included (shown this once)."""
    now = utcnow()
    values = {
        "workspace_id": actor.workspace_id,
        "url": _check_url(url),
        "secret": new_secret(),
        "events": _check_events(events),
        "description": (description or "")[:200] or None,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }
    eid = int(
        conn.execute(
            webhook_endpoints.insert().values(**values).returning(webhook_endpoints.c.id)
        ).scalar_one()
    )
    record(conn, actor, "webhook.create", "webhook_endpoint", eid, {"url": url, "events": events})
    return {**_endpoint({**values, "id": eid}), "secret": values["secret"]}


def _endpoint(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "url": row["url"],
        "events": list(row["events"]),
        "description": row["description"],
        "active": bool(row["active"]),
        "created_at": row["created_at"].isoformat(),
    }


def _get(conn: sa.Connection, workspace_id: int, endpoint_id: int) -> Any:
    row = (
        conn.execute(
            sa.select(webhook_endpoints).where(
                webhook_endpoints.c.workspace_id == workspace_id,
                webhook_endpoints.c.id == endpoint_id,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}", field="endpoint_id", value=endpoint_id)
    return row


def list_endpoints(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's endpoints (without their secrets)."""
    rows = conn.execute(
        sa.select(webhook_endpoints)
        .where(webhook_endpoints.c.workspace_id == workspace_id)
        .order_by(webhook_endpoints.c.id)
    ).mappings()
    return [_endpoint(r) for r in rows]


def update_endpoint(
    conn: sa.Connection,
    actor: Actor,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> dict[str, Any]:
    """Change an endpoint; with ``rotate_secret`` return the new secret (shown this once)."""
    _get(conn, actor.workspace_id, endpoint_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if url is not None:
        values["url"] = _check_url(url)
    if events is not None:
        values["events"] = _check_events(events)
    if active is not None:
        values["active"] = active
    if rotate_secret:
        values["secret"] = new_secret()
    conn.execute(
        webhook_endpoints.update().where(webhook_endpoints.c.id == endpoint_id).values(**values)
    )
    changed = {k: v for k, v in values.items() if k not in ("secret", "updated_at")}
    record(
        conn,
        actor,
        "webhook.update",
        "webhook_endpoint",
        endpoint_id,
        {**changed, "rotated": rotate_secret},
    )
    out = _endpoint(_get(conn, actor.workspace_id, endpoint_id))
    return {**out, "secret": values["secret"]} if rotate_secret else out


def delete_endpoint(conn: sa.Connection, actor: Actor, endpoint_id: int) -> None:
    """Delete an endpoint and its deliveries."""
    _get(conn, actor.workspace_id, endpoint_id)
    conn.execute(webhook_deliveries.delete().where(webhook_deliveries.c.endpoint_id == endpoint_id))
    conn.execute(webhook_endpoints.delete().where(webhook_endpoints.c.id == endpoint_id))
    record(conn, actor, "webhook.delete", "webhook_endpoint", endpoint_id)


def callback_secret(conn: sa.Connection, workspace_id: int) -> str:
    """Return the workspace's key for signing ``callback_url`` deliveries (made on first use)."""
    found = conn.execute(
        sa.select(webhook_signing_keys.c.secret).where(
            webhook_signing_keys.c.workspace_id == workspace_id
        )
    ).scalar()
    if found is not None:
        return str(found)
    secret = new_secret()
    try:
        with conn.begin_nested():
            conn.execute(
                webhook_signing_keys.insert().values(
                    workspace_id=workspace_id, secret=secret, created_at=utcnow()
                )
            )
    except sa.exc.IntegrityError:  # made at the same moment elsewhere: use that one
        return callback_secret(conn, workspace_id)
    return secret


def _delivery(row: Any) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return None if v is None else v.isoformat()

    return {
        "id": int(row["id"]),
        "endpoint_id": row["endpoint_id"],
        "url": row["url"],
        "message_id": int(row["message_id"]),
        "event": row["event"],
        "event_id": row["event_id"],
        "status": row["status"],
        "attempts": int(row["attempts"]),
        "next_attempt_at": iso(row["next_attempt_at"]),
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "created_at": iso(row["created_at"]),
        "delivered_at": iso(row["delivered_at"]),
    }


def list_deliveries(
    conn: sa.Connection,
    workspace_id: int,
    *,
    status: str | None = None,
    endpoint_id: int | None = None,
    message_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return deliveries, newest first, filtered by status, endpoint or message."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationFailed(
            "unknown delivery status", field="status", value=status, allowed=DELIVERY_STATUSES
        )
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be 1-1000", field="limit", value=limit)
    t = webhook_deliveries
    q = sa.select(t).where(t.c.workspace_id == workspace_id)
    for col, value in ((t.c.status, status), (t.c.endpoint_id, endpoint_id)):
        if value is not None:
            q = q.where(col == value)
    if message_id is not None:
        q = q.where(t.c.message_id == message_id)
    return [_delivery(r) for r in conn.execute(q.order_by(t.c.id.desc()).limit(limit)).mappings()]


def replay(
    conn: sa.Connection,
    actor: Actor,
    *,
    ids: Sequence[int] = (),
    endpoint_id: int | None = None,
    status: str = "dead",
    since: datetime | None = None,
) -> int:
    """Queue deliveries again with a fresh try count: the given ids (any status but
    ``sending``), or every one of ``status`` (of one endpoint, since a time); return how many.

    The receiver sees the same event id again, which is how it tells a replay from news.
    """
    t = webhook_deliveries
    where: list[sa.ColumnElement[bool]] = [
        t.c.workspace_id == actor.workspace_id,
        t.c.status != "sending",
    ]
    if ids:
        where.append(t.c.id.in_(list(ids)))
    else:
        if status not in DELIVERY_STATUSES:
            raise ValidationFailed(
                "unknown delivery status", field="status", value=status, allowed=DELIVERY_STATUSES
            )
        where.append(t.c.status == status)
        if endpoint_id is not None:
            where.append(t.c.endpoint_id == endpoint_id)
        if since is not None:
            where.append(t.c.created_at >= since)
    n = conn.execute(
        t.update()
        .where(*where)
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
            claimed_by=None,
            claimed_until=None,
            last_error=None,
        )
    ).rowcount
    record(
        conn,
        actor,
        "webhook.replay",
        "webhook_delivery",
        None,
        {"ids": list(ids), "endpoint_id": endpoint_id, "status": status, "count": n},
    )
    return int(n)
