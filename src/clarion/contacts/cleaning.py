"""Validate and normalise one contact record before it is merged.

Cleaning is pure (no database), so the importer runs it in worker processes while the main
process writes. A record is either clean (every field normalised, the phone in E.164 with its
facts) or rejected with one ``Reject`` per offending field, saying what and why.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from clarion.contacts.phones import PhoneError, is_region, parse_phone

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_TAG = re.compile(r"^[^\x00-\x1f]{1,100}$")

#: Column sizes of ``contacts``; longer values are refused rather than truncated.
MAX_LEN = {"external_id": 200, "first_name": 200, "last_name": 200, "email": 320}


@dataclass
class ContactIn:
    """A contact as given by a client or an import row; every field optional."""

    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None  # raw, any format; parsed with country or default_region
    email: str | None = None
    locale: str | None = None
    country: str | None = None  # ISO alpha-2; also the default region for parsing phone
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    identities: dict[str, str] = field(default_factory=dict)  # namespace -> value


#: The profile fields a client, an import column or an identify trait may set, in table order.
PROFILE_INPUTS: tuple[str, ...] = tuple(
    f.name for f in fields(ContactIn) if f.name not in ("attributes", "tags", "identities")
)


@dataclass(frozen=True, slots=True)
class Reject:
    """Why one input record (``index``: position in the input or file row) was not accepted."""

    index: int
    field: str
    value: Any
    reason: str


@dataclass(frozen=True, slots=True)
class ConsentItem:
    """A consent statement carried by an import row (channel, purpose, status and where from)."""

    channel: str
    purpose: str
    status: str
    source: str
    proof: str | None
    occurred_at: datetime | None


class CleanContact(NamedTuple):
    """A validated record: what the merge step writes.

    A named tuple rather than a dataclass: importers send these between processes by the
    hundred thousand, and a tuple pickles several times faster.
    """

    position: int  # the input index or file row the record came from
    external_id: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    phone_type: str | None
    phone_region: str | None
    phone_carrier: str | None
    phone_timezone: str | None
    email: str | None
    locale: str | None
    country: str | None
    timezone: str | None
    attributes: dict[str, Any]
    tags: list[str]
    identities: dict[str, str]
    consent: tuple[ConsentItem, ...] = ()


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = (value if type(value) is str else str(value)).strip()
    return text or None


def clean_contact(
    rec: ContactIn, index: int, default_region: str | None
) -> CleanContact | list[Reject]:
    """Return ``rec`` normalised, or the rejects that explain why it cannot be used."""
    # Written out field by field: this runs once per imported row.
    rejects: list[Reject] = []
    external_id = _text(rec.external_id)
    if external_id is not None and len(external_id) > MAX_LEN["external_id"]:
        rejects.append(Reject(index, "external_id", external_id, "too_long"))
    first_name = _text(rec.first_name)
    if first_name is not None and len(first_name) > MAX_LEN["first_name"]:
        rejects.append(Reject(index, "first_name", first_name, "too_long"))
    last_name = _text(rec.last_name)
    if last_name is not None and len(last_name) > MAX_LEN["last_name"]:
        rejects.append(Reject(index, "last_name", last_name, "too_long"))

    country = _text(rec.country)
    if country is not None:
        country = country.upper()
        if not is_region(country):
            rejects.append(Reject(index, "country", rec.country, "unknown_country"))

    phone = phone_type = phone_region = phone_carrier = phone_tz = None
    raw_phone = _text(rec.phone)
    # With an unknown country the number cannot be read as intended: that reject says it all.
    if raw_phone is not None and not rejects:
        parsed = parse_phone(raw_phone, country or default_region)
        if isinstance(parsed, PhoneError):
            rejects.append(Reject(index, "phone", raw_phone, parsed.reason))
        else:
            phone, phone_type, phone_region = parsed.e164, parsed.type, parsed.region
            phone_carrier, phone_tz = parsed.carrier, parsed.timezone

    email = _text(rec.email)
    if email is not None:
        email = email.lower()
        if len(email) > MAX_LEN["email"] or not _EMAIL.match(email):
            rejects.append(Reject(index, "email", rec.email, "invalid_email"))

    locale = _text(rec.locale)
    if locale is not None:
        if _LOCALE.match(locale):
            locale = locale.replace("_", "-")
        else:
            rejects.append(Reject(index, "locale", rec.locale, "invalid_locale"))

    tz = _text(rec.timezone)
    if tz is not None and tz not in _zones():
        rejects.append(Reject(index, "timezone", rec.timezone, "unknown_timezone"))

    tags = []
    for tag in rec.tags:
        text = _text(tag)
        if text is None:
            continue
        if not _TAG.match(text):
            rejects.append(Reject(index, "tags", tag, "invalid_tag"))
        tags.append(text)

    identities = {}
    for ns, value in rec.identities.items():
        ns_text, val_text = _text(ns), _text(value)
        if ns_text is None or val_text is None:
            continue
        if len(ns_text) > 50 or len(val_text) > 300:
            rejects.append(Reject(index, f"identities.{ns}", value, "too_long"))
        identities[ns_text.lower()] = val_text

    if rejects:
        return rejects
    if external_id is None and phone is None and email is None:
        return [Reject(index, "phone", rec.phone, "no_identifier")]
    attributes = {str(k): v for k, v in rec.attributes.items() if v is not None and v != ""}
    return CleanContact(
        index,
        external_id,
        first_name,
        last_name,
        phone,
        phone_type,
        phone_region,
        phone_carrier,
        phone_tz,
        email,
        locale,
        country,
        tz,
        attributes,
        tags,
        identities,
    )
