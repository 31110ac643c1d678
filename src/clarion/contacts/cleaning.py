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

import phonenumbers

from clarion.contacts.phones import PhoneError, phone_facts

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
    return clean_values(
        index,
        rec.external_id,
        rec.first_name,
        rec.last_name,
        rec.phone,
        rec.email,
        rec.locale,
        rec.country,
        rec.timezone,
        rec.attributes,
        rec.tags,
        rec.identities,
        default_region,
    )


_SUPPORTED_REGIONS = phonenumbers.SUPPORTED_REGIONS
_MAX_EXTERNAL_ID = MAX_LEN["external_id"]
_MAX_FIRST_NAME = MAX_LEN["first_name"]
_MAX_LAST_NAME = MAX_LEN["last_name"]
_MAX_EMAIL = MAX_LEN["email"]
_make_clean = tuple.__new__

# Memos of values that repeat across a file (a few locales, zones and tags): value -> result.
# Emptied when full; only pure functions of the value are kept.
_MEMO_MAX = 4096
_LOCALES: dict[str, str | None] = {}  # stripped locale -> normalised, None: invalid
_TAGS: dict[str, tuple[str | None, bool]] = {}  # raw tag -> (stripped or None, valid)


def _locale(text: str) -> str | None:
    got = _LOCALES.get(text, _LOCALES)
    if got is _LOCALES:
        if len(_LOCALES) >= _MEMO_MAX:
            _LOCALES.clear()
        got = _LOCALES[text] = text.replace("_", "-") if _LOCALE.match(text) else None
    return got  # type: ignore[return-value]


def _tag(tag: Any) -> tuple[str | None, bool]:
    if type(tag) is not str:
        text = _text(tag)
        return text, text is None or _TAG.match(text) is not None
    got = _TAGS.get(tag)
    if got is None:
        if len(_TAGS) >= _MEMO_MAX:
            _TAGS.clear()
        text = tag.strip() or None
        got = _TAGS[tag] = (text, text is None or _TAG.match(text) is not None)
    return got


def clean_values(
    index: int,
    external_id: Any,
    first_name: Any,
    last_name: Any,
    phone: Any,
    email: Any,
    locale: Any,
    country: Any,
    timezone: Any,
    attributes: dict[str, Any],
    tags: list[Any],
    identities: dict[str, Any],
    default_region: str | None,
    *,
    attributes_clean: bool = False,
) -> CleanContact | list[Reject]:
    """``clean_contact`` on the fields of a ``ContactIn`` given one by one (the import's way).

    ``attributes_clean`` says every key is a string and no value is None or empty, so the
    dictionary is kept as it is rather than copied without them.
    """
    # Written out field by field: this runs once per imported row (and _text inlined for str).
    rejects: list[Reject] = []
    ext = (external_id.strip() or None) if type(external_id) is str else _text(external_id)
    if ext is not None and len(ext) > _MAX_EXTERNAL_ID:
        rejects.append(Reject(index, "external_id", ext, "too_long"))
    first = (first_name.strip() or None) if type(first_name) is str else _text(first_name)
    if first is not None and len(first) > _MAX_FIRST_NAME:
        rejects.append(Reject(index, "first_name", first, "too_long"))
    last = (last_name.strip() or None) if type(last_name) is str else _text(last_name)
    if last is not None and len(last) > _MAX_LAST_NAME:
        rejects.append(Reject(index, "last_name", last, "too_long"))

    code = (country.strip() or None) if type(country) is str else _text(country)
    if code is not None:
        code = code.upper()
        if code not in _SUPPORTED_REGIONS:
            rejects.append(Reject(index, "country", country, "unknown_country"))

    e164 = phone_type = phone_region = phone_carrier = phone_tz = None
    raw_phone = (phone.strip() or None) if type(phone) is str else _text(phone)
    # With an unknown country the number cannot be read as intended: that reject says it all.
    if raw_phone is not None and not rejects:
        region = code or default_region
        parsed = phone_facts(raw_phone, region.upper() if region else None)
        if isinstance(parsed, PhoneError):
            rejects.append(Reject(index, "phone", raw_phone, parsed.reason))
        else:
            e164, phone_type, phone_region, phone_carrier, phone_tz = parsed

    mail = (email.strip() or None) if type(email) is str else _text(email)
    if mail is not None:
        mail = mail.lower()
        if len(mail) > _MAX_EMAIL or not _EMAIL.match(mail):
            rejects.append(Reject(index, "email", email, "invalid_email"))

    loc = (locale.strip() or None) if type(locale) is str else _text(locale)
    if loc is not None:
        normal = _locale(loc)
        if normal is not None:
            loc = normal
        else:
            rejects.append(Reject(index, "locale", locale, "invalid_locale"))

    tz = (timezone.strip() or None) if type(timezone) is str else _text(timezone)
    if tz is not None and tz not in _zones():
        rejects.append(Reject(index, "timezone", timezone, "unknown_timezone"))

    clean_tags = []
    for tag in tags:
        text, valid = _tag(tag)
        if text is None:
            continue
        if not valid:
            rejects.append(Reject(index, "tags", tag, "invalid_tag"))
        clean_tags.append(text)

    ids = {}
    if identities:
        for ns, value in identities.items():
            ns_text, val_text = _text(ns), _text(value)
            if ns_text is None or val_text is None:
                continue
            if len(ns_text) > 50 or len(val_text) > 300:
                rejects.append(Reject(index, f"identities.{ns}", value, "too_long"))
            ids[ns_text.lower()] = val_text

    if rejects:
        return rejects
    if ext is None and e164 is None and mail is None:
        return [Reject(index, "phone", phone, "no_identifier")]
    if not attributes_clean:
        attributes = {str(k): v for k, v in attributes.items() if v is not None and v != ""}
    return _make_clean(
        CleanContact,
        (
            index,
            ext,
            first,
            last,
            e164,
            phone_type,
            phone_region,
            phone_carrier,
            phone_tz,
            mail,
            loc,
            code,
            tz,
            attributes,
            clean_tags,
            ids,
            (),
        ),
    )
