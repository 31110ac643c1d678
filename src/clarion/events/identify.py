"""``identify``: turn Segment-style traits into a contact upsert through the contacts service."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor
from clarion.contacts.cleaning import PROFILE_INPUTS
from clarion.contacts.service import ContactIn, get_contact, upsert_contacts
from clarion.errors import ValidationFailed
from clarion.events.models import ContactRef
from clarion.events.refs import NO_REF

_KEYS = ("external_id", "phone", "email")


def _as_text(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list, bool)):
        raise ValidationFailed(f"trait {name} must be text", field=f"traits.{name}", value=value)
    return str(value)


def traits_to_contact(traits: dict[str, Any]) -> ContactIn:
    """Return the contact record the traits describe (profile fields, tags, identities, rest)."""
    fields = {name: _as_text(name, traits.get(name)) for name in PROFILE_INPUTS}
    tags = traits.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed("trait tags must be a list of text", field="traits.tags", value=tags)
    identities = traits.get("identities") or {}
    if not isinstance(identities, dict) or not all(isinstance(v, str) for v in identities.values()):
        raise ValidationFailed(
            "trait identities must map a namespace to a handle",
            field="traits.identities",
            value=identities,
        )
    skip = {*PROFILE_INPUTS, "tags", "identities"}
    attributes = {k: v for k, v in traits.items() if k not in skip}
    return ContactIn(**fields, attributes=attributes, tags=list(tags), identities=identities)


def upsert_profile(
    conn: sa.Connection,
    actor: Actor,
    ref: ContactRef,
    traits: dict[str, Any],
    *,
    source: str,
) -> int:
    """Create or update the contact named by ``ref`` with ``traits``; return its id.

    The reference names the person, so it fills the identifying field unless the traits give
    it; a ``contact_id`` reference is turned into that contact's strongest stored key
    (external id, then phone, then email), which is how the contacts service matches.
    """
    rec = traits_to_contact(traits)
    key = ref.key()
    if key is None:
        raise ValidationFailed(NO_REF, field="contact", value=None)
    kind, value = key
    if kind == "contact_id":
        stored = get_contact(conn, actor.workspace_id, int(value))
        kind, value = next(((k, stored[k]) for k in _KEYS if stored.get(k)), ("", None))
        if value is None:
            raise ValidationFailed(
                "the contact has no external_id, phone or email to update it by",
                field="contact.contact_id",
                value=key[1],
            )
    if not getattr(rec, kind):
        setattr(rec, kind, value)
    try:
        with conn.begin_nested():
            result = upsert_contacts(conn, actor, [rec], source=source)
    except sa.exc.IntegrityError:
        # Another request created this person a moment ago (see refs._create); now it is
        # visible, the same upsert updates it.
        result = upsert_contacts(conn, actor, [rec], source=source)
    if result.rejects:
        r = result.rejects[0]
        field = r.field if r.field in _KEYS and r.field == kind else f"traits.{r.field}"
        raise ValidationFailed(f"{field}: {r.reason}", field=field, value=r.value)
    cid = result.ids[0]
    assert cid is not None  # no reject means the record was stored
    return int(cid)
