"""Validate and normalise one contact record before it is merged.

Cleaning is pure (no database), so the importer runs it in worker processes while the main
process writes. A record is either clean (every field normalised, the phone in E.164 with its
facts) or rejected with one ``Reject`` per offending field, saying what and why.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import phonenumbers

from clarion.contacts.phones import PhoneError, phone_facts

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_TAG = re.compile(r"^[^\x00-\x1f]{1,100}$")
#: What separates the tags written in one cell.
TAG_SPLIT = re.compile(r"[;,|]")

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


#: The facts of a row without a phone (or whose phone was refused).
_NO_PHONE: tuple[None, None, None, None, None] = (None, None, None, None, None)
#: One field's cells as written, row by row (None: no column of the file feeds the field).
Column = Sequence[str] | None


def clean_tag_cell(cell: str) -> tuple[tuple[str, ...], bool]:
    """Return the clean tags of one tags cell (``;``, ``,`` or ``|`` between them) and
    whether all of them are valid (``clean_values`` on the split cell refuses the others)."""
    tags: list[str] = []
    valid = True
    for tag in TAG_SPLIT.split(cell) if cell else ():
        text, ok = _tag(tag)
        if text is not None:
            tags.append(text)
            valid = valid and ok
    return tuple(tags), valid


def clean_columns(
    n: int,
    columns: Sequence[Column],
    default_region: str | None,
    flagged: set[int],
) -> list[Sequence[Any]]:
    """Clean the profile fields of ``n`` rows of text column by column (the import's way).

    ``columns`` holds, in ``PROFILE_INPUTS`` order, each field's cells as written (None: no
    column feeds the field). Return the columns of ``CleanContact`` from ``external_id`` to
    ``timezone``, and add to ``flagged`` the rows those may be wrong for: every row
    ``clean_values`` would refuse, plus a few it may accept. The caller cleans the flagged rows
    again with ``clean_values``; for every other row the columns hold exactly its answer.

    Why: a row at a time, the import spent more time in the interpreter's bookkeeping than in
    the rules. Column by column, most steps are one C-level ``map`` over the column, and the
    values that repeat down a file (countries, locales, zones, tags) are judged once each.
    """
    ext_in, first_in, last_in, phone_in, email_in, locale_in, country_in, tz_in = columns
    ext = _short_text(n, ext_in, _MAX_EXTERNAL_ID, flagged)
    first = _short_text(n, first_in, _MAX_FIRST_NAME, flagged)
    last = _short_text(n, last_in, _MAX_LAST_NAME, flagged)

    default = default_region.upper() if default_region else None
    codes: Sequence[str | None]
    regions: Sequence[str | None]
    if country_in is None:
        codes, regions = [None] * n, [default] * n
    else:
        code_of: dict[str, str | None] = {}
        region_of: dict[str, str | None] = {}
        refused = False
        for cell in set(country_in):
            code = cell.strip() or None
            if code is not None:
                code = code.upper()
                refused = refused or code not in _SUPPORTED_REGIONS
            code_of[cell] = code
            region_of[cell] = code or default
        if refused:
            flagged.update(
                i
                for i, c in enumerate(map(code_of.__getitem__, country_in))
                if c is not None and c not in _SUPPORTED_REGIONS
            )
        codes = list(map(code_of.__getitem__, country_in))
        regions = list(map(region_of.__getitem__, country_in))

    facts: list[Any]
    if phone_in is None:
        facts = [_NO_PHONE] * n
    else:
        raws = list(map(str.strip, phone_in))
        if "" in raws:
            facts = [
                phone_facts(r, g) if r else _NO_PHONE for r, g in zip(raws, regions, strict=True)
            ]
        else:
            facts = list(map(phone_facts, raws, regions))
        kinds = list(map(type, facts))
        at = -1
        for _ in range(kinds.count(PhoneError)):
            at = kinds.index(PhoneError, at + 1)
            flagged.add(at)
            facts[at] = _NO_PHONE
    e164, phone_type, phone_region, phone_carrier, phone_tz = (
        zip(*facts, strict=True) if n else ((), (), (), (), ())
    )

    mail: Sequence[str | None]
    if email_in is None:
        mail = [None] * n
    else:
        lowered = list(map(str.lower, map(str.strip, email_in)))
        if "" in lowered:
            mail = [m or None for m in lowered]
            good = [m is None or (len(m) <= _MAX_EMAIL and _EMAIL.match(m)) for m in mail]
        else:
            mail = lowered
            good = list(map(_EMAIL.match, lowered))
            if n and max(map(len, lowered)) > _MAX_EMAIL:
                good = [g and len(m) <= _MAX_EMAIL for g, m in zip(good, lowered, strict=True)]
        if not all(good):
            flagged.update(i for i, g in enumerate(good) if not g)

    loc = _judged(n, locale_in, _locale, flagged)
    tz = _judged(n, tz_in, _zone, flagged)

    # No key to find the contact by: clean_values refuses the row (no_identifier).
    if None in e164 and None in mail and None in ext:
        flagged.update(
            i for i in range(n) if e164[i] is None and mail[i] is None and ext[i] is None
        )
    return [
        ext, first, last, e164, phone_type, phone_region, phone_carrier, phone_tz,
        mail, loc, codes, tz,
    ]  # fmt: skip


def _short_text(n: int, cells: Column, limit: int, flagged: set[int]) -> Sequence[str | None]:
    """Return the stripped cells (None where empty); flag the rows longer than ``limit``."""
    if cells is None:
        return [None] * n
    text = list(map(str.strip, cells))
    if n and max(map(len, text)) > limit:
        flagged.update(i for i, t in enumerate(text) if len(t) > limit)
    return [t or None for t in text] if "" in text else text


def _zone(text: str) -> str | None:
    return text if text in _zones() else None


def _judged(n: int, cells: Column, judge: Any, flagged: set[int]) -> Sequence[str | None]:
    """Return each cell's normal form by ``judge`` (stripped text -> normal form, None when
    refused), judged once per distinct cell; flag the rows judged refused."""
    if cells is None:
        return [None] * n
    normal: dict[str, str | None] = {}
    refused: set[str] = set()
    for cell in set(cells):
        text = cell.strip() or None
        if text is None:
            normal[cell] = None
        else:
            normal[cell] = judge(text)
            if normal[cell] is None:
                refused.add(cell)
    if refused:
        flagged.update(i for i, c in enumerate(cells) if c in refused)
    return list(map(normal.__getitem__, cells))
