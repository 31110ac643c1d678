"""The posts queue: create posts (checked against the platform's limits), publish due ones,
and fetch each account's activity into ``social_activities``.

Publishing never posts twice after a crash. A due post is claimed by a conditional UPDATE to
``publishing`` with a fresh token before the platform is called; only the holder of the token
may record the outcome. A post left in ``publishing`` past :data:`LEASE` was interrupted
mid-call: on a platform with an idempotency key (Mastodon's ``Idempotency-Key``, keyed on the
post id) it is simply tried again, since the platform returns the first status for a repeated
key; elsewhere it becomes ``uncertain`` and waits for a person to check the account and
``retry`` or ``cancel`` it.

A post with ``campaign_id`` and no ``scheduled_at`` is a step of that campaign: it is due when
the campaign is launched (``campaigns.launched_at``), so the campaigns code needs no hook.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets as pysecrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.campaigns.tables import campaigns
from clarion.channels.social.base import (
    Activity,
    PlatformError,
    SocialAdapter,
    SocialImage,
    SocialPost,
    check_post,
)
from clarion.channels.social.registry import adapter_class
from clarion.db.engine import is_sqlite
from clarion.db.types import utcnow
from clarion.errors import AuthError, Conflict, NotFound, ValidationFailed
from clarion.social.accounts import account_row, adapter_for
from clarion.social.tables import social_accounts, social_activities, social_posts

log = logging.getLogger("clarion.social")

#: A claim older than this was interrupted (a publish call never takes this long).
LEASE = timedelta(minutes=5)
#: Transient failures are retried this many times, then the post fails.
MAX_ATTEMPTS = 5
#: How long to wait before retrying a transient failure with no Retry-After of its own.
RETRY_BACKOFF = timedelta(minutes=2)

TransportFor = Callable[[Any], httpx.AsyncBaseTransport | None]


def redact(message: str, secrets: Any) -> str:
    """Return ``message`` with every secret value of the account masked (tokens can sit in URLs)."""
    for value in dict(secrets).values():
        if isinstance(value, str) and len(value) >= 4:
            message = message.replace(value, "***")
    return message


def _images(images: list[dict[str, Any]]) -> tuple[SocialImage, ...]:
    out = []
    for i, img in enumerate(images):
        try:
            data = base64.b64decode(img["data_b64"], validate=True)
        except (KeyError, ValueError) as exc:
            raise ValidationFailed(
                f"images[{i}]: data_b64 must be base64", field=f"images[{i}].data_b64"
            ) from exc
        out.append(SocialImage(data, str(img.get("mime_type", "")), str(img.get("alt", ""))))
    return tuple(out)


def _post_of(row: Any) -> SocialPost:
    return SocialPost(
        text=row.text,
        link=row.link,
        images=_images(list(row.images)),
        title=row.title,
        idempotency_key=f"clarion-social-post-{row.id}",
    )


def public(row: Any) -> dict[str, Any]:
    """Return a post as the API shows it (images by type and size, not their bytes)."""
    return {
        "id": int(row.id),
        "account_id": int(row.account_id),
        "campaign_id": row.campaign_id,
        "status": row.status,
        "text": row.text,
        "link": row.link,
        "title": row.title,
        "images": [
            {
                "mime_type": i.get("mime_type"),
                "alt": i.get("alt", ""),
                "bytes": len(i["data_b64"]) * 3 // 4,
            }
            for i in row.images
        ],
        "scheduled_at": row.scheduled_at,
        "attempts": row.attempts,
        "platform_post_id": row.platform_post_id,
        "url": row.url,
        "error_code": row.error_code,
        "error": row.error,
        "published_at": row.published_at,
        "created_at": row.created_at,
    }


def create_post(
    conn: sa.Connection,
    actor: Actor,
    account: str,
    text: str,
    *,
    link: str | None = None,
    title: str | None = None,
    images: list[dict[str, Any]] | None = None,
    scheduled_at: datetime | None = None,
    campaign_id: int | None = None,
    draft: bool = False,
) -> dict[str, Any]:
    """Queue a post for ``account``; refuse it naming every limit it breaks.

    Without ``scheduled_at`` (and without a campaign) it is due now; with ``campaign_id`` and no
    time it waits for the campaign's launch; ``draft`` keeps it out of the queue.
    """
    acc = account_row(conn, actor.workspace_id, account)
    if scheduled_at is not None and scheduled_at.tzinfo is None:
        raise ValidationFailed(
            "scheduled_at needs a time zone", field="scheduled_at", value=str(scheduled_at)
        )
    if campaign_id is not None:
        found = conn.execute(
            sa.select(campaigns.c.id).where(
                campaigns.c.id == campaign_id, campaigns.c.workspace_id == actor.workspace_id
            )
        ).first()
        if found is None:
            raise NotFound(f"no campaign {campaign_id}", field="campaign_id", value=campaign_id)
    imgs = list(images or [])
    post = SocialPost(text=text, link=link, images=_images(imgs), title=title)
    limits = adapter_class(acc.platform).limits_for(dict(acc.settings))
    problems = check_post(limits, post)
    if problems:
        first = problems[0]
        raise ValidationFailed(
            f"{acc.platform} post: "
            + "; ".join(f"{p.field}: {p.message} (got {p.value!r})" for p in problems),
            field=first.field,
            value=first.value,
            problems=[p.as_dict() for p in problems],
        )
    if not draft and scheduled_at is None and campaign_id is None:
        scheduled_at = utcnow()
    now = utcnow()
    new_id = conn.execute(
        social_posts.insert()
        .values(
            workspace_id=actor.workspace_id,
            account_id=acc.id,
            campaign_id=campaign_id,
            status="draft" if draft else "scheduled",
            text=text,
            link=link,
            title=title,
            images=imgs,
            scheduled_at=scheduled_at,
            attempts=0,
            created_at=now,
            created_by=actor.name,
        )
        .returning(social_posts.c.id)
    ).scalar_one()
    record(
        conn,
        actor,
        "social_post.create",
        "social_post",
        new_id,
        {
            "account": account,
            "campaign_id": campaign_id,
            "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
        },
    )
    return get_post(conn, actor.workspace_id, new_id)


def _post_row(conn: sa.Connection, workspace_id: int, post_id: int) -> Any:
    row = conn.execute(
        sa.select(social_posts).where(
            social_posts.c.id == post_id, social_posts.c.workspace_id == workspace_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no social post {post_id}", field="post_id", value=post_id)
    return row


def get_post(conn: sa.Connection, workspace_id: int, post_id: int) -> dict[str, Any]:
    """Return post ``post_id``."""
    return public(_post_row(conn, workspace_id, post_id))


def list_posts(
    conn: sa.Connection, workspace_id: int, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the workspace's posts, newest first."""
    q = sa.select(social_posts).where(social_posts.c.workspace_id == workspace_id)
    if status:
        q = q.where(social_posts.c.status == status)
    return [public(r) for r in conn.execute(q.order_by(social_posts.c.id.desc()).limit(limit))]


def set_post_status(conn: sa.Connection, actor: Actor, post_id: int, action: str) -> dict[str, Any]:
    """``cancel`` a post not yet published, or ``retry`` a failed or uncertain one now."""
    row = _post_row(conn, actor.workspace_id, post_id)
    allowed = {
        "cancel": ("draft", "scheduled", "failed", "uncertain"),
        "retry": ("failed", "uncertain", "draft"),
    }
    if action not in allowed:
        raise ValidationFailed("action is cancel or retry", field="action", value=action)
    if row.status not in allowed[action]:
        raise Conflict(
            f"a {row.status} post cannot be {action}ed", field="status", value=row.status
        )
    values: dict[str, Any] = (
        {"status": "cancelled"}
        if action == "cancel"
        else {"status": "scheduled", "scheduled_at": utcnow(), "error": None, "error_code": None}
    )
    conn.execute(social_posts.update().where(social_posts.c.id == row.id).values(**values))
    record(conn, actor, f"social_post.{action}", "social_post", row.id, {})
    return get_post(conn, actor.workspace_id, post_id)


def _recover_interrupted(engine: Engine, now: datetime) -> None:
    """Retry (idempotent platforms) or mark uncertain the posts whose claim expired."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(social_posts.c.id, social_accounts.c.platform)
            .join(social_accounts, social_accounts.c.id == social_posts.c.account_id)
            .where(social_posts.c.status == "publishing", social_posts.c.claimed_at < now - LEASE)
        ).all()
        for post_id, platform in rows:
            idempotent = bool(getattr(adapter_class(platform), "idempotent", False))
            values: dict[str, Any] = (
                {"status": "scheduled", "claim_token": None}
                if idempotent
                else {
                    "status": "uncertain",
                    "claim_token": None,
                    "error_code": "interrupted",
                    "error": "publishing was interrupted; check the account, then retry or cancel",
                }
            )
            conn.execute(
                social_posts.update()
                .where(social_posts.c.id == post_id, social_posts.c.status == "publishing")
                .values(**values)
            )


def _claim_due(engine: Engine, now: datetime, limit: int) -> list[tuple[int, str]]:
    """Claim up to ``limit`` due posts; return (post id, claim token) of each one won."""
    launched = (
        sa.select(campaigns.c.launched_at)
        .where(campaigns.c.id == social_posts.c.campaign_id)
        .scalar_subquery()
    )
    due = sa.or_(
        social_posts.c.scheduled_at <= now,
        sa.and_(
            social_posts.c.scheduled_at.is_(None),
            social_posts.c.campaign_id.is_not(None),
            launched <= now,
        ),
    )
    with engine.connect() as conn:
        ids = (
            conn.execute(
                sa.select(social_posts.c.id)
                .where(social_posts.c.status == "scheduled", due)
                .order_by(social_posts.c.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    won: list[tuple[int, str]] = []
    for post_id in ids:
        token = pysecrets.token_hex(16)
        with engine.begin() as conn:
            hit = conn.execute(
                social_posts.update()
                .where(social_posts.c.id == post_id, social_posts.c.status == "scheduled")
                .values(
                    status="publishing",
                    claim_token=token,
                    claimed_at=now,
                    attempts=social_posts.c.attempts + 1,
                )
            ).rowcount
        if hit == 1:
            won.append((int(post_id), token))
    return won


async def _publish_one(adapter: SocialAdapter, post: SocialPost) -> dict[str, Any]:
    load = getattr(adapter, "load_limits", None)
    if load is not None:
        await load()
    problems = check_post(adapter.limits, post)
    if problems:
        return {
            "status": "failed",
            "error_code": "limits",
            "error": "; ".join(f"{p.field}: {p.message}" for p in problems),
        }
    try:
        pub = await adapter.publish(post)
    except PlatformError as exc:
        return {
            "status": "retry" if exc.retry else "failed",
            "error_code": exc.code,
            "error": exc.message,
            "retry_after": exc.retry_after,
        }
    return {
        "status": "published",
        "platform_post_id": pub.post_id,
        "url": pub.url,
        "published_at": pub.at,
        "error_code": None,
        "error": None,
    }


def publish_due(
    engine: Engine,
    *,
    now: datetime | None = None,
    limit: int = 20,
    transport_for: TransportFor | None = None,
) -> dict[str, int]:
    """Publish posts that are due; return counts by outcome."""
    now = now or utcnow()
    _recover_interrupted(engine, now)
    counts: dict[str, int] = {}
    for post_id, token in _claim_due(engine, now, limit):
        with engine.connect() as conn:
            row = conn.execute(sa.select(social_posts).where(social_posts.c.id == post_id)).one()
            acc = conn.execute(
                sa.select(social_accounts).where(social_accounts.c.id == row.account_id)
            ).one()
        outcome = asyncio.run(_publish_with(acc, _post_of(row), transport_for))
        status = outcome.pop("status")
        retry_after = outcome.pop("retry_after", None)
        if status == "retry":
            if row.attempts >= MAX_ATTEMPTS:
                status = "failed"
            else:
                status = "scheduled"
                wait = timedelta(seconds=retry_after) if retry_after else RETRY_BACKOFF
                outcome["scheduled_at"] = utcnow() + wait
        with engine.begin() as conn:
            conn.execute(
                social_posts.update()
                .where(social_posts.c.id == post_id, social_posts.c.claim_token == token)
                .values(status=status, claim_token=None, **outcome)
            )
        counts[status] = counts.get(status, 0) + 1
    return counts


async def _publish_with(
    acc: Any, post: SocialPost, transport_for: TransportFor | None
) -> dict[str, Any]:
    adapter = adapter_for(acc, transport_for(acc) if transport_for else None)
    try:
        outcome = await _publish_one(adapter, post)
        if outcome.get("error"):
            outcome["error"] = redact(str(outcome["error"]), acc.secrets)
        return outcome
    except Exception as exc:  # a bug or a network failure: keep the post, retry later
        message = redact(str(exc), acc.secrets)
        log.warning("social post publish failed: %s: %s", type(exc).__name__, message)
        return {"status": "retry", "error_code": type(exc).__name__, "error": message[:500]}
    finally:
        await adapter.close()


def store_activities(
    conn: sa.Connection, workspace_id: int, account_id: int, items: list[Activity]
) -> int:
    """Insert fetched activity, skipping what is already stored; return how many were new."""
    if not items:
        return 0
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "account_id": account_id,
            "platform": a.platform,
            "kind": a.kind,
            "activity_id": a.activity_id,
            "author_id": a.author_id,
            "author_handle": a.author_handle,
            "author_name": a.author_name,
            "text": a.text,
            "post_id": a.post_id,
            "in_reply_to": a.in_reply_to,
            "mentions": list(a.mentions),
            "at": a.at,
            "raw": a.raw,
            "fetched_at": now,
        }
        for a in items
    ]
    ins = sqlite_insert(social_activities) if is_sqlite(conn) else pg_insert(social_activities)
    stmt = ins.on_conflict_do_nothing(index_elements=["account_id", "activity_id"]).returning(
        social_activities.c.id
    )
    return len(conn.execute(stmt, rows).all())


def fetch_account(
    engine: Engine,
    account_id: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Fetch one account's activity after its cursor, store it, move the cursor; return new rows."""
    with engine.connect() as conn:
        acc = conn.execute(
            sa.select(social_accounts).where(social_accounts.c.id == account_id)
        ).one()
    try:
        items, cursor = asyncio.run(_fetch_with(acc, transport))
    except (PlatformError, httpx.HTTPError) as exc:
        message = redact(f"{type(exc).__name__}: {exc}", acc.secrets)
        with engine.begin() as conn:
            conn.execute(
                social_accounts.update()
                .where(social_accounts.c.id == account_id)
                .values(last_error=message[:1000], last_fetched_at=utcnow())
            )
        raise PlatformError(acc.platform, "fetch_failed", message, retry=True) from exc
    with engine.begin() as conn:
        new = store_activities(conn, acc.workspace_id, acc.id, items)
        # Only move the cursor this fetch started from: a concurrent fetch keeps its own.
        conn.execute(
            social_accounts.update()
            .where(
                social_accounts.c.id == account_id,
                social_accounts.c.cursor.is_(None)
                if acc.cursor is None
                else social_accounts.c.cursor == acc.cursor,
            )
            .values(cursor=cursor, last_fetched_at=utcnow(), last_error=None)
        )
    return new


async def _fetch_with(
    acc: Any, transport: httpx.AsyncBaseTransport | None
) -> tuple[list[Activity], str | None]:
    adapter = adapter_for(acc, transport)
    try:
        return await adapter.fetch_activity(acc.cursor)
    finally:
        await adapter.close()


def fetch_all(engine: Engine, workspace_id: int | None = None) -> dict[str, int]:
    """Fetch every enabled account's activity; return new rows per account name."""
    q = sa.select(social_accounts.c.id, social_accounts.c.name).where(social_accounts.c.enabled)
    if workspace_id is not None:
        q = q.where(social_accounts.c.workspace_id == workspace_id)
    with engine.connect() as conn:
        accounts = conn.execute(q).all()
    out: dict[str, int] = {}
    for account_id, name in accounts:
        try:
            out[name] = fetch_account(engine, int(account_id))
        except PlatformError as exc:
            log.warning("social fetch failed for %s: %s", name, exc.message)
            out[name] = 0
    return out


def _wechat_account(conn: sa.Connection, account_id: int) -> Any:
    row = conn.execute(
        sa.select(social_accounts).where(
            social_accounts.c.id == account_id, social_accounts.c.platform == "wechat_oa"
        )
    ).first()
    if row is None:
        raise NotFound(f"no WeChat account {account_id}", field="account", value=account_id)
    return row


def _check_wechat_signature(row: Any, signature: str, timestamp: str, nonce: str) -> None:
    from clarion.channels.social.wechat import verify_push

    token = str(dict(row.secrets).get("webhook_token") or "")
    if not token or not verify_push(token, signature, timestamp, nonce):
        raise AuthError("WeChat push signature does not match", field="signature")


def wechat_handshake(
    conn: sa.Connection, account_id: int, signature: str, timestamp: str, nonce: str, echostr: str
) -> str:
    """Return ``echostr`` when the server-address check is signed with the account's token."""
    _check_wechat_signature(_wechat_account(conn, account_id), signature, timestamp, nonce)
    return echostr


def wechat_push(
    conn: sa.Connection, account_id: int, signature: str, timestamp: str, nonce: str, body: bytes
) -> int:
    """Store the activity of a signed XML push; return 1 if it was new, 0 otherwise."""
    from clarion.channels.social.wechat import parse_push

    row = _wechat_account(conn, account_id)
    _check_wechat_signature(row, signature, timestamp, nonce)
    try:
        activity = parse_push(row.name, body)
    except (ET.ParseError, ValueError) as exc:
        raise ValidationFailed(f"WeChat push is not valid XML: {exc}", field="body") from None
    if activity is None:
        return 0
    return store_activities(conn, row.workspace_id, row.id, [activity])
