"""Social identities: which contact is behind a handle on a platform.

A link is a ``contact_identities`` row (namespace = the platform, value = the normalised handle),
the same row an import's ``identity:<platform>`` column or the events API's ``identities`` trait
writes, so a handle given at signup needs nothing more. Once an activity shows the platform's
stable user id, a second row (namespace ``<platform>_id``) keeps it, so a renamed handle still
finds its contact. Links come from:

- **signup** or an import: the handle the person gave (unverified);
- **a code**: :func:`request_code` sends a one-time code by SMS; when the code turns up in a
  fetched mention, comment or DM, the author of that activity is linked (verified);
- **manual**: someone on the team links a handle (verified).

An author nobody knows becomes a *social-only profile*: a contact without a phone, ``source``
``social`` and attribute ``social_only``, so their events and comments are kept. When that handle
is later linked to a real contact, the profile is folded into it (:func:`absorb`). Its external
id is ``social:<platform>:<handle>``. A handle
already linked to another real contact is refused (:class:`Conflict`): one handle, one person.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import regex
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.contacts.tables import contact_identities, contacts
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.social.tables import social_feedback, social_link_codes

PLATFORMS = ("mastodon", "bluesky", "x", "weibo", "wechat_oa")
METHODS = ("signup", "code", "manual", "import")
SOURCE = "social"
CODE_TTL = timedelta(days=7)
#: Unambiguous letters and digits (no 0/O, 1/I/L): a code is read off a phone and typed.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_RE = regex.compile(r"(?<![A-Za-z0-9])CL-?([A-HJKMNP-Z2-9]{6})(?![A-Za-z0-9])", regex.I)
_HANDLE_RE = regex.compile(r"^[\p{L}\p{N}_.\-@:]{1,200}$")


#: A person's identity namespace when it differs from the platform's name: followers of a
#: WeChat Official Account are WeChat users (``identity:wechat`` in imports).
_NAMESPACE = {"wechat_oa": "wechat"}


def namespace_of(platform: str) -> str:
    """Return the identity namespace of handles on ``platform``."""
    return _NAMESPACE.get(platform, platform)


def id_namespace(platform: str) -> str:
    """Return the identity namespace that holds ``platform``'s stable user ids."""
    return f"{platform}_id"


def _forms(namespace: str, value: str) -> list[str]:
    """Return the spellings a stored handle may have: as normalised, or with a leading ``@``
    (imports keep what the file said, e.g. ``@ann@mastodon.example``)."""
    return [value] if namespace.endswith("_id") else [value, "@" + value]


def check_platform(platform: str, *, field: str = "platform") -> str:
    """Return ``platform`` if Clarion knows it; raise :class:`ValidationFailed` otherwise."""
    p = (platform or "").strip().lower()
    if p not in PLATFORMS:
        raise ValidationFailed(
            f"platform must be one of {', '.join(PLATFORMS)}", field=field, value=platform
        )
    return p


def normalise_handle(handle: str, *, field: str = "handle") -> str:
    """Return ``handle`` as stored: no leading ``@``, lower case (handles are case-blind)."""
    h = (handle or "").strip().lstrip("@").lower()
    if not _HANDLE_RE.match(h):
        raise ValidationFailed(
            "a handle is 1-200 letters, digits, '_', '.', '-', '@' or ':' (no spaces)",
            field=field,
            value=handle,
        )
    return h


@dataclass(frozen=True, slots=True)
class Author:
    """Who did something on a platform, as an activity names them."""

    platform: str
    handle: str  # normalised
    user_id: str | None = None
    name: str | None = field(default=None, compare=False)


def _is_social_only(conn: sa.Connection, contact_id: int) -> bool:
    row = conn.execute(
        sa.select(contacts.c.source, contacts.c.phone, contacts.c.attributes).where(
            contacts.c.id == contact_id
        )
    ).first()
    return bool(
        row is not None
        and row.phone is None
        and row.source == SOURCE
        and (row.attributes or {}).get("social_only")
    )


def _owner(conn: sa.Connection, ws: int, namespace: str, value: str) -> int | None:
    t = contact_identities
    found = conn.execute(
        sa.select(t.c.contact_id)
        .where(
            t.c.workspace_id == ws,
            t.c.namespace == namespace,
            t.c.value.in_(_forms(namespace, value)),
        )
        .order_by(t.c.id)
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def _contact_exists(conn: sa.Connection, ws: int, contact_id: int) -> None:
    found = conn.execute(
        sa.select(contacts.c.id).where(contacts.c.workspace_id == ws, contacts.c.id == contact_id)
    ).scalar()
    if found is None:
        raise NotFound("no such contact", field="contact_id", value=contact_id)


def absorb(conn: sa.Connection, ws: int, from_id: int, into_id: int) -> None:
    """Fold social-only profile ``from_id`` into contact ``into_id``: its events, graph edges,
    comments and identities move over, then the profile is deleted."""
    from clarion.events.tables import events
    from clarion.intelligence.tables import contact_interactions as ci

    conn.execute(
        events.update()
        .where(events.c.workspace_id == ws, events.c.contact_id == from_id)
        .values(contact_id=into_id)
    )
    conn.execute(
        social_feedback.update()
        .where(social_feedback.c.contact_id == from_id)
        .values(contact_id=into_id)
    )
    conn.execute(
        ci.update().where(ci.c.source_contact_id == from_id).values(source_contact_id=into_id)
    )
    conn.execute(
        ci.update().where(ci.c.target_contact_id == from_id).values(target_contact_id=into_id)
    )
    # An edge between the two is now a loop: nobody influences themselves.
    conn.execute(ci.delete().where(ci.c.source_contact_id == ci.c.target_contact_id))
    conn.execute(
        contact_identities.update()
        .where(contact_identities.c.contact_id == from_id)
        .values(contact_id=into_id)
    )
    conn.execute(contacts.delete().where(contacts.c.id == from_id))


def _put(
    conn: sa.Connection, ws: int, contact_id: int, namespace: str, value: str, verified: bool
) -> None:
    t = contact_identities
    owner = _owner(conn, ws, namespace, value)
    if owner is None:
        conn.execute(
            t.insert().values(
                workspace_id=ws,
                contact_id=contact_id,
                namespace=namespace,
                value=value,
                verified=verified,
                created_at=utcnow(),
            )
        )
    elif verified:
        conn.execute(
            t.update()
            .where(
                t.c.workspace_id == ws,
                t.c.namespace == namespace,
                t.c.value.in_(_forms(namespace, value)),
            )
            .values(verified=True)
        )


def link(
    conn: sa.Connection,
    actor: Actor,
    contact_id: int,
    platform: str,
    handle: str,
    *,
    method: str = "manual",
    user_id: str | None = None,
) -> dict[str, Any]:
    """Link ``handle`` on ``platform`` to ``contact_id``; return the link.

    A handle held by a social-only profile is taken over (the profile is folded into the
    contact); one held by another real contact is refused with :class:`Conflict`.
    """
    ws = actor.workspace_id
    p = check_platform(platform)
    h = normalise_handle(handle)
    if method not in METHODS:
        raise ValidationFailed(
            f"method must be one of {', '.join(METHODS)}", field="method", value=method
        )
    _contact_exists(conn, ws, contact_id)
    verified = method in ("code", "manual")
    keys = [(namespace_of(p), h)] + ([(id_namespace(p), str(user_id))] if user_id else [])
    for ns, value in keys:
        owner = _owner(conn, ws, ns, value)
        if owner is None or owner == contact_id:
            continue
        if _is_social_only(conn, owner):
            absorb(conn, ws, owner, contact_id)
            continue
        raise Conflict(
            f"{p} handle @{h} is already linked to contact {owner}; unlink it there first",
            field="handle",
            value=handle,
            contact_id=owner,
        )
    for ns, value in keys:
        _put(conn, ws, contact_id, ns, value, verified)
    record(
        conn,
        actor,
        "social.identity.link",
        "contact",
        contact_id,
        {"platform": p, "handle": h, "method": method, "user_id": user_id},
    )
    return {
        "contact_id": contact_id,
        "platform": p,
        "handle": h,
        "user_id": user_id,
        "verified": verified,
        "method": method,
    }


def unlink(conn: sa.Connection, actor: Actor, platform: str, handle: str) -> int:
    """Remove the link of ``handle`` on ``platform``; return the contact it belonged to."""
    ws = actor.workspace_id
    p, h = check_platform(platform), normalise_handle(handle)
    owner = _owner(conn, ws, namespace_of(p), h)
    if owner is None:
        raise NotFound(f"{p} handle @{h} is not linked to anyone", field="handle", value=handle)
    t = contact_identities
    conn.execute(
        t.delete().where(
            t.c.workspace_id == ws,
            t.c.contact_id == owner,
            t.c.namespace.in_([namespace_of(p), id_namespace(p)]),
        )
    )
    record(conn, actor, "social.identity.unlink", "contact", owner, {"platform": p, "handle": h})
    return owner


def list_identities(
    conn: sa.Connection, ws: int, *, contact_id: int | None = None, platform: str | None = None
) -> list[dict[str, Any]]:
    """Return the social handles linked to contacts (all, one contact's, one platform's)."""
    t = contact_identities
    spaces = (
        [namespace_of(check_platform(platform))]
        if platform
        else [namespace_of(p) for p in PLATFORMS]
    )
    q = (
        sa.select(
            t.c.contact_id,
            t.c.namespace,
            t.c.value,
            t.c.verified,
            t.c.created_at,
            contacts.c.source,
            contacts.c.phone,
        )
        .join(contacts, contacts.c.id == t.c.contact_id)
        .where(t.c.workspace_id == ws, t.c.namespace.in_(spaces))
        .order_by(t.c.contact_id, t.c.namespace)
    )
    if contact_id is not None:
        q = q.where(t.c.contact_id == contact_id)
    return [
        {
            "contact_id": r.contact_id,
            "platform": {v: k for k, v in _NAMESPACE.items()}.get(r.namespace, r.namespace),
            "handle": r.value.lstrip("@").lower(),
            "verified": r.verified,
            "social_only": r.phone is None and r.source == SOURCE,
            "created_at": r.created_at.isoformat(),
        }
        for r in conn.execute(q)
    ]


def resolve(conn: sa.Connection, ws: int, authors: Sequence[Author]) -> dict[Author, int]:
    """Return the contact of each author that has one (by user id first, then handle)."""
    t = contact_identities
    by_ns: dict[str, set[str]] = {}
    for a in authors:
        by_ns.setdefault(namespace_of(a.platform), set()).update(
            _forms(namespace_of(a.platform), a.handle)
        )
        if a.user_id:
            by_ns.setdefault(id_namespace(a.platform), set()).add(a.user_id)
    known: dict[tuple[str, str], int] = {}
    for ns, values in by_ns.items():
        vals = sorted(values)
        for i in range(0, len(vals), 5000):
            rows = conn.execute(
                sa.select(t.c.namespace, t.c.value, t.c.contact_id).where(
                    t.c.workspace_id == ws,
                    t.c.namespace == ns,
                    in_values(conn, t.c.value, vals[i : i + 5000]),
                )
            )
            for r in rows:
                value = r.value if r.namespace.endswith("_id") else r.value.lstrip("@")
                known.setdefault((r.namespace, value), int(r.contact_id))
    out: dict[Author, int] = {}
    for a in authors:
        cid = known.get((id_namespace(a.platform), a.user_id or "")) or known.get(
            (namespace_of(a.platform), a.handle)
        )
        if cid is not None:
            out[a] = cid
    return out


def profile_external_id(platform: str, handle: str) -> str:
    """Return the external id of the social-only profile of ``handle`` on ``platform``."""
    return f"social:{platform}:{handle}"[:200]


def create_profiles(conn: sa.Connection, ws: int, authors: Sequence[Author]) -> dict[Author, int]:
    """Create a social-only profile for each author (none of them known); return their ids.

    Set-based: one insert of the profiles (a profile left without its identity by an unlink is
    reused through its external id), one read of their ids, one insert of their identities.
    """
    from clarion.contacts.merge import insert_ignore

    now = utcnow()
    wanted: dict[str, Author] = {}
    for a in authors:
        wanted.setdefault(profile_external_id(a.platform, a.handle), a)
    if not wanted:
        return {}
    conn.execute(
        insert_ignore(conn, contacts),
        [
            {
                "workspace_id": ws,
                # Stable and unique, so exports and re-runs name the profile the same way.
                "external_id": ext,
                "first_name": (a.name or None) and a.name[:200],
                "attributes": {
                    "social_only": True,
                    "social_platform": a.platform,
                    "social_handle": a.handle,
                },
                "source": SOURCE,
                "created_at": now,
                "updated_at": now,
            }
            for ext, a in wanted.items()
        ],
    )
    exts = sorted(wanted)
    id_of: dict[str, int] = {}
    for i in range(0, len(exts), 5000):
        id_of.update(
            (str(r.external_id), int(r.id))
            for r in conn.execute(
                sa.select(contacts.c.id, contacts.c.external_id).where(
                    contacts.c.workspace_id == ws,
                    in_values(conn, contacts.c.external_id, exts[i : i + 5000]),
                )
            )
        )
    idents = []
    for ext, a in wanted.items():
        idents.append((id_of[ext], namespace_of(a.platform), a.handle))
        if a.user_id:
            idents.append((id_of[ext], id_namespace(a.platform), a.user_id))
    conn.execute(
        insert_ignore(conn, contact_identities),
        [
            {
                "workspace_id": ws,
                "contact_id": cid,
                "namespace": ns,
                "value": value,
                "verified": False,
                "created_at": now,
            }
            for cid, ns, value in idents
        ],
    )
    return {a: id_of[profile_external_id(a.platform, a.handle)] for a in authors}


def _new_code() -> str:
    return "CL-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


def request_code(
    conn: sa.Connection,
    actor: Actor,
    contact_id: int,
    *,
    platform: str | None = None,
    send: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Create a one-time link code for ``contact_id`` and (unless ``send`` is False) text it.

    The person posts the code, mentions our account with it, or sends it as a DM; the ingest
    job links whoever did so. Earlier pending codes of the contact stay valid until they expire.
    """
    from clarion.inbound.replies import send_reply

    ws = actor.workspace_id
    p = check_platform(platform) if platform else None
    row = conn.execute(
        sa.select(contacts.c.phone).where(
            contacts.c.workspace_id == ws, contacts.c.id == contact_id
        )
    ).first()
    if row is None:
        raise NotFound("no such contact", field="contact_id", value=contact_id)
    if send and not row.phone:
        raise ValidationFailed(
            "the contact has no phone to text the code to", field="contact_id", value=contact_id
        )
    now = now or utcnow()
    code = _new_code()
    code_id = conn.execute(
        social_link_codes.insert()
        .values(
            workspace_id=ws,
            contact_id=contact_id,
            platform=p,
            code=code,
            status="pending",
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        .returning(social_link_codes.c.id)
    ).scalar_one()
    out: dict[str, Any] = {
        "code": code,
        "contact_id": contact_id,
        "platform": p,
        "expires_at": (now + CODE_TTL).isoformat(),
    }
    if send:
        where = f"on {p}" if p else "on your social account"
        text = (
            f"Your link code is {code}. Post it, mention us with it or send it to us as a "
            f"message {where} to connect your account. Valid 7 days."
        )
        sent = send_reply(
            conn,
            actor,
            contact_id=contact_id,
            to=row.phone,
            sender=None,
            text=text,
            source="social_link",
        )
        out["sms"] = sent
        if sent.get("message_id") is not None:
            conn.execute(
                social_link_codes.update()
                .where(social_link_codes.c.id == code_id)
                .values(message_id=int(sent["message_id"]))
            )
    record(conn, actor, "social.identity.code", "contact", contact_id, {"platform": p})
    return out


def codes_in(text: str | None) -> list[str]:
    """Return the link codes written in ``text`` (as ``CL-XXXXXX``, upper case)."""
    if not text:
        return []
    return [f"CL-{m.upper()}" for m in CODE_RE.findall(text)]


def redeem(
    conn: sa.Connection,
    actor: Actor,
    codes: Sequence[str],
    author: Author,
    activity_row_id: int,
    now: datetime,
) -> int | None:
    """Link ``author`` to the contact of the first pending code in ``codes``; return it.

    A code on a conflicting handle is left pending (the conflict is recorded in the audit log)
    so a person can still use it once the team clears the old link.
    """
    ws = actor.workspace_id
    t = social_link_codes
    for code in codes:
        row = conn.execute(
            sa.select(t.c.id, t.c.contact_id, t.c.platform).where(
                t.c.workspace_id == ws,
                t.c.code == code,
                t.c.status == "pending",
                t.c.expires_at > now,
            )
        ).first()
        if row is None or (row.platform and row.platform != author.platform):
            continue
        try:
            with conn.begin_nested():
                link(
                    conn,
                    actor,
                    int(row.contact_id),
                    author.platform,
                    author.handle,
                    method="code",
                    user_id=author.user_id,
                )
        except Conflict as exc:
            record(
                conn,
                actor,
                "social.identity.code_conflict",
                "contact",
                row.contact_id,
                {"code": code, "detail": str(exc)},
            )
            continue
        conn.execute(
            t.update()
            .where(t.c.id == row.id)
            .values(status="used", used_at=now, activity_row_id=activity_row_id)
        )
        return int(row.contact_id)
    return None


def codes_due(engine: Engine, now: datetime | None = None) -> bool:
    """Return whether a pending code has passed its time (a read; never takes a write lock)."""
    from clarion.db.engine import read_only

    t = social_link_codes
    with read_only(engine) as conn:
        found = conn.execute(
            sa.select(t.c.id)
            .where(t.c.status == "pending", t.c.expires_at <= (now or utcnow()))
            .limit(1)
        ).first()
    return found is not None


def expire_codes(conn: sa.Connection, now: datetime | None = None) -> int:
    """Mark pending codes past their time expired; return how many."""
    t = social_link_codes
    res = conn.execute(
        t.update()
        .where(t.c.status == "pending", t.c.expires_at <= (now or utcnow()))
        .values(status="expired")
    )
    return int(res.rowcount or 0)
