"""Signed per-contact preference links: the token is the only authority, no login.

A token is ``<workspace>.<contact>.<signature>``, the signature an HMAC-SHA256 of the ids with
the workspace's own key (``preference_keys``, made on first use). The standard library's
``hmac`` does all that is needed here (a signature and a constant-time compare), so no
dependency is added for it. Links never expire: an unsubscribe link in a message sent months
ago must still work (CAN-SPAM asks for at least 30 days; people expect forever). The form on
the page carries a second, short-lived signature (:func:`form_token`) so that a form posted
from another site without the page having been loaded is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.db.types import utcnow
from clarion.errors import NotFound, ValidationFailed
from clarion.preferences.tables import preference_keys

#: How long a loaded page's form stays valid.
FORM_TTL_S = 24 * 3600
PATH = "/v1/preferences/"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def workspace_key(conn: sa.Connection, workspace_id: int) -> bytes:
    """Return the workspace's signing key, creating it on first use (race-safe)."""
    t = preference_keys
    found = conn.execute(sa.select(t.c.secret).where(t.c.workspace_id == workspace_id)).scalar()
    if found is None:
        ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(t)
        conn.execute(
            ins.values(
                workspace_id=workspace_id, secret=secrets.token_urlsafe(32), created_at=utcnow()
            ).on_conflict_do_nothing(index_elements=["workspace_id"])
        )
        found = conn.execute(
            sa.select(t.c.secret).where(t.c.workspace_id == workspace_id)
        ).scalar_one()
    return str(found).encode()


def _sign(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def make_token(key: bytes, workspace_id: int, contact_id: int) -> str:
    """Return the link token of ``contact_id`` signed with ``key``."""
    ids = f"{workspace_id}.{contact_id}"
    return f"{ids}.{_sign(key, 'pref:' + ids)}"


def contact_token(conn: sa.Connection, workspace_id: int, contact_id: int) -> str:
    """Return the link token of a contact of the workspace."""
    return make_token(workspace_key(conn, workspace_id), workspace_id, contact_id)


def read_token(conn: sa.Connection, token: str) -> tuple[int, int]:
    """Return (workspace, contact) of a valid token; raise NotFound for anything else.

    Every failure looks the same to the caller, so a guesser learns nothing about which ids
    exist.
    """
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise NotFound("this preference link is not valid", field="token")
    ws, contact = int(parts[0]), int(parts[1])
    key = conn.execute(
        sa.select(preference_keys.c.secret).where(preference_keys.c.workspace_id == ws)
    ).scalar()
    expected = make_token(str(key).encode(), ws, contact) if key is not None else ""
    if not key or not hmac.compare_digest(expected.encode(), token.encode()):
        raise NotFound("this preference link is not valid", field="token")
    return ws, contact


def preference_url(conn: sa.Connection, workspace_id: int, contact_id: int) -> str:
    """Return the absolute preference link of a contact (email List-Unsubscribe uses it)."""
    from clarion.inbound.settings import get_settings

    base = str(get_settings(conn, workspace_id)["public_url"]).rstrip("/")
    return base + PATH + contact_token(conn, workspace_id, contact_id)


def form_token(key: bytes, token: str, now: float | None = None) -> str:
    """Return the form's anti-forgery value for the page of ``token``, stamped ``now``."""
    stamp = str(int(now if now is not None else time.time()))
    return f"{stamp}.{_sign(key, 'form:' + token + ':' + stamp)}"


def check_form_token(key: bytes, token: str, value: str, now: float | None = None) -> None:
    """Raise ValidationFailed unless ``value`` was issued for this page within FORM_TTL_S."""
    stamp, _, _sig = value.partition(".")
    at = now if now is not None else time.time()
    fresh = stamp.isdigit() and 0 <= at - int(stamp) <= FORM_TTL_S
    if not fresh or not hmac.compare_digest(form_token(key, token, int(stamp)), value):
        raise ValidationFailed(
            "the form has expired or did not come from this page: reload it and try again",
            field="csrf",
        )
