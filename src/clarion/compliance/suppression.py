"""Suppression lists: addresses a workspace never messages, whatever consent says.

A row suppresses one address (E.164 phone or lower-cased email) on one channel or on every
channel (``*``), optionally until ``expires_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.compliance.tables import compliance_suppressions
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.errors import NotFound, ValidationFailed

CHANNELS = ("*", "sms", "email", "social")
CHUNK = 5000


@dataclass(frozen=True, slots=True)
class SuppressionIn:
    """One address to suppress; ``channel='*'`` suppresses it everywhere."""

    value: str
    reason: str = "manual"
    channel: str = "*"
    source: str = "manual"
    expires_at: datetime | None = None


def normalise_address(value: str, row: int | None = None) -> str:
    """Return the stored form of an address: E.164 for phones, lower case for emails."""
    v = value.strip()
    if "@" in v:
        return v.lower()
    try:
        num = phonenumbers.parse(v, None)
    except phonenumbers.NumberParseException:
        num = None
    if num is None or not phonenumbers.is_possible_number(num):
        raise ValidationFailed(
            "a suppressed address is an email or a phone in international form (+...)",
            field="value",
            value=value,
            row=row,
        )
    e164: str = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return e164


def add_suppressions(conn: sa.Connection, actor: Actor, entries: Sequence[SuppressionIn]) -> int:
    """Suppress addresses (idempotent: an existing one is left as is); return how many are new."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    now = utcnow()
    for i, e in enumerate(entries):
        if e.channel not in CHANNELS:
            raise ValidationFailed(
                "unknown channel", field="channel", value=e.channel, row=i, allowed=list(CHANNELS)
            )
        if e.expires_at is not None and e.expires_at.tzinfo is None:
            raise ValidationFailed("expires_at must carry a zone", field="expires_at", row=i)
        value = normalise_address(e.value, i)
        rows.setdefault(
            (e.channel, value),
            {
                "workspace_id": actor.workspace_id,
                "channel": e.channel,
                "value": value,
                "reason": e.reason[:200],
                "source": e.source[:100],
                "created_at": now,
                "expires_at": e.expires_at,
                "actor": actor.label,
            },
        )
    t = compliance_suppressions
    existing: set[tuple[str, str]] = set()
    values = sorted({v for _, v in rows})
    for i in range(0, len(values), CHUNK):
        q = sa.select(t.c.channel, t.c.value).where(
            t.c.workspace_id == actor.workspace_id,
            in_values(conn, t.c.value, values[i : i + CHUNK]),
        )
        existing.update((c, v) for c, v in conn.execute(q))
    new = [r for k, r in rows.items() if k not in existing]
    if new:
        conn.execute(t.insert(), new)
        record(conn, actor, "suppression.add", "suppression", None, {"added": len(new)})
    return len(new)


def remove_suppression(conn: sa.Connection, actor: Actor, value: str, channel: str = "*") -> None:
    """Lift the suppression of ``value`` on ``channel`` or raise NotFound."""
    v = normalise_address(value)
    t = compliance_suppressions
    res = conn.execute(
        t.delete().where(
            t.c.workspace_id == actor.workspace_id, t.c.value == v, t.c.channel == channel
        )
    )
    if res.rowcount == 0:
        raise NotFound("address is not suppressed", field="value", value=value, channel=channel)
    record(conn, actor, "suppression.remove", "suppression", v, {"channel": channel})


def list_suppressions(
    conn: sa.Connection, workspace_id: int, *, limit: int = 1000
) -> list[dict[str, Any]]:
    """Return the workspace's suppressions, newest first."""
    t = compliance_suppressions
    q = (
        sa.select(t.c.value, t.c.channel, t.c.reason, t.c.source, t.c.created_at, t.c.expires_at)
        .where(t.c.workspace_id == workspace_id)
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def suppressed(
    conn: sa.Connection, workspace_id: int, values: Sequence[str], channel: str, at: datetime
) -> dict[str, str]:
    """Return, for each suppressed address among ``values``, the reason (one query per chunk)."""
    t = compliance_suppressions
    out: dict[str, str] = {}
    vals = sorted({v for v in values if v})
    for i in range(0, len(vals), CHUNK):
        q = sa.select(t.c.value, t.c.reason).where(
            t.c.workspace_id == workspace_id,
            in_values(conn, t.c.value, vals[i : i + CHUNK]),
            t.c.channel.in_(["*", channel]),
            sa.or_(t.c.expires_at.is_(None), t.c.expires_at > at),
        )
        out.update({str(v): str(r) for v, r in conn.execute(q).all()})
    return out
