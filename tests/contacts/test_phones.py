"""Phone parsing: the messy numbers people actually type, and why the bad ones are refused."""

from __future__ import annotations

import pytest

from clarion.contacts.phones import PhoneError, PhoneInfo, parse_phone

VALID = [
    # raw, region, E.164, type, region of the number
    ("138 0013 8000", "CN", "+8613800138000", "mobile", "CN"),
    ("+86 138-0013-8000", None, "+8613800138000", "mobile", "CN"),
    ("0086 13800138000", "US", "+8613800138000", "mobile", "CN"),
    ("010 6552 9988", "CN", "+861065529988", "fixed_line", "CN"),
    ("(650) 253-0000", "US", "+16502530000", "fixed_line_or_mobile", "US"),
    ("650.253.0000 ext. 12", "US", "+16502530000", "fixed_line_or_mobile", "US"),
    ("+1 212 555 1234", "DE", "+12125551234", "fixed_line_or_mobile", "US"),
    ("07712 345678", "GB", "+447712345678", "mobile", "GB"),
    ("+44 (0)20 7946 0958", None, "+442079460958", "fixed_line", "GB"),
    ("0151 23456789", "DE", "+4915123456789", "mobile", "DE"),
    ("030/1234567", "DE", "+49301234567", "fixed_line", "DE"),
    ("  +49 30 1234567  ", None, "+49301234567", "fixed_line", "DE"),
]

INVALID = [
    # raw, region, reason
    ("", "US", "empty"),
    ("   ", "US", "empty"),
    ("1-800-FLOWERS", "US", "letters"),
    ("call me", None, "letters"),
    ("13800138000", None, "no_region"),
    ("123", "US", "too_short"),
    ("12345678901234567890", "US", "too_long"),
    ("+999 1234 5678", None, "invalid_country_code"),
    ("+1 555 0100", "US", "invalid_number"),
    ("555 123 4567", "US", "invalid_number"),
    ("099 1234 5678", "GB", "invalid_number"),
    ("+", "US", "not_a_number"),
]


@pytest.mark.parametrize(("raw", "region", "e164", "kind", "number_region"), VALID)
def test_valid_numbers_become_e164_with_their_facts(
    raw: str, region: str | None, e164: str, kind: str, number_region: str
) -> None:
    got = parse_phone(raw, region)
    assert isinstance(got, PhoneInfo), got
    assert (got.e164, got.type, got.region) == (e164, kind, number_region)


@pytest.mark.parametrize(("raw", "region", "reason"), INVALID)
def test_invalid_numbers_are_refused_with_the_reason(
    raw: str, region: str | None, reason: str
) -> None:
    got = parse_phone(raw, region)
    assert isinstance(got, PhoneError), got
    assert got.reason == reason
    assert got.raw == raw


def test_time_zone_and_carrier_are_recorded_when_the_plan_gives_them() -> None:
    got = parse_phone("138 0013 8000", "CN")
    assert isinstance(got, PhoneInfo)
    assert got.timezone == "Asia/Shanghai"
    assert got.carrier == "China Mobile"
    # a US number spans one zone by area code; a toll-free number has no carrier or zone
    us = parse_phone("(650) 253-0000", "US")
    assert isinstance(us, PhoneInfo) and us.timezone == "America/Los_Angeles"


def test_the_same_number_in_other_spellings_gives_the_same_answer() -> None:
    spellings = ["+8613800138000", "0086-138-0013-8000", "138 0013 8000", "(138) 00138000"]
    answers = {parse_phone(s, "CN") for s in spellings}
    assert len(answers) == 1
