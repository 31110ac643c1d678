"""Sign and verify webhook deliveries: HMAC-SHA256 over ``timestamp + "." + body``.

The header is ``Clarion-Signature: t=<unix seconds>,v1=<hex digest>``, the scheme Stripe made
familiar: the timestamp is signed with the body, so a captured request cannot be replayed
later than the receiver's tolerance, and ``v1`` leaves room for a new scheme beside the old one
during a migration. The standard library's ``hmac`` is all this needs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Clarion-Signature"
TOLERANCE_S = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, too old or does not match."""


def new_secret() -> str:
    """Return a fresh signing secret (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """Return the ``Clarion-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a ``Clarion-Signature`` header against ``body``; return its timestamp.

    Raise :class:`SignatureError` when it is missing, malformed, older (or newer) than
    ``tolerance_s`` or matches no ``v1`` signature (compared in constant time).
    """
    if not header:
        raise SignatureError(f"no {HEADER} header")
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} item {item!r}")
        fields.setdefault(key, []).append(value)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{HEADER} has no valid t=") from None
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        raise SignatureError(f"timestamp {t} is outside the {tolerance_s} s tolerance")
    expected = signature(secret, t, body)
    if not any(hmac.compare_digest(expected, v) for v in fields.get("v1", [])):
        raise SignatureError("no v1 signature matches")
    return t
