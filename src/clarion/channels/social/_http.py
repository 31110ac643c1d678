"""Small pieces every platform adapter shares: the HTTP client and reading error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def client(
    base_url: str, transport: httpx.AsyncBaseTransport | None, **kw: Any
) -> httpx.AsyncClient:
    """Return an async client for one platform host (``transport`` lets tests use MockTransport)."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"), timeout=TIMEOUT, transport=transport, **kw
    )


def json_body(resp: httpx.Response) -> dict[str, Any]:
    """Return the response's JSON object, or ``{}`` when it is not one."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def seconds_until(value: str | None) -> float | None:
    """Return seconds from now until ``value`` (epoch seconds, ISO 8601 or an HTTP date)."""
    if not value:
        return None
    now = datetime.now(UTC)
    try:
        return max(0.0, float(value) - now.timestamp())
    except ValueError:
        pass
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            at = parse(value.replace("Z", "+00:00"))
        except (ValueError, TypeError):
            continue
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return max(0.0, (at - now).total_seconds())
    return None


def parse_time(value: str | None) -> datetime:
    """Return an aware datetime from an ISO 8601 string (now when absent or unreadable)."""
    if value:
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return at if at.tzinfo else at.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)
