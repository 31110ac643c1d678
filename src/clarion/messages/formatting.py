"""Template filters that format numbers, money and dates in the recipient's locale and zone.

The recipient's locale and time zone travel in the render context under ``_locale`` and ``_tz``
(set by :func:`clarion.messages.templates.contact_context`), so one compiled template serves
every recipient.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import pass_context
from jinja2.runtime import Context, Undefined

DEFAULT_LOCALE = "en_US"
DEFAULT_TZ = "UTC"

Number = int | float | Decimal


@lru_cache(maxsize=512)
def babel_locale(tag: str | None) -> Locale:
    """Return the babel locale for a tag like ``zh-CN`` or ``de_DE`` (en_US when unknown)."""
    if not tag:
        return Locale.parse(DEFAULT_LOCALE)
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


@lru_cache(maxsize=512)
def zone(name: str | None) -> tzinfo:
    """Return the time zone called ``name`` (UTC when missing or unknown)."""
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


#: CLDR puts no-break spaces (U+00A0, U+202F) in numbers, money and dates ("1 234,50 €");
#: either one forces the whole SMS into UCS-2, which halves the characters per part.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def _sms(text: str) -> str:
    return text.translate(_SPACES)


def _locale(ctx: Context) -> Locale:
    return babel_locale(ctx.get("_locale"))


def _tz(ctx: Context) -> tzinfo:
    return zone(ctx.get("_tz"))


def _as_datetime(value: Any) -> datetime | date:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if "T" in value or " " in value.strip() else parsed.date()
    if isinstance(value, datetime | date):
        return value
    raise TypeError(f"not a date or time: {value!r}")


@pass_context
def number(ctx: Context, value: Number, digits: int | None = None) -> str:
    """Format a number with the locale's grouping and decimal signs."""
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return _sms(babel_numbers.format_decimal(value, format=pattern, locale=_locale(ctx)))


@pass_context
def currency(ctx: Context, value: Number, code: str | None = None) -> str:
    """Format money; the currency is ``code`` or the context's ``_currency`` (USD by default)."""
    cur = code or ctx.get("_currency") or "USD"
    return _sms(babel_numbers.format_currency(value, cur, locale=_locale(ctx)))


@pass_context
def percent(ctx: Context, value: Number) -> str:
    """Format a ratio (0.2) as a percentage (20%) in the locale's style."""
    return _sms(babel_numbers.format_percent(value, locale=_locale(ctx)))


@pass_context
def format_date(ctx: Context, value: Any, fmt: str = "medium") -> str:
    """Format a date; an aware datetime is first moved to the recipient's zone."""
    d = _as_datetime(value)
    if isinstance(d, datetime):
        d = (d.astimezone(_tz(ctx)) if d.tzinfo else d).date()
    return _date_text(d, fmt, ctx.get("_locale"))


@lru_cache(maxsize=8192)
def _date_text(d: date, fmt: str, tag: str | None) -> str:
    # A campaign's recipients share a handful of dates and locales: format each once.
    return _sms(babel_dates.format_date(d, format=fmt, locale=babel_locale(tag)))


@pass_context
def format_datetime(ctx: Context, value: Any, fmt: str = "medium") -> str:
    """Format a date and time in the recipient's zone and locale."""
    d = _as_datetime(value)
    if not isinstance(d, datetime):
        d = datetime.combine(d, time(0), tzinfo=_tz(ctx))
    return _sms(babel_dates.format_datetime(d, format=fmt, tzinfo=_tz(ctx), locale=_locale(ctx)))


@pass_context
def format_time(ctx: Context, value: Any, fmt: str = "short") -> str:
    """Format the time of day in the recipient's zone and locale."""
    d = _as_datetime(value)
    if not isinstance(d, datetime):
        raise TypeError(f"not a time: {value!r}")
    return _sms(babel_dates.format_time(d, format=fmt, tzinfo=_tz(ctx), locale=_locale(ctx)))


def default(value: Any, default_value: Any = "", _boolean: bool = False) -> Any:
    """Return ``default_value`` when ``value`` is missing, None or empty text.

    Unlike Jinja's own ``default``, None and "" count as missing: a contact field that was
    never filled is None in the database, and "Hi None" is never what a sender means.
    """
    if isinstance(value, Undefined) or value is None or value == "":
        return default_value
    return value


FILTERS = {
    "number": number,
    "currency": currency,
    "percent": percent,
    "date": format_date,
    "datetime": format_datetime,
    "time": format_time,
    "default": default,
    "d": default,
}
