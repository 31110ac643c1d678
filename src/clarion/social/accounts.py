"""Connect, list and remove social accounts; build an adapter for a stored account.

Credentials are per workspace and per account. Settings (instance URL, handle, safe domain)
and secrets (tokens, app passwords, OAuth keys) are stored in separate columns, like
``connectors`` does: the API and CLI show only which secrets are set (``secrets_set``), and the
audit log records their names, never their values.
"""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.channels.social.base import SocialAdapter
from clarion.channels.social.registry import adapter_class, make_adapter
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.social.tables import social_accounts


def _split(platform: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (settings, secrets) of ``values``, refusing unknown or missing names."""
    cls = adapter_class(platform)
    known = set(cls.SETTINGS) | set(cls.OPTIONAL) | set(cls.SECRETS)
    for key in values:
        if key not in known:
            raise ValidationFailed(
                f"{platform} account: unknown setting {key!r}; known: {', '.join(sorted(known))}",
                field=key,
            )
    required = getattr(cls, "REQUIRED_SECRETS", cls.SECRETS)
    for key in (*cls.SETTINGS, *required):
        if values.get(key) in (None, ""):
            raise ValidationFailed(f"{platform} account: {key} is required", field=key)
    settings = {k: v for k, v in values.items() if k not in cls.SECRETS and v is not None}
    secrets = {k: v for k, v in values.items() if k in cls.SECRETS and v is not None}
    check = getattr(cls, "check_secrets", None)
    problem = check(secrets) if check is not None else None
    if problem:
        raise ValidationFailed(problem, field="secrets", value=sorted(secrets))
    return settings, secrets


def public(row: Any) -> dict[str, Any]:
    """Return an account as the API shows it: secrets only by name."""
    return {
        "id": int(row.id),
        "name": row.name,
        "platform": row.platform,
        "handle": row.handle,
        "settings": dict(row.settings),
        "secrets_set": sorted(k for k, v in dict(row.secrets).items() if v not in (None, "")),
        "enabled": bool(row.enabled),
        "cursor": row.cursor,
        "last_fetched_at": row.last_fetched_at,
        "last_error": row.last_error,
        "created_at": row.created_at,
    }


def account_row(conn: sa.Connection, workspace_id: int, name: str) -> Any:
    """Return the stored row of account ``name`` (with secrets: for workers only)."""
    row = conn.execute(
        sa.select(social_accounts).where(
            social_accounts.c.workspace_id == workspace_id, social_accounts.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(f"no social account {name!r}", field="account", value=name)
    return row


def add_account(
    conn: sa.Connection,
    actor: Actor,
    name: str,
    platform: str,
    values: dict[str, Any],
    handle: str | None = None,
) -> dict[str, Any]:
    """Connect account ``name`` on ``platform`` with its settings and secrets."""
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("an account needs a name of 1-100 characters", field="name")
    settings, secrets = _split(platform, values)
    taken = conn.execute(
        sa.select(social_accounts.c.id).where(
            social_accounts.c.workspace_id == actor.workspace_id, social_accounts.c.name == name
        )
    ).first()
    if taken is not None:
        raise Conflict(f"a social account named {name!r} exists", field="name", value=name)
    now = utcnow()
    new_id = conn.execute(
        social_accounts.insert()
        .values(
            workspace_id=actor.workspace_id,
            name=name,
            platform=platform,
            handle=handle,
            settings=settings,
            secrets=secrets,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        .returning(social_accounts.c.id)
    ).scalar_one()
    record(
        conn,
        actor,
        "social_account.add",
        "social_account",
        new_id,
        {"platform": platform, "settings": settings, "secrets_set": sorted(secrets)},
    )
    return public(account_row(conn, actor.workspace_id, name))


def list_accounts(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's accounts by name, without secrets."""
    rows = conn.execute(
        sa.select(social_accounts)
        .where(social_accounts.c.workspace_id == workspace_id)
        .order_by(social_accounts.c.name)
    )
    return [public(r) for r in rows]


def remove_account(conn: sa.Connection, actor: Actor, name: str) -> None:
    """Remove account ``name`` (its posts and fetched activity go with it)."""
    row = account_row(conn, actor.workspace_id, name)
    conn.execute(social_accounts.delete().where(social_accounts.c.id == row.id))
    record(conn, actor, "social_account.remove", "social_account", row.id, {"name": name})


def adapter_for(row: Any, transport: httpx.AsyncBaseTransport | None = None) -> SocialAdapter:
    """Return an adapter for a stored account row."""
    return make_adapter(
        row.platform, row.name, dict(row.settings), dict(row.secrets), transport=transport
    )
