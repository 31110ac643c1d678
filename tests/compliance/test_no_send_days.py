"""No-send days: Sundays, public holidays and blackout dates move marketing to the next day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance import evaluate
from clarion.compliance.policies import jurisdiction_for, resolve, validate_settings
from clarion.compliance.quiet_hours import next_allowed
from clarion.compliance.settings import set_policy
from clarion.errors import ValidationFailed

from .conftest import MakeContact

CHICAGO = "America/Chicago"  # Alabama and Louisiana
# Saturday 2026-11-28 21:00 in Birmingham, AL (UTC-6): after the 20:00 close
SATURDAY_EVENING = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
US_TEXT = "Acme: winter sale, 20% off today. Reply STOP to opt out"


def test_alabama_numbers_get_sundays_and_state_holidays_off() -> None:
    # given the Alabama policy (secondary sources, kept as data)
    al = resolve("US-AL")
    assert jurisdiction_for("+12055550123") == "US-AL"  # Birmingham
    assert al.send_window == (time(8), time(20)) and al.no_send_days == (6,)
    # then Sunday and Thanksgiving are blocked, an ordinary Friday is not
    assert al.why_blocked(date(2026, 11, 29)) == "Sun 2026-11-29 is a no-send weekday"
    assert al.why_blocked(date(2026, 11, 26)) == "2026-11-26 is a public holiday (Thanksgiving Day)"
    assert al.why_blocked(date(2026, 11, 27)) is None
    # and states without such a rule have none
    assert resolve("US-FL").blocked_day is None


def test_saturday_evening_waits_for_monday_morning_not_sunday() -> None:
    al = resolve("US-AL")
    # when a send at 21:00 on Saturday is placed
    moved = next_allowed(SATURDAY_EVENING, CHICAGO, al.send_window, al.blocked_day)
    # then it goes out at 08:00 on Monday 30 November, local time
    assert moved == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    # and without the day rule it would have gone out on Sunday morning
    assert next_allowed(SATURDAY_EVENING, CHICAGO, al.send_window) == datetime(
        2026, 11, 29, 14, 0, tzinfo=UTC
    )


def test_a_send_inside_the_window_on_a_holiday_moves_to_the_next_working_morning() -> None:
    al = resolve("US-AL")
    # given 11:00 on Christmas Day (a Friday) in Alabama
    christmas = datetime(2026, 12, 25, 17, 0, tzinfo=UTC)
    # then it waits for Saturday 08:00 (Saturday is allowed in Alabama)
    assert next_allowed(christmas, CHICAGO, al.send_window, al.blocked_day) == datetime(
        2026, 12, 26, 14, 0, tzinfo=UTC
    )


def test_workspace_blackout_dates_and_weekdays_add_to_the_law_and_are_checked() -> None:
    # given a workspace that adds Saturdays everywhere and a blackout date in Florida
    overrides = {"*": {"no_send_days": ["Saturday"]}, "US-FL": {"no_send_dates": ["2026-12-24"]}}
    fl = resolve("US-FL", overrides)
    al = resolve("US-AL", overrides)
    # then Florida has both, and Alabama keeps its Sundays and holidays beside the Saturdays
    assert fl.no_send_days == (5,) and fl.no_send_dates == (date(2026, 12, 24),)
    assert al.no_send_days == (5, 6) and al.no_send_on_holidays
    # and a bad value names the field
    with pytest.raises(ValidationFailed) as err:
        validate_settings({"no_send_days": ["Caturday"]}, "US-FL")
    assert err.value.fields["field"] == "US-FL.no_send_days[0]"
    with pytest.raises(ValidationFailed) as err:
        validate_settings({"no_send_dates": ["24/12/2026"]}, "US-FL")
    assert err.value.fields["field"] == "US-FL.no_send_dates[0]"


def test_a_holiday_rule_for_the_whole_workspace_applies_where_there_is_a_calendar() -> None:
    overrides = {"*": {"no_send_on_holidays": True}}
    # given China's calendar: National Day is a holiday there, an ordinary Tuesday is not
    cn = resolve("CN", overrides)
    assert cn.why_blocked(date(2026, 10, 1)) is not None
    assert cn.why_blocked(date(2026, 11, 24)) is None
    # and the EU and the default policy name no country, so no holiday applies there
    assert resolve("EU", overrides).blocked_day is None
    assert resolve("default", overrides).blocked_day is None


def test_rules_that_block_every_day_are_an_error_not_a_hang() -> None:
    every = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    policy = resolve("US", {"*": {"no_send_days": every}})
    with pytest.raises(ValidationFailed) as err:
        next_allowed(SATURDAY_EVENING, CHICAGO, policy.send_window, policy.blocked_day)
    assert err.value.fields["field"] == "no_send_days"


def test_the_engine_moves_a_sunday_send_and_names_the_day(
    engine: Engine, workspace_id: int, actor: Actor, make_contact: MakeContact
) -> None:
    with engine.begin() as conn:
        set_policy(conn, actor, "*", {"brand": "Acme"})
    # given an opted-in Alabama contact and a Florida one
    al = make_contact("+12055550123", timezone=CHICAGO)
    fl = make_contact("+13055550123", timezone="America/New_York")
    # when a marketing send is evaluated for Sunday noon in Alabama
    sunday_noon = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    with engine.connect() as conn:
        out = evaluate(conn, workspace_id, [al, fl], US_TEXT, "marketing", "sms", sunday_noon)
    # then Alabama's waits for Monday 08:00 with a no_send_day reason, Florida's goes now
    assert out[al].allowed and out[al].send_at == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    (reason,) = [r for r in out[al].reasons if r.code == "no_send_day"]
    assert reason.rule == "US-AL.no_send_days" and "Sun 2026-11-29" in reason.detail
    assert out[fl].allowed and out[fl].send_at == sunday_noon
    # and a transactional message is not moved
    with engine.connect() as conn:
        tx = evaluate(conn, workspace_id, [al], US_TEXT, "transactional", "sms", sunday_noon)
    assert tx[al].send_at == sunday_noon
