"""A fast path for the common ways a phone number is written, exact to ``phonenumbers``.

Why this exists: ``phonenumbers.parse`` plus ``number_type`` cost about 50 µs per number, and
a million-row import is a million distinct numbers. Most of that time is generic machinery
(normalising any Unicode digit, re-compiling metadata patterns, extension and alpha handling,
computing the number type twice for shared calling codes such as +1 and +44), not the rules
themselves. Here the rules are applied directly for the two shapes that make up nearly every
contact file, with the library's own metadata and patterns compiled once:

- ``+`` followed by digits (``00`` already turned into ``+`` by the caller);
- national digits of the row's region, with or without its plain national prefix (``0``).

Every step follows ``phonenumbers.parse`` / ``is_possible_number_with_reason`` /
``number_type`` / ``region_code_for_number`` (phonenumberutil.py) and gives up, returning
``None``, wherever the library would do something less simple: a national prefix with a
transform rule or one that matches a ``+`` number, an international dialling prefix,
non-geographic calling codes. The caller then uses the full library. ``decide`` also refuses
the invalid numbers of these shapes, with the library's reason and wording. Leading zeros of
a national number (Italy; or a British number read in the US) are kept as the library keeps
them: its national significant number is the digits as written. National digits that start
with the region's calling code follow the library's rule for dropping it.
``tests/contacts/test_phonefast.py`` checks with Hypothesis that whatever this path accepts
or refuses is the library's answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberDesc, PhoneNumberType

#: ``phonenumbers`` limits (phonenumberutil._MIN_LENGTH_FOR_NSN / _MAX_LENGTH_FOR_NSN).
_MIN_NSN = 2
_MAX_NSN = 17


def _all_digits(text: str) -> bool:
    """Return whether ``text`` is ASCII digits only (and not empty).

    Not ``frozenset.issuperset(text)``: that builds a set of the text's characters per call.
    """
    return text.isascii() and text.isdigit()  # ASCII characters that are digits: 0-9 only


# The order in which phonenumberutil._number_type_helper tries the types.
_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


@dataclass(frozen=True, slots=True)
class _Desc:
    """A PhoneNumberDesc reduced to what matching needs (``_is_number_matching_desc``)."""

    lengths: frozenset[int]  # empty: no length filter
    pattern: re.Pattern[str] | None


def _desc(desc: PhoneNumberDesc | None) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return _Desc(frozenset(), None)
    return _Desc(frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))


@dataclass(frozen=True, slots=True)
class Plan:
    """One region's numbering plan, compiled once."""

    region: str
    cc: int
    cc_text: str
    general: _Desc
    possible: tuple[int, ...]  # general_desc.possible_length, sorted as in the metadata
    local_only: frozenset[int]
    special: tuple[tuple[_Desc, int], ...]
    fixed: _Desc
    mobile: _Desc
    same_mobile_and_fixed: bool
    national_prefix: re.Pattern[str] | None
    prefix_has_transform: bool
    idd: re.Pattern[str] | None
    leading_digits: re.Pattern[str] | None
    type_by_length: dict[int, re.Pattern[str] | None] = field(default_factory=dict, compare=False)

    def possible_result(self, nsn: str) -> str:
        """Return _test_number_length(nsn, metadata) for type UNKNOWN, by name."""
        n = len(nsn)
        if n in self.local_only:
            return "local_only"
        if not self.possible:
            return "invalid_length"
        if self.possible[0] == n:
            return "possible"
        if self.possible[0] > n:
            return "too_short"
        if self.possible[-1] < n:
            return "too_long"
        return "possible" if n in self.possible[1:] else "invalid_length"

    def number_type(self, nsn: str) -> int:
        """Return phonenumberutil._number_type_helper(nsn, metadata).

        One regular expression per length of ``nsn`` decides: the general pattern as a
        lookahead, then one named alternative per type in the library's order (the first
        alternative that matches the whole number is the type the library would find).
        """
        n = len(nsn)
        pattern = self.type_by_length.get(n, self)
        if pattern is self:
            pattern = self.type_by_length[n] = self._type_pattern(n)
        if pattern is None:
            return PhoneNumberType.UNKNOWN
        found = pattern.fullmatch(nsn)  # type: ignore[union-attr]
        if found is None:
            return PhoneNumberType.UNKNOWN
        return int(found.lastgroup[1:])  # type: ignore[index]

    def _type_pattern(self, n: int) -> re.Pattern[str] | None:
        def usable(desc: _Desc) -> bool:
            return desc.pattern is not None and (not desc.lengths or n in desc.lengths)

        if not usable(self.general):
            return None
        alternatives = [
            (kind, desc.pattern.pattern)  # type: ignore[union-attr]
            for desc, kind in self.special
            if usable(desc)
        ]
        fixed = self.fixed.pattern.pattern if usable(self.fixed) else None  # type: ignore[union-attr]
        mobile = self.mobile.pattern.pattern if usable(self.mobile) else None  # type: ignore[union-attr]
        if self.same_mobile_and_fixed:
            if fixed is not None:
                alternatives.append((PhoneNumberType.FIXED_LINE_OR_MOBILE, fixed))
        else:
            if fixed is not None and mobile is not None:
                both = f"(?=(?:{mobile})\\Z)(?:{fixed})"
                alternatives.append((PhoneNumberType.FIXED_LINE_OR_MOBILE, both))
            if fixed is not None:
                alternatives.append((PhoneNumberType.FIXED_LINE, fixed))
            if mobile is not None:
                alternatives.append((PhoneNumberType.MOBILE, mobile))
        if not alternatives:
            return None
        general = self.general.pattern.pattern  # type: ignore[union-attr]
        body = "|".join(f"(?P<t{kind}>{text})" for kind, text in alternatives)
        return re.compile(f"(?=(?:{general})\\Z)(?:{body})")


@lru_cache(maxsize=512)
def plan_for(region: str) -> Plan | None:
    """Return the compiled plan of a geographic region (``US``), or None if there is none."""
    meta = PhoneMetadata.metadata_for_region(region, None)
    if meta is None or meta.general_desc is None or meta.country_code is None:
        return None
    general = meta.general_desc
    return Plan(
        region=region,
        cc=int(meta.country_code),
        cc_text=str(meta.country_code),
        general=_desc(general),
        possible=tuple(general.possible_length or ()),
        local_only=frozenset(general.possible_length_local_only or ()),
        special=tuple((_desc(getattr(meta, name)), kind) for name, kind in _SPECIAL_TYPES),
        fixed=_desc(meta.fixed_line),
        mobile=_desc(meta.mobile),
        same_mobile_and_fixed=bool(meta.same_mobile_and_fixed_line_pattern),
        national_prefix=re.compile(meta.national_prefix_for_parsing)
        if meta.national_prefix_for_parsing
        else None,
        prefix_has_transform=bool(meta.national_prefix_transform_rule),
        idd=re.compile(meta.international_prefix) if meta.international_prefix else None,
        leading_digits=re.compile(meta.leading_digits) if meta.leading_digits else None,
    )


def _country_code(digits: str) -> int:
    """Return phonenumberutil._extract_country_code's calling code (0: none)."""
    head = digits[:3]  # the answer depends on these alone: memoised by them
    cc = _CALLING_CODES.get(head)
    if cc is None:
        cc = _CALLING_CODES[head] = _calling_code_of(head)
    return cc


def _calling_code_of(digits: str) -> int:
    if digits[0] == "0":
        return 0
    for size in (1, 2, 3):
        cc = int(digits[:size])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return cc
    return 0


# First three digits after "+" -> calling code (at most 1,000 entries).
_CALLING_CODES: dict[str, int] = {}


def _main_plan(cc: int) -> Plan | None:
    """Return the plan of the main region of calling code ``cc`` (None: non-geographic)."""
    got = _MAIN_PLANS.get(cc, _MAIN_PLANS)
    if got is _MAIN_PLANS:
        got = _MAIN_PLANS[cc] = plan_for(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc][0])
    return got  # type: ignore[return-value]


_MAIN_PLANS: dict[int, Plan | None] = {}


def split(compact: str, region: str | None) -> tuple[Plan, str] | None:
    """Return (plan of the calling code's main region, national significant number), or None.

    ``compact`` is the number without separators; ``None`` means "ask the full library".
    """
    if not compact:
        return None
    if compact[0] == "+":
        digits = compact[1:]
        if len(digits) <= _MIN_NSN or not _all_digits(digits):
            return None
        cc = _country_code(digits)
        if cc == 0:
            return None
        main = _main_plan(cc)
        if main is None:  # non-geographic entity (+800, +882, ...)
            return None
        nsn = digits[len(main.cc_text) :]
        if len(nsn) < _MIN_NSN or (main.national_prefix and main.national_prefix.match(nsn)):
            return None
    else:
        if region is None or not _all_digits(compact):
            return None
        local = plan_for(region)
        if local is None or (local.idd is not None and local.idd.match(compact)):
            return None
        if len(compact) < _MIN_NSN:
            return None
        if compact.startswith(local.cc_text):
            potential = _calling_code_stripped(local, compact)
            if potential is None:
                return None
            if potential:  # read as calling code + national number, as after a "+"
                main = _main_plan(local.cc)
                if main is None or len(potential) < _MIN_NSN or len(potential) > _MAX_NSN:
                    return None
                if main.national_prefix and main.national_prefix.match(potential):
                    return None
                return main, potential
        nsn = compact
        found = local.national_prefix.match(nsn) if local.national_prefix else None
        if found is not None:
            if local.prefix_has_transform:
                return None
            stripped = nsn[found.end() :]
            # _maybe_strip_national_prefix_carrier_code keeps the prefix unless what follows
            # matches the general pattern; parse() then keeps the stripped number only when its
            # length is possible. Anything else is left to the library.
            pattern = local.general.pattern
            if pattern is None or pattern.fullmatch(stripped) is None:
                return None
            if local.possible_result(stripped) != "possible":
                return None
            nsn = stripped
        main = _main_plan(local.cc)
        if main is None:
            return None
    if len(nsn) > _MAX_NSN:
        return None
    # A leading zero stays in the number (italian_leading_zero and number_of_leading_zeros
    # rebuild it in national_significant_number): the digits as they are.
    return main, nsn


def _calling_code_stripped(local: Plan, full: str) -> str | None:
    """Return what parse() makes of national digits that start with the region's calling code.

    phonenumberutil._maybe_extract_country_code drops the calling code (and then a national
    prefix) when the digits did not match the region's general pattern and what is left does,
    or when the digits are too long for the region. Return what is left then, "" when the
    digits are read as a national number as they are, None when unsure (ask the library).
    """
    general = local.general.pattern
    if general is None:
        return None
    potential = full[len(local.cc_text) :]
    # _maybe_strip_national_prefix_carrier_code(potential, metadata of the region)
    found = local.national_prefix.match(potential) if local.national_prefix and potential else None
    if found is not None:
        if local.prefix_has_transform:
            return None
        rest = potential[found.end() :]
        if general.fullmatch(potential) is None or general.fullmatch(rest) is not None:
            potential = rest
    if (
        general.fullmatch(full) is None and general.fullmatch(potential) is not None
    ) or local.possible_result(full) == "too_long":
        return potential or None
    return ""


def region_and_type(main: Plan, nsn: str) -> tuple[str, int] | None:
    """Return (region_code_for_number, number_type) for (calling code of ``main``, nsn).

    None when the library would find no region (and so the type UNKNOWN).
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[main.cc]
    if len(regions) == 1:
        return regions[0], main.number_type(nsn)
    for code in regions:
        plan = plan_for(code)
        if plan is None:
            continue
        if plan.leading_digits is not None:
            if plan.leading_digits.match(nsn):
                return code, plan.number_type(nsn)
        else:
            kind = plan.number_type(nsn)
            if kind != PhoneNumberType.UNKNOWN:
                return code, kind  # number_type() would compute the same for this region
    return None


def classify(compact: str, region: str | None) -> tuple[str, int, int, str] | None:
    """Return (E.164, calling code, number type, region) for a valid number, else None.

    None means only "not decided here": the caller asks the full library, which also words the
    reason when the number is invalid.
    """
    got = decide(compact, region)
    return got if got is not None and len(got) == 4 else None


def decide(compact: str, region: str | None) -> tuple[str, int, int, str] | tuple[str, int] | None:
    """Return ``classify``'s answer, or (reason, calling code) for a number the library refuses.

    The reason is what ``is_possible_number_with_reason`` says (too_short, too_long,
    invalid_length), or invalid_number when the number is in no range of its country. Only
    for the shapes ``split`` reads exactly as the library does; None: not decided here.
    """
    got = split(compact, region)
    if got is None:
        return None
    main, nsn = got
    possible = main.possible_result(nsn)
    if possible != "possible" and possible != "local_only":
        if not main.possible or main.possible[0] == -1:
            return None  # the library's own corner cases: let it speak
        return possible, main.cc
    found = region_and_type(main, nsn)
    if found is None or found[1] == PhoneNumberType.UNKNOWN:
        return "invalid_number", main.cc
    code, kind = found
    return f"+{main.cc_text}{nsn}", main.cc, kind, code


def _tz_data() -> dict[str, tuple[str, ...]]:
    from phonenumbers import timezone

    return timezone.TIMEZONE_DATA  # type: ignore[attr-defined,no-any-return]


def _carrier_data() -> dict[str, dict[str, str]]:
    from phonenumbers import carrierdata

    return carrierdata.CARRIER_DATA


class _Span:
    """What a lookup in one prefix table needs for the numbers of one calling code."""

    __slots__ = ("keys", "memo", "prefixes", "start", "stop")

    def __init__(self, table: str, cc_text: str) -> None:
        self.keys, self.prefixes = _prefix_index(table, cc_text)
        # Only a key of one of these lengths can match a number of this calling code.
        lengths = {len(k) for k in self.keys}
        self.start = min(lengths, default=1)
        self.stop = max(lengths, default=0)
        # The answer depends only on the number's first ``stop`` digits: memoised by those.
        self.memo: dict[str, str | None] = {}


# (table, calling code) -> its _Span
_SPANS: dict[tuple[str, str], _Span] = {}
_MEMO_MAX = 65_536


def clear_memos() -> None:
    """Forget the memoised time zone and carrier lookups."""
    for span in _SPANS.values():
        span.memo.clear()


def _prefix_index(table: str, cc_text: str) -> tuple[frozenset[str], frozenset[str]]:
    """Return the keys of a prefix table a number of +cc can match (carriers: those with an
    English name), and every proper prefix of those keys."""
    data: dict[str, Any] = _tz_data() if table == "tz" else _carrier_data()
    keys = frozenset(
        k
        for k, v in data.items()
        if (k.startswith(cc_text) or cc_text.startswith(k)) and (table == "tz" or "en" in v)
    )
    return keys, frozenset(k[:i] for k in keys for i in range(1, len(k)))


def _longest_key(table: str, digits: str, cc_text: str) -> str | None:
    """Return the longest key of ``table`` that starts ``digits`` (the library's lookup).

    The library tries every prefix length from the longest down; here the prefixes are walked
    up from the shortest key length of the calling code, stopping as soon as no longer key can
    start with what has been read.
    """
    span = _SPANS.get((table, cc_text))
    if span is None:
        span = _SPANS[(table, cc_text)] = _Span(table, cc_text)
    head = digits[: span.stop]
    memo = span.memo
    best = memo.get(head, "")
    if best != "":
        return best
    keys, prefixes = span.keys, span.prefixes
    for size in range(span.start, len(head) + 1):
        part = head[:size]
        if part in keys:
            best = part
        if part not in prefixes:
            break
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[head] = best or None
    return best or None


_TZ: dict[str, tuple[str, ...]] = {}
_CARRIERS: dict[str, dict[str, str]] = {}


def time_zones(e164: str, cc_text: str) -> tuple[str, ...] | None:
    """Return timezone.time_zones_for_geographical_number's answer (None: the unknown zone)."""
    key = _longest_key("tz", e164[1:], cc_text)
    if key is None:
        return None
    if not _TZ:
        _TZ.update(_tz_data())
    return _TZ[key]


def carrier_name(e164: str, cc_text: str) -> str:
    """Return carrier.name_for_valid_number(number, "en") (empty when there is none)."""
    key = _longest_key("carrier", e164[1:], cc_text)
    if key is None:
        return ""
    if not _CARRIERS:
        _CARRIERS.update(_carrier_data())
    return _CARRIERS[key]["en"]
