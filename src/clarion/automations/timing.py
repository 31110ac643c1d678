"""When a wait ends, and when a yearly date falls, on the recipient's clock.

Local times are computed through ``zoneinfo`` on wall-clock time and converted back to UTC, so
"until 10:00" means 10:00 for the recipient on both sides of a DST change. A wall time inside a
spring-forward gap (02:30) lands on the equivalent instant just after the gap.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from clarion.automations.models import Wait
from clarion.compliance.quiet_hours import resolve_zone, zone


def recipient_zone(contact: dict[str, Any] | Any, workspace_tz: str) -> str:
    """Return the contact's zone: own zone, the number's zone, else the workspace's."""
    get = contact.get if isinstance(contact, dict) else lambda k: getattr(contact, k, None)
    tz, _ = resolve_zone(get("timezone"), get("phone_timezone"), get("phone"), workspace_tz)
    return tz


def at_local(day: date, t: time, tz_name: str) -> datetime:
    """Return ``day`` at wall time ``t`` in ``tz_name``, as UTC."""
    return datetime.combine(day, t, tzinfo=zone(tz_name)).astimezone(UTC)


def next_local(after: datetime, t: time, tz_name: str) -> datetime:
    """Return the first moment at or after ``after`` when the recipient's clock shows ``t``."""
    local_day = after.astimezone(zone(tz_name)).date()
    for offset in range(3):
        candidate = at_local(local_day + timedelta(days=offset), t, tz_name)
        if candidate >= after:
            return candidate
    raise AssertionError("a wall time recurs within three days")  # pragma: no cover


def wait_until(start: datetime, wait: Wait, tz_name: str) -> datetime:
    """Return when a wait that began at ``start`` ends: after ``duration``, then at ``until``."""
    end = start + wait.duration if wait.duration is not None else start
    if wait.until is not None:
        end = next_local(end, wait.until, tz_name)
    return end


def yearly(day: date, year: int) -> date:
    """Return the anniversary of ``day`` in ``year`` (29 February falls on 28 in other years)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return date(year, 2, 28)
