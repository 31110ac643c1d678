"""Plain input and result records of event, order and product ingestion.

They are dataclasses rather than pydantic models so that service functions stay free of any web
framework; the API converts its request schemas into these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class ContactRef:
    """How an event names its person; the first non-empty field wins.

    Precedence: ``contact_id`` > ``external_id`` > ``phone`` (E.164 or as written) > ``email``.
    """

    contact_id: int | None = None
    external_id: str | None = None
    phone: str | None = None
    email: str | None = None

    def key(self) -> tuple[str, Any] | None:
        """Return ``(kind, value)`` of the field that names the person, or None if none does."""
        if self.contact_id is not None:
            return ("contact_id", int(self.contact_id))
        for kind in ("external_id", "phone", "email"):
            value = getattr(self, kind)
            if isinstance(value, str) and value.strip():
                return (kind, value.strip())
        return None


@dataclass(frozen=True)
class Reject:
    """One input record that was not stored, and why (``index`` is its position in the batch)."""

    index: int
    field: str
    value: Any
    reason: str


@dataclass
class IngestResult:
    """What a batch did: stored, skipped as already seen, refused; ids aligned with the input."""

    accepted: int
    duplicates: int
    rejects: list[Reject]
    ids: list[int | None]


@dataclass
class TrackIn:
    """One behavioural event (Segment's ``track``)."""

    contact: ContactRef
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    message_id: str | None = None
    source: str = "api"
