"""The fast path for common number shapes never disagrees with the phonenumbers library.

Whatever ``phonefast`` accepts must be exactly what the full library path (``_parse_slow``)
makes of the same input: E.164, type, region, carrier and time zone. Inputs are generated from
the library's own example numbers of every region and type, mutated digit by digit, written
with and without ``+``/``00``, the calling code and the national prefix, plus random digits.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType
from phonenumbers.phonenumberutil import _number_type_helper

from clarion.contacts import phonefast, phones

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.PERSONAL_NUMBER,
]


def _examples() -> list[tuple[str, int, str]]:
    """Return (region, calling code, national number) of every example number the library has."""
    out = []
    for region in REGIONS:
        for kind in TYPES:
            num = phonenumbers.example_number_for_type(region, kind)
            if num is not None:
                nsn = phonenumbers.national_significant_number(num)
                out.append((region, int(num.country_code or 0), nsn))
    return out


EXAMPLES = _examples()


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str | None]:
    """Return (compact number as the importer passes it, default region)."""
    region, cc, nsn = draw(st.sampled_from(EXAMPLES))
    digits = list(nsn)
    for _ in range(draw(st.integers(0, 3))):  # mutate a few digits
        digits[draw(st.integers(0, len(digits) - 1))] = draw(st.sampled_from("0123456789"))
    if draw(st.booleans()):  # sometimes longer or shorter
        if draw(st.booleans()):
            digits.append(draw(st.sampled_from("0123456789")))
        elif len(digits) > 1:
            digits.pop()
    body = "".join(digits)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    prefix = (meta.national_prefix if meta is not None else None) or ""
    shape = draw(st.sampled_from(["national", "prefixed", "plus", "cc_no_plus", "random"]))
    if shape == "prefixed":
        body = prefix + body
    elif shape == "plus":
        body = f"+{cc}{body}"
    elif shape == "cc_no_plus":
        body = f"{cc}{body}"
    elif shape == "random":
        body = draw(st.sampled_from(["", "+"])) + draw(st.text("0123456789", max_size=18))
    default = draw(st.sampled_from([region, region, "US", "CN", "GB", "DE", None]))
    if default is None and not body.startswith("+"):
        default = region
    return body, default


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written_numbers())
def test_whatever_the_fast_path_accepts_the_library_reads_the_same(
    case: tuple[str, str | None],
) -> None:
    # given a number written in one of the shapes the fast path knows
    compact, region = case
    # when the fast path classifies it
    fast = phonefast.classify(compact, region)
    # then it either leaves it to the library, or gives exactly the library's answer
    if fast is None:
        return
    slow = phones._parse_slow(compact, compact, region)
    assert isinstance(slow, phones.PhoneInfo), (compact, region, fast, slow)
    assert phones._fast_facts(*fast) == slow


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written_numbers())
def test_whatever_the_fast_path_refuses_the_library_refuses_for_the_same_reason(
    case: tuple[str, str | None],
) -> None:
    # given a number written in one of the shapes the fast path knows
    compact, region = case
    # when the fast path decides it
    got = phonefast.decide(compact, region)
    # then a refusal is the library's, reason and wording (and an acceptance its answer)
    if got is None:
        return
    phones.clear_caches()
    slow = phones._parse_slow(compact, compact, region)
    if len(got) == 4:
        assert phones._fast_facts(*got) == slow
        return
    assert isinstance(slow, phones.PhoneError), (compact, region, got, slow)
    assert phones._refusal(compact, *got) == slow


@pytest.mark.parametrize(
    ("compact", "region", "reason"),
    [
        ("2125550100", "GB", "invalid_number"),  # a US number read in Great Britain
        ("07712345678", "US", "too_long"),  # a British number read in the US
        ("0000000000", "US", "invalid_number"),
        ("13912345678", "US", "invalid_number"),  # a Chinese mobile read in the US
        ("+1555010", None, "too_short"),
        ("+4477123456789012", None, "too_long"),
        ("5550100123", "US", "invalid_number"),
    ],
)
def test_common_invalid_numbers_are_refused_by_the_fast_path_as_the_library_does(
    compact: str, region: str | None, reason: str
) -> None:
    got = phonefast.decide(compact, region)
    assert got is not None and got[0] == reason, got
    slow = phones._parse_slow(compact, compact, region)
    assert isinstance(slow, phones.PhoneError) and slow.reason == reason
    assert phones._refusal(compact, *got) == slow  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("compact", "region"),
    [
        ("13800138000", "CN"),
        ("+8613800138000", None),
        ("6502530000", "US"),
        ("+12125551234", "DE"),
        ("07712345678", "GB"),
        ("+447712345678", None),
        ("015123456789", "DE"),
        ("+4915123456789", "US"),
        ("+16135550123", None),  # +1 shared: a Canadian area code
        ("+390612345678", None),  # Italian leading zero kept in the national number
        ("0612345678", "IT"),
        ("12125551234", "US"),  # starts with the calling code: read as +1 212 ...
    ],
)
def test_the_common_shapes_take_the_fast_path_and_agree(compact: str, region: str | None) -> None:
    # given the everyday shapes of a contacts file
    # when classified
    fast = phonefast.classify(compact, region)
    # then the fast path decided, and agrees with the library
    assert fast is not None
    assert phones._fast_facts(*fast) == phones._parse_slow(compact, compact, region)


@pytest.mark.parametrize(
    ("compact", "region"),
    [
        ("01144207946095", "US"),  # US international dialling prefix
        ("+80012345678", None),  # non-geographic calling code
        ("12345", "US"),  # invalid: the library words the reason
        ("+4412", None),
    ],
)
def test_unusual_shapes_are_left_to_the_library(compact: str, region: str | None) -> None:
    assert phonefast.classify(compact, region) is None


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.data())
def test_the_number_type_of_a_plan_is_the_librarys(
    example: tuple[str, int, str], data: st.DataObject
) -> None:
    # given a national number of a region, as in its examples or with digits changed
    region, _cc, nsn = example
    digits = list(nsn)
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(digits) - 1))
        digits[at] = data.draw(st.sampled_from("0123456789"))
    nsn = "".join(digits) + data.draw(st.text("0123456789", max_size=2))
    plan = phonefast.plan_for(region)
    assert plan is not None
    # when its type is found with the plan's one-pattern-per-length
    # then it is the type the library's helper finds with the region's metadata
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    assert plan.number_type(nsn) == _number_type_helper(nsn, meta), (region, nsn)
