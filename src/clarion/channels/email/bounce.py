"""Bounces: read a delivery status notification (RFC 3464) and find the message it is about.

A DSN is ``multipart/report; report-type=delivery-status``: a human part, a
``message/delivery-status`` part (per-recipient ``Action`` and ``Status``), and the returned
message or its headers, whose ``Message-ID`` is the one we gave (our provider id). ``Action:
failed`` with a 5.x.x status is a final failure; ``delayed`` (4.x.x) is not final.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message

from clarion.channels.base import Receipt
from clarion.channels.http.base import now_utc


def _status_fields(part: Message) -> list[Message]:
    """Return the per-message and per-recipient field groups of a delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = part.get_payload(decode=True) or b""
    blocks = bytes(text).replace(b"\r\n", b"\n").split(b"\n\n")
    return [message_from_bytes(b) for b in blocks if b.strip()]


def parse_dsn(raw: bytes, *, connector: str | None = None) -> Receipt | None:
    """Return a receipt for the bounced message, or None if ``raw`` is not a usable DSN."""
    msg = message_from_bytes(raw, policy=policy.compat32)
    if msg.get_content_type() != "multipart/report":
        return None
    action = status = ""
    message_id = ""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for group in _status_fields(part):
                action = action or str(group.get("Action", "")).strip().lower()
                status = status or str(group.get("Status", "")).strip()
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                message_id = str(inner[0].get("Message-ID", ""))
            else:
                text = part.get_payload(decode=True) or b""
                message_id = str(message_from_bytes(bytes(text)).get("Message-ID", ""))
    message_id = message_id.strip().strip("<>")
    if not message_id or action not in ("failed", "delayed"):
        return None
    final = action == "failed"
    return Receipt(
        message_id,
        "UNDELIV" if final else "ENROUTE",
        final=final,
        error=status or None,
        done_at=now_utc(),
        connector=connector,
    )
