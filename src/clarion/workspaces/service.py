"""Workspaces and API keys.

API keys are random 32-byte tokens shown once; only their SHA-256 is stored. A plain hash (not a
slow password hash) is right here because the token has 256 bits of entropy: nothing to
brute-force, and the lookup on every request must be fast.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import AuthError, NotFound, ValidationFailed
from clarion.workspaces.tables import api_keys, workspaces

DEFAULT_SLUG = "default"

#: Scopes an API key may hold. ``admin`` implies every other.
SCOPES = frozenset(
    {
        "admin",
        "contacts:read",
        "contacts:write",
        "events:write",
        "consent:read",
        "consent:write",
        "imports:write",
        "segments:read",
        "segments:write",
        "templates:write",
        "campaigns:read",
        "campaigns:write",
        "messages:send",
        "messages:read",
        "reports:read",
        "webhooks:write",
    }
)
KEY_PREFIX = "clk_"


def ensure_workspace(
    conn: sa.Connection,
    slug: str = DEFAULT_SLUG,
    *,
    name: str | None = None,
    default_region: str = "US",
    timezone: str = "UTC",
) -> int:
    """Return the id of workspace ``slug``, creating it if it does not exist (idempotent)."""
    found = conn.execute(sa.select(workspaces.c.id).where(workspaces.c.slug == slug)).scalar()
    if found is not None:
        return int(found)
    ws_id = conn.execute(
        workspaces.insert()
        .values(
            slug=slug,
            name=name or slug.title(),
            default_region=default_region,
            timezone=timezone,
            settings={},
            created_at=utcnow(),
        )
        .returning(workspaces.c.id)
    ).scalar_one()
    record(conn, Actor.system(int(ws_id), "init"), "workspace.create", "workspace", ws_id)
    return int(ws_id)


def get_workspace(conn: sa.Connection, slug: str) -> sa.Row[Any]:
    """Return workspace ``slug`` or raise NotFound."""
    row = conn.execute(sa.select(workspaces).where(workspaces.c.slug == slug)).first()
    if row is None:
        raise NotFound(f"no workspace {slug!r}", field="workspace", value=slug)
    return row


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(
    conn: sa.Connection, actor: Actor, name: str, scopes: list[str]
) -> tuple[int, str]:
    """Create an API key in the actor's workspace; return its id and the token (shown once)."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise ValidationFailed(
            f"unknown scope(s): {', '.join(unknown)}" if unknown else "at least one scope needed",
            field="scopes",
            value=scopes,
            allowed=sorted(SCOPES),
        )
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = conn.execute(
        api_keys.insert()
        .values(
            workspace_id=actor.workspace_id,
            name=name,
            prefix=token[:10],
            key_hash=_hash(token),
            scopes=sorted(set(scopes)),
            created_at=utcnow(),
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    record(conn, actor, "apikey.create", "api_key", key_id, {"name": name, "scopes": scopes})
    return int(key_id), token


def revoke_api_key(conn: sa.Connection, actor: Actor, key_id: int) -> None:
    """Revoke an API key of the actor's workspace."""
    res = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.workspace_id == actor.workspace_id)
        .values(revoked_at=utcnow())
    )
    if res.rowcount == 0:
        raise NotFound(f"no API key {key_id}", field="id", value=key_id)
    record(conn, actor, "apikey.revoke", "api_key", key_id)


def list_api_keys(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's keys without their hashes."""
    rows = conn.execute(
        sa.select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.prefix,
            api_keys.c.scopes,
            api_keys.c.created_at,
            api_keys.c.last_used_at,
            api_keys.c.revoked_at,
        )
        .where(api_keys.c.workspace_id == workspace_id)
        .order_by(api_keys.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def authenticate(conn: sa.Connection, token: str) -> Actor:
    """Return the actor for a bearer token, or raise AuthError."""
    row = conn.execute(
        sa.select(api_keys.c.id, api_keys.c.workspace_id, api_keys.c.scopes).where(
            api_keys.c.key_hash == _hash(token), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        raise AuthError("unknown or revoked API key")
    return Actor(int(row.workspace_id), "apikey", str(row.id), frozenset(row.scopes))


def require_scope(actor: Actor, scope: str) -> None:
    """Raise PermissionDenied unless the actor holds ``scope`` (or ``admin``)."""
    from clarion.errors import PermissionDenied

    if scope not in actor.scopes and "admin" not in actor.scopes:
        raise PermissionDenied(f"this key lacks the scope {scope!r}", scope=scope)
