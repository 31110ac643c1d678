"""Pure rules: policy lookup and layering, quiet hours across DST, wording rules."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from clarion.compliance.content import (
    contains_phrase,
    first_message_reasons,
    help_reply_reasons,
    opt_out_reasons,
    signature_reasons,
)
from clarion.compliance.policies import Cap, jurisdiction_for, resolve
from clarion.compliance.quiet_hours import next_allowed, resolve_zone, zone_of_number
from clarion.errors import ValidationFailed


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("+13055550123", "US-FL"),  # Miami
        ("+14055550123", "US-OK"),  # Oklahoma City
        ("+12035550123", "US-CT"),  # Connecticut
        ("+13105550123", "US"),  # Los Angeles: federal rules only
        ("+8613812345678", "CN"),
        ("+447400123456", "GB"),
        ("+33612345678", "EU"),
        ("+4915112345678", "EU"),
        ("+819012345678", "default"),
    ],
)
def test_the_number_chooses_the_jurisdiction(phone: str, code: str) -> None:
    assert jurisdiction_for(phone) == code


def test_a_state_tightens_the_federal_window_and_adds_its_cap() -> None:
    # when Florida's policy is resolved
    fl = resolve("US-FL")
    # then it keeps the federal consent rule but has its own window and cap
    assert fl.marketing_consent == "express"
    assert fl.send_window == (time(8), time(20))
    assert fl.caps == (Cap(3, 24),)
    assert resolve("US").send_window == (time(8), time(21))


def test_workspace_settings_add_restrictions_but_never_loosen_the_law() -> None:
    # given a workspace-wide cap of 2 per 7 days and a wider window than the law allows
    overrides = {"*": {"caps": [{"count": 2, "days": 7}], "send_window": ["07:00", "22:00"]}}
    # when Florida's policy is resolved for that workspace
    fl = resolve("US-FL", overrides)
    # then both caps apply and the window stays Florida's
    assert set(fl.caps) == {Cap(2, 168), Cap(3, 24)}
    assert fl.send_window == (time(8), time(20))
    # and a stricter workspace window wins
    assert resolve("US", {"*": {"send_window": ["10:00", "18:00"]}}).send_window == (
        time(10),
        time(18),
    )


def test_a_workspace_sets_its_brand_and_allow_list() -> None:
    p = resolve("US", {"*": {"brand": "Acme"}, "US": {"allowed_domains": ["Acme.com"]}})
    assert p.brand == "Acme" and p.allowed_domains == ("acme.com",)


def test_bad_override_values_name_the_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        resolve("US", {"*": {"send_window": ["21:00", "08:00"]}})
    assert err.value.fields["field"] == "US.send_window"


def test_22_00_in_shanghai_moves_to_08_00_next_day() -> None:
    at = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    got = next_allowed(at, "Asia/Shanghai", (time(8), time(21)))
    assert got == datetime(2026, 5, 2, 0, 0, tzinfo=UTC)  # 08:00 on 2 May, Shanghai


def test_inside_the_window_nothing_moves_and_early_morning_waits_for_the_same_day() -> None:
    window = (time(8), time(21))
    noon = datetime(2026, 5, 1, 19, 0, tzinfo=UTC)  # 12:00 in Los Angeles
    assert next_allowed(noon, "America/Los_Angeles", window) == noon
    dawn = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # 05:00 in Los Angeles
    assert next_allowed(dawn, "America/Los_Angeles", window) == datetime(
        2026, 5, 1, 15, 0, tzinfo=UTC
    )


def test_spring_forward_moves_to_08_00_daylight_time() -> None:
    # given 01:00 EST on 8 March 2026, the night clocks jump from 02:00 to 03:00
    at = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    # then 08:00 that morning is already EDT (UTC-4)
    got = next_allowed(at, "America/New_York", (time(8), time(21)))
    assert got == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_fall_back_moves_to_08_00_standard_time() -> None:
    # given 21:30 EDT on 31 October 2026; clocks fall back at 02:00 on 1 November
    at = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)
    got = next_allowed(at, "America/New_York", (time(8), time(21)))
    assert got == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 08:00 EST = 13:00 UTC


def test_a_window_opening_inside_the_dst_gap_opens_after_the_gap() -> None:
    # given a window opening at 02:30, a wall time that does not exist on 8 March 2026
    at = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST
    got = next_allowed(at, "America/New_York", (time(2, 30), time(21)))
    # then the send goes at 03:30 EDT, the same instant as "02:30 EST"
    assert got == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_the_repeated_hour_at_fall_back_is_inside_or_outside_by_the_wall_clock() -> None:
    window = (time(1, 30), time(21))
    # 01:15 EDT and 01:15 EST both happen on 1 November; both are before 01:30
    first = datetime(2026, 11, 1, 5, 15, tzinfo=UTC)
    second = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
    assert next_allowed(first, "America/New_York", window) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    assert next_allowed(second, "America/New_York", window) == datetime(
        2026, 11, 1, 6, 30, tzinfo=UTC
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        next_allowed(datetime(2026, 1, 1, 12), "UTC", (time(8), time(21)))  # noqa: DTZ001


def test_zone_order_contact_then_phone_then_number_then_workspace() -> None:
    assert resolve_zone("Europe/Paris", "Asia/Tokyo", "+13105550123", "UTC") == (
        "Europe/Paris",
        "contact",
    )
    assert resolve_zone(None, "Asia/Tokyo", "+13105550123", "UTC") == ("Asia/Tokyo", "phone")
    assert resolve_zone(None, None, "+13105550123", "UTC") == ("America/Los_Angeles", "number")
    # a toll-free number maps to dozens of zones: the workspace's zone is used
    assert zone_of_number("+18005550123") is None
    assert resolve_zone("Not/AZone", None, "+18005550123", "Europe/London") == (
        "Europe/London",
        "workspace",
    )


def test_cn_signature_rules() -> None:
    cn = resolve("CN")
    assert signature_reasons("【好店】春季新品上市，回T退订", cn) == []
    assert [r.code for r in signature_reasons("春季新品上市，回T退订", cn)] == [
        "cn_signature_missing"
    ]
    extra = signature_reasons("【好店】春季【新品】上市，回T退订", cn)
    assert [r.code for r in extra] == ["cn_signature_extra_brackets"]
    assert "position 6" in extra[0].detail
    # the US has no signature rule
    assert signature_reasons("Hello", resolve("US")) == []


def test_cn_opt_out_text_is_found_in_full_width_too() -> None:
    cn = resolve("CN")
    assert opt_out_reasons("【好店】新品上市，回Ｔ退订", cn, "marketing") == []
    assert opt_out_reasons("【好店】新品上市，拒收请回复R", cn, "marketing") == []
    missing = opt_out_reasons("【好店】新品上市", cn, "marketing")
    assert [r.code for r in missing] == ["opt_out_missing"]
    # transactional messages need none
    assert opt_out_reasons("【好店】您的验证码是 1234", cn, "transactional") == []


def test_stop_must_be_a_word() -> None:
    assert contains_phrase("Reply STOP to opt out", ("stop",)) == "stop"
    assert contains_phrase("Non-stop deals!", ("stop",)) == "stop"  # a word after a hyphen
    assert contains_phrase("Unstoppable deals", ("stop",)) is None


def test_first_message_needs_brand_and_stop() -> None:
    us = resolve("US", {"*": {"brand": "Acme"}})
    codes = [r.code for r in first_message_reasons("Big sale today", us, "marketing")]
    assert codes == ["first_message_brand_missing", "first_message_stop_missing"]
    assert (
        first_message_reasons("Acme: big sale today. Reply STOP to opt out", us, "marketing") == []
    )
    no_brand = resolve("US")
    assert [r.code for r in first_message_reasons("x STOP", no_brand, "marketing")] == [
        "brand_not_configured"
    ]


def test_help_reply_must_name_brand_contact_rates_and_stop() -> None:
    us = resolve("US", {"*": {"brand": "Acme"}})
    good = "Acme alerts: help at support@acme.com. Msg & data rates may apply. Reply STOP to end."
    assert help_reply_reasons(good, us) == []
    codes = {r.code for r in help_reply_reasons("Acme: we are here to help", us)}
    assert codes == {"help_rates_missing", "help_stop_missing", "help_contact_missing"}
