"""Helpers of the social-loop tests: an account, activity rows as a fetcher stores them."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.social.tables import social_accounts, social_activities

_seq = itertools.count(1)


def account(engine: Engine, workspace_id: int, platform: str = "mastodon") -> int:
    """Store a connected account and return its id."""
    now = utcnow()
    with engine.begin() as conn:
        return int(
            conn.execute(
                social_accounts.insert()
                .values(
                    workspace_id=workspace_id,
                    name=f"{platform}-{next(_seq)}",
                    platform=platform,
                    handle="acme",
                    settings={},
                    secrets={},
                    created_at=now,
                    updated_at=now,
                )
                .returning(social_accounts.c.id)
            ).scalar_one()
        )


def activity(
    engine: Engine,
    workspace_id: int,
    account_id: int,
    kind: str,
    handle: str,
    *,
    platform: str = "mastodon",
    author_id: str | None = None,
    text: str | None = None,
    mentions: tuple[str, ...] = (),
    in_reply_to: str | None = None,
    at: datetime | None = None,
    fetched_at: datetime | None = None,
    activity_id: str | None = None,
) -> int:
    """Store one fetched activity row and return its id."""
    now = utcnow()
    with engine.begin() as conn:
        return int(
            conn.execute(
                social_activities.insert()
                .values(
                    workspace_id=workspace_id,
                    account_id=account_id,
                    platform=platform,
                    kind=kind,
                    activity_id=activity_id or f"a{next(_seq)}",
                    author_id=author_id or f"uid-{handle}",
                    author_handle=handle,
                    author_name=handle.title(),
                    text=text,
                    post_id="p1",
                    in_reply_to=in_reply_to,
                    mentions=list(mentions),
                    at=at or now - timedelta(minutes=1),
                    raw={},
                    fetched_at=fetched_at or now - timedelta(minutes=5),
                )
                .returning(social_activities.c.id)
            ).scalar_one()
        )


def contact(engine: Engine, workspace_id: int, phone: str, **extra: Any) -> int:
    """Store a contact with a phone and return its id."""
    now = utcnow()
    with engine.begin() as conn:
        return int(
            conn.execute(
                contacts.insert()
                .values(
                    workspace_id=workspace_id,
                    phone=phone,
                    attributes={},
                    created_at=now,
                    updated_at=now,
                    **extra,
                )
                .returning(contacts.c.id)
            ).scalar_one()
        )
