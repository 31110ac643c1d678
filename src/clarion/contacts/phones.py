"""Phone numbers: parse any written form into E.164, or say precisely why not.

Parsing is the hot path of every contact import (a million rows is a million calls): the
importer calls ``phone_facts`` (a plain tuple, memoised by ``(raw, region)``); the common
shapes are decided by ``phonefast`` and only the others go through the full library, whose
lookups that depend only on the number (type, region, carrier, time zone) are memoised by E.164.
Validity is decided by ``number_type`` (a number whose type is UNKNOWN matches no allocated
range), which is what ``is_valid_number`` does internally, so we do not pay for that regex pass
twice.

Reasons a number is refused (``PhoneError.reason``): ``empty``, ``letters`` (vanity spellings
such as 1-800-FLOWERS are refused rather than guessed), ``no_region`` (a national number and no
country to read it in), ``invalid_country_code``, ``not_a_number``, ``too_short``, ``too_long``,
``invalid_length``, ``invalid_number`` (right length, but in no range allocated by the country).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier, timezone
from phonenumbers.phonenumberutil import (
    NumberParseException,
    ValidationResult,
    is_number_type_geographical,
)

from clarion.contacts import phonefast

#: Names of phonenumbers' number types as stored in ``contacts.phone_type``.
TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}

_MOBILE_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_LENGTH: "invalid_length",
}
# Letters other than an extension marker ("ext", "x") mean a vanity number or garbage.
_LETTERS = re.compile(r"[^\W\d_]")
_EXTENSION = re.compile(r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d+\s*$")
_SEPARATORS = re.compile(r"[\s().\-/]")


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """A valid number in E.164 and what the numbering plan says about it."""

    e164: str
    type: str  # mobile, fixed_line, fixed_line_or_mobile, voip, toll_free, ...
    region: str | None  # ISO 3166-1 alpha-2 of the number (None for non-geographic)
    carrier: str | None  # original allocation; numbers port, so a hint only
    timezone: str | None  # the number's zone when the plan gives exactly one


@dataclass(frozen=True, slots=True)
class PhoneError:
    """Why a written number is not a usable phone number."""

    raw: str
    reason: str
    message: str


def parse_phone(raw: str, region: str | None) -> PhoneInfo | PhoneError:
    """Return the E.164 form and facts of ``raw`` read in ``region``, or why it is unusable."""
    got = phone_facts(raw, region.upper() if region else None)
    return got if isinstance(got, PhoneError) else PhoneInfo(*got)


#: (E.164, type, region, carrier, time zone): a ``PhoneInfo`` as a plain tuple.
Facts = tuple[str, str, str | None, str | None, str | None]

# (raw, region) -> facts or error; a plain dict (cheaper than an LRU), emptied when full.
_PARSED: dict[tuple[str, str | None], Facts | PhoneError] = {}
_PARSED_MAX = 65_536
# The separators _SEPARATORS removes, ASCII ones only (anything else left in the number sends
# it through the regular expressions); deleted from an ASCII number's bytes (bytes.translate is
# four times as fast as str.translate with a table).
_DROP_SEPARATORS = b" \t\n\r\x0b\x0c().-/"


def phone_facts(raw: str, region: str | None) -> Facts | PhoneError:
    """Return ``parse_phone``'s answer as a ``Facts`` tuple (``region`` already upper case).

    The importer's entry: it builds no ``PhoneInfo`` per row.
    """
    key = (raw, region)
    got = _PARSED.get(key)
    if got is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        got = _PARSED[key] = _parse(raw, region)
    return got


def clear_caches() -> None:
    """Forget every memoised parse (benchmarks measure cold caches with this)."""
    _PARSED.clear()
    _FACTS.clear()
    phonefast.clear_memos()


def _parse(raw: str, region: str | None) -> Facts | PhoneError:
    text = raw.strip()
    if not text:
        return PhoneError(raw, "empty", "no number given")
    # Digits, "+" and ASCII separators only (nearly every number in a file): no extension and
    # no letters can be there, and deleting the separators is what _SEPARATORS.sub does.
    plain = text.isascii()
    if plain:
        compact = text.encode().translate(None, _DROP_SEPARATORS).decode()
        plain = (compact[1:] if compact[:1] == "+" else compact).isdigit()
    if not plain:
        bare = _EXTENSION.sub("", text)
        if _LETTERS.search(bare):
            return PhoneError(raw, "letters", "contains letters")
        compact = _SEPARATORS.sub("", bare)
    if compact.startswith("00"):
        # 00 is the international prefix almost everywhere; read it as "+" whatever the region.
        compact = "+" + compact[2:]
    if not compact.startswith("+") and not region:
        return PhoneError(raw, "no_region", "a national number needs a country to be read in")
    fast = phonefast.decide(compact, region)
    if fast is not None:
        if len(fast) == 4:
            return _fast_tuple(*fast)
        return _refusal(raw, *fast)
    got = _parse_slow(raw, compact, region)
    if type(got) is PhoneError:
        return got
    return (got.e164, got.type, got.region, got.carrier, got.timezone)  # type: ignore[union-attr]


def _refusal(raw: str, reason: str, cc: int) -> PhoneError:
    """Return the error _parse_slow gives for a number refused by ``phonefast.decide``."""
    if reason == "invalid_number":
        return PhoneError(raw, reason, _INVALID_NUMBER)
    return PhoneError(raw, reason, f"{reason.replace('_', ' ')} for +{cc}")


def _parse_slow(raw: str, compact: str, region: str | None) -> PhoneInfo | PhoneError:
    """Return what the full library makes of ``compact`` (the fast path's reference)."""
    try:
        num = phonenumbers.parse(compact, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not_a_number")
        return PhoneError(raw, reason, str(exc.args[0]) if exc.args else reason)
    possible = phonenumbers.is_possible_number_with_reason(num)
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        reason = _POSSIBLE_REASONS.get(possible, "invalid_length")
        return PhoneError(raw, reason, f"{reason.replace('_', ' ')} for +{num.country_code}")
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    facts = _FACTS.get(e164)
    if facts is None:
        if len(_FACTS) >= _FACTS_MAX:
            _FACTS.clear()
        facts = _FACTS[e164] = _facts(num, e164)
    if isinstance(facts, PhoneError):
        return PhoneError(raw, facts.reason, facts.message)
    return facts


_INVALID_NUMBER = "not in any range allocated by its country"
# E.164 -> facts; a plain dict (the parsed number is not hashable), emptied when full.
_FACTS: dict[str, PhoneInfo | PhoneError] = {}
_FACTS_MAX = 262_144


def _facts(num: phonenumbers.PhoneNumber, e164: str) -> PhoneInfo | PhoneError:
    kind = phonenumbers.number_type(num)
    if kind == PhoneNumberType.UNKNOWN:
        return PhoneError(e164, "invalid_number", _INVALID_NUMBER)
    # Most calling codes belong to one region; only shared ones (+1, +44, +7, ...) need the
    # per-region pattern search that region_code_for_number does.
    cc = num.country_code or 0
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    region = regions[0] if len(regions) == 1 else phonenumbers.region_code_for_number(num)
    # The library's carrier and time-zone helpers each recompute the number type (the costly
    # part); we pass on the one we have, with the same rules they apply.
    zone = None
    if is_number_type_geographical(kind, cc):
        zones = timezone.time_zones_for_geographical_number(num)
        zone = zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None
    name = carrier.name_for_valid_number(num, "en") if kind in _MOBILE_TYPES else ""
    return PhoneInfo(
        e164=e164,
        type=TYPE_NAMES.get(kind, "other"),
        region=region if region and region != "001" else None,
        carrier=name or None,
        timezone=zone,
    )


def _fast_facts(e164: str, cc: int, kind: int, region: str) -> PhoneInfo:
    """Return the facts of a number the fast path found valid (same rules as ``_facts``)."""
    return PhoneInfo(*_fast_tuple(e164, cc, kind, region))


def _fast_tuple(e164: str, cc: int, kind: int, region: str) -> Facts:
    cc_text = str(cc)
    zone = None
    if is_number_type_geographical(kind, cc):
        zones = phonefast.time_zones(e164, cc_text)
        if zones is not None and len(zones) == 1 and zones[0] != "Etc/Unknown":
            zone = zones[0]
    name = phonefast.carrier_name(e164, cc_text) if kind in _MOBILE_TYPES else ""
    return (
        e164,
        TYPE_NAMES.get(kind, "other"),
        region if region != "001" else None,
        name or None,
        zone,
    )


def is_region(code: str) -> bool:
    """Return whether ``code`` is a region the numbering plans know (ISO alpha-2, upper case)."""
    return code in phonenumbers.SUPPORTED_REGIONS
