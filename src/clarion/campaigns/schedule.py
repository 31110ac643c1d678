"""Each recipient's send time from the campaign's schedule, in the recipient's zone.

Computed once per distinct (zone, hour, minute) and cached: a million recipients in a few
dozen zones cost a few dozen zone conversions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass
class SendTime:
    """Compute each recipient's send time from the schedule, cached per (zone, hour)."""

    schedule: dict[str, Any]
    now: datetime
    default_zone: ZoneInfo
    _cache: dict[tuple[str, int, int], datetime] = field(default_factory=dict)

    def __call__(self, zone_name: str | None, best_hour: float | None) -> datetime:
        kind = self.schedule.get("kind", "now")
        if kind == "now":
            return self.now
        if kind == "at":
            return datetime.fromisoformat(self.schedule["at"]).astimezone(UTC)
        tz = zone(zone_name) or self.default_zone
        hh, mm = 9, 0
        if self.schedule.get("local_time"):
            hh, mm = (int(x) for x in self.schedule["local_time"].split(":"))
        if kind == "best_hour" and best_hour is not None and 0 <= best_hour < 24:
            hh, mm = int(best_hour), 0
        key = (tz.key, hh, mm)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._local(tz, hh, mm)
        return hit

    def _local(self, tz: ZoneInfo, hh: int, mm: int) -> datetime:
        fixed = self.schedule.get("date")
        if fixed:
            day = date.fromisoformat(fixed)
            return datetime.combine(day, time(hh, mm), tz).astimezone(UTC)
        local_now = self.now.astimezone(tz)
        candidate = datetime.combine(local_now.date(), time(hh, mm), tz)
        if candidate < local_now:
            candidate = datetime.combine(local_now.date() + timedelta(days=1), time(hh, mm), tz)
        return candidate.astimezone(UTC)
