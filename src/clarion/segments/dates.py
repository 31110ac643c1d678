"""Dates in rules: absolute ISO dates and times, or relative to the moment of evaluation.

A rule says "-30d" or "today" and means it relative to when the segment is counted, so a
saved segment stays meaningful tomorrow; snapshots record that moment as ``taken_at``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^([+-]?)(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_date(spec: object, at: datetime) -> datetime:
    """Return the aware UTC moment ``spec`` names, relative ones resolved against ``at``.

    Accepted: ``now``, ``today`` (midnight UTC), ``-30d`` / ``+2h`` / ``-6w`` / ``-15m``, an ISO
    date (midnight UTC) or an ISO date-time (UTC when it carries no offset). Raise ValueError
    otherwise.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("a date is a string such as '2026-01-31', 'today' or '-30d'")
    s = spec.strip().lower()
    if s == "now":
        return at
    if s == "today":
        return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    m = _RELATIVE.match(s)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return at + sign * timedelta(**{_UNITS[m.group(3)]: int(m.group(2))})
    try:
        parsed = datetime.fromisoformat(spec.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {spec!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
