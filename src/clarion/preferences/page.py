"""The preference page: what a contact is subscribed to, and the changes they make there.

Rows are (channel, purpose) for each channel the contact has an address on. A marketing row is
ticked when consent is ``opted_in``; a transactional row is ticked unless the contact opted
out, since transactional messages need no opt-in. Saving compares the ticks with that and
records only what differs, each change in the consent ledger (source ``preference_page``, the
proof naming the change, the time and the browser); "leave everything" records an opt-out on
every row not opted out already, subscribed or not (an objection to future marketing).
An opt-out cancels queued marketing messages at once, like a STOP (``inbound.effects``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor
from clarion.contacts.tables import contacts
from clarion.errors import NotFound
from clarion.inbound import effects
from clarion.inbound.settings import brand_of, get_settings
from clarion.preferences import i18n

CHANNEL_ADDRESS = {"sms": "phone", "email": "email"}
PURPOSES = ("marketing", "transactional")


@dataclass(frozen=True, slots=True)
class Row:
    """One subscription line of the page."""

    channel: str
    purpose: str
    label: str
    address: str
    status: str  # opted_in, opted_out, pending, none
    ticked: bool

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.purpose}"


def mask(address: str) -> str:
    """Return an address with most of it hidden (the page may be seen over a shoulder)."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{address[:3]}***{address[-2:]}" if len(address) > 5 else "***"


def _ticked(purpose: str, status: str) -> bool:
    return status == "opted_in" if purpose == "marketing" else status != "opted_out"


def rows(conn: sa.Connection, workspace_id: int, contact_id: int) -> list[Row]:
    """Return the page's rows for a contact."""
    c = conn.execute(
        sa.select(contacts.c.phone, contacts.c.email, contacts.c.locale).where(
            contacts.c.id == contact_id, contacts.c.workspace_id == workspace_id
        )
    ).first()
    if c is None:
        raise NotFound("this preference link is not valid", field="token")
    out: list[Row] = []
    for channel, column in CHANNEL_ADDRESS.items():
        address = getattr(c, column)
        if not address:
            continue
        now = effects.consent_now(conn, contact_id, channel, PURPOSES)
        for purpose in PURPOSES:
            out.append(
                Row(
                    channel,
                    purpose,
                    i18n.words(c.locale)[f"{channel}:{purpose}"],
                    mask(address),
                    now[purpose],
                    _ticked(purpose, now[purpose]),
                )
            )
    return out


def view(conn: sa.Connection, workspace_id: int, contact_id: int) -> dict[str, Any]:
    """Return what the page shows: the brand, the rows and the page language."""
    settings = get_settings(conn, workspace_id)
    locale = conn.execute(sa.select(contacts.c.locale).where(contacts.c.id == contact_id)).scalar()
    return {
        "brand": brand_of(conn, workspace_id, settings),
        "rows": rows(conn, workspace_id, contact_id),
        "language": i18n.language(locale),
    }


def apply(
    conn: sa.Connection,
    workspace_id: int,
    contact_id: int,
    ticked: Sequence[str],
    *,
    leave_all: bool = False,
    client: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """Apply the posted ticks (``channel:purpose`` keys); return the changes recorded."""
    actor = Actor.system(workspace_id, "preference-page")
    wanted = set() if leave_all else set(ticked)
    where = "; ".join(f"{k}={v}" for k, v in sorted((client or {}).items()) if v)
    changes: list[dict[str, str]] = []
    for row in rows(conn, workspace_id, contact_id):
        want = row.key in wanted
        # "Leave everything" is an objection on record even where nothing was subscribed.
        if (leave_all and row.status == "opted_out") or (not leave_all and want == row.ticked):
            continue
        status = "opted_in" if want else "opted_out"
        verb = "leave everything" if leave_all else ("ticked" if want else "unticked")
        proof = f"preference page: {verb} {row.channel}/{row.purpose}" + (
            f" ({where})" if where else ""
        )
        changed = effects.change_consent(
            conn,
            actor,
            contact_id,
            row.channel,
            [row.purpose],
            status,
            source=effects.SOURCE_PAGE,
            proof=proof,
        )
        if changed:
            changes.append({"channel": row.channel, "purpose": row.purpose, "status": status})
    return changes


def one_click_unsubscribe(
    conn: sa.Connection, workspace_id: int, contact_id: int
) -> list[dict[str, str]]:
    """RFC 8058 one-click: opt the contact out of marketing email."""
    rows(conn, workspace_id, contact_id)  # NotFound for a contact that no longer exists
    actor = Actor.system(workspace_id, "list-unsubscribe")
    changed = effects.change_consent(
        conn,
        actor,
        contact_id,
        "email",
        ["marketing"],
        "opted_out",
        source=effects.SOURCE_PAGE,
        proof="List-Unsubscribe=One-Click (RFC 8058)",
    )
    return [{"channel": "email", "purpose": p, "status": "opted_out"} for p in changed]
