"""No-send days: weekdays, public holidays and dates on which marketing must not go out.

Some US states forbid telephone solicitation on Sundays and legal holidays (secondary sources;
kept as data in ``policies.json`` so a workspace can correct them), and a workspace may add its
own blackout dates (a national day of mourning, a brand's quiet day). Public holidays come from
the ``holidays`` package, which tracks each country's and subdivision's calendar far better than
a list kept here could (moved holidays, observed days, new ones).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache

import holidays

from clarion.errors import ValidationFailed

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekdays(value: object, where: str) -> tuple[int, ...]:
    """Return weekday numbers (Monday 0) from names such as ``["sat", "sun"]``."""
    if not isinstance(value, list | tuple):
        raise ValidationFailed("no_send_days is a list of weekday names", field=where, value=value)
    out = []
    for i, name in enumerate(value):
        key = str(name).strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ValidationFailed(
                f"unknown weekday {name!r}", field=f"{where}[{i}]", value=name, allowed=WEEKDAYS
            )
        out.append(WEEKDAYS.index(key))
    return tuple(sorted(set(out)))


def parse_dates(value: object, where: str) -> tuple[date, ...]:
    """Return dates from ISO strings (``"2026-12-24"``)."""
    if not isinstance(value, list | tuple):
        raise ValidationFailed("no_send_dates is a list of YYYY-MM-DD", field=where, value=value)
    out = []
    for i, text in enumerate(value):
        try:
            out.append(date.fromisoformat(str(text)))
        except ValueError:
            raise ValidationFailed(
                "a no-send date is YYYY-MM-DD", field=f"{where}[{i}]", value=text
            ) from None
    return tuple(sorted(set(out)))


def holiday_calendar(code: str) -> tuple[str, str | None] | None:
    """Return (country, subdivision) of a jurisdiction code: ``US-AL`` -> (``US``, ``AL``).

    None for a code that names no country (``EU``, ``default``): a holiday rule set for the
    whole workspace then applies only where there is a calendar to read.
    """
    country, _, subdiv = code.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        return None
    return country, (subdiv if subdiv in supported[country] else None)


@lru_cache(maxsize=256)
def _holidays(country: str, subdiv: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdiv)


def holiday_name(code: str, day: date) -> str | None:
    """Return the name of the public holiday on ``day`` in jurisdiction ``code``, if any."""
    calendar = holiday_calendar(code)
    if calendar is None:
        return None
    name = _holidays(*calendar).get(day)
    return None if name is None else str(name)


@lru_cache(maxsize=1024)
def blocked_days(
    code: str, weekdays: tuple[int, ...], on_holidays: bool, dates: tuple[date, ...]
) -> Callable[[date], bool] | None:
    """Return a local-date predicate for the no-send days of a policy, None if there are none."""
    on_holidays = on_holidays and holiday_calendar(code) is not None
    if not weekdays and not on_holidays and not dates:
        return None

    def blocked(day: date) -> bool:
        return (
            day.weekday() in weekdays
            or day in dates
            or (on_holidays and holiday_name(code, day) is not None)
        )

    return blocked


def why_blocked(
    code: str, weekdays: tuple[int, ...], on_holidays: bool, dates: tuple[date, ...], day: date
) -> str | None:
    """Return why ``day`` is a no-send day (for explanations), None if it is not one."""
    if day.weekday() in weekdays:
        return f"{WEEKDAYS[day.weekday()].capitalize()} {day.isoformat()} is a no-send weekday"
    if day in dates:
        return f"{day.isoformat()} is a no-send date"
    if on_holidays and (name := holiday_name(code, day)) is not None:
        return f"{day.isoformat()} is a public holiday ({name})"
    return None
