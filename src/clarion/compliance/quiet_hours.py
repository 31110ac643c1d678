"""Quiet hours: move a send to the next moment inside the recipient's local send window.

All arithmetic is on local wall-clock time through ``zoneinfo``, then converted back to UTC, so
a window of 08:00-21:00 means 08:00 on the recipient's clock on both sides of a DST change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

from clarion.errors import ValidationFailed

#: How far ahead a send may be pushed by no-send days before the rules count as "never".
MAX_BLOCKED_DAYS = 14


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """Return the ZoneInfo for ``name`` or raise ValidationFailed."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"unknown time zone {name!r}", field="timezone", value=name
        ) from None


def valid_zone(name: str | None) -> str | None:
    """Return ``name`` if it names a known zone, else None."""
    if not name:
        return None
    try:
        zone(name)
    except ValidationFailed:
        return None
    return name


@lru_cache(maxsize=65536)
def _zone_of_prefix(prefix: str) -> str | None:
    try:
        num = phonenumbers.parse(prefix.ljust(12, "0"), None)
    except phonenumbers.NumberParseException:
        return None
    zones = pn_timezone.time_zones_for_number(num)
    # A number with many zones (US toll-free maps to about 40) says nothing about where its
    # owner sleeps: only a single zone is trusted.
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None


def zone_prefix(phone: str) -> str:
    """Return the part of a number its zone depends on: phonenumbers' zone data is keyed by
    prefixes of at most +1NPANXX (8 characters), so numbers alike there share a zone."""
    return phone[:8]


def zone_of_number(phone: str | None) -> str | None:
    """Return the number's zone when its prefix has exactly one, else None."""
    if not phone:
        return None
    return _zone_of_prefix(zone_prefix(phone))


def resolve_zone(
    contact_tz: str | None, phone_tz: str | None, phone: str | None, workspace_tz: str
) -> tuple[str, str]:
    """Return the recipient's zone and where it came from.

    Order: the contact's own zone, else the zone stored for the number, else the number's
    region's only zone, else the workspace's zone.
    """
    if tz := valid_zone(contact_tz):
        return tz, "contact"
    if tz := valid_zone(phone_tz):
        return tz, "phone"
    if tz := valid_zone(zone_of_number(phone)):
        return tz, "number"
    return workspace_tz, "workspace"


def _local(d: datetime, t: time, tz: ZoneInfo, after: datetime) -> datetime:
    # A wall time inside a DST gap (02:30 on a spring-forward night) does not exist; the
    # round trip through UTC lands on the equivalent instant after the gap. A wall time in
    # the repeated hour of a fall-back night exists twice: take the first not before ``after``.
    first = datetime.combine(d.date(), t, tzinfo=tz).astimezone(UTC)
    if first >= after:
        return first
    return datetime.combine(d.date(), t, tzinfo=tz).replace(fold=1).astimezone(UTC)


def next_allowed(
    at: datetime,
    tz_name: str,
    window: tuple[time, time] | None,
    blocked: Callable[[date], bool] | None = None,
) -> datetime:
    """Return ``at`` if it falls in the local window [start, end) on an allowed day, else the
    start of the next window on a day ``blocked`` (a local date -> bool) does not refuse.

    ``at`` must be aware; the result is in UTC.
    """
    if at.tzinfo is None:
        raise ValidationFailed("naive datetime", field="at", value=str(at))
    at = at.astimezone(UTC)
    if window is None and blocked is None:
        return at
    start, end = window if window is not None else (time(0), time(0))
    if window is not None and not start < end:
        raise ValidationFailed(
            "empty send window: the rules that apply leave no time to send",
            field="send_window",
            value=[start.isoformat("minutes"), end.isoformat("minutes")],
        )
    tz = zone(tz_name)
    local = at.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    in_window = window is None or start <= wall < end
    if in_window and (blocked is None or not blocked(local.date())):
        return at
    day = local if window is not None and wall < start else local + timedelta(days=1)
    for _ in range(MAX_BLOCKED_DAYS):
        if blocked is None or not blocked(day.date()):
            return _local(day, start, tz, at)
        day += timedelta(days=1)
    raise ValidationFailed(
        f"no day to send on in the {MAX_BLOCKED_DAYS} days after {local:%Y-%m-%d}: "
        "the no-send days that apply block them all",
        field="no_send_days",
        value=f"{local:%Y-%m-%d}",
    )
