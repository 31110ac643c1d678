"""Journey test helpers: contacts, events at chosen times, journeys, the clock-driven tick."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.automations import jobs, service
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.events.service import ContactRef, TrackIn, track


class Journeys:
    """Test data and actions bound to one database and actor."""

    def __init__(self, engine: Engine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor
        self.ws = actor.workspace_id
        self._made = 0

    def people(self, n: int, *, timezone: str | None = "UTC", **attributes: Any) -> list[int]:
        """Insert ``n`` contacts (phones +1555010000, ...) and return their ids."""
        now = utcnow()
        first, self._made = self._made, self._made + n
        rows = [
            {
                "workspace_id": self.ws,
                "first_name": f"Ann{i}",
                "phone": f"+1555010{i:04d}",
                "phone_region": "US",
                "country": "US",
                "timezone": timezone,
                "attributes": dict(attributes),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(first, first + n)
        ]
        with self.engine.begin() as conn:
            got = conn.execute(contacts.insert().returning(contacts.c.id), rows).all()
        return [int(r.id) for r in got]

    def emit(
        self,
        contact_id: int,
        name: str,
        properties: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Track one event for a contact and return its id."""
        with self.engine.begin() as conn:
            res = track(
                conn,
                self.actor,
                [TrackIn(ContactRef(contact_id=contact_id), name, properties or {}, at)],
            )
        assert res.rejects == [], res.rejects
        assert res.ids[0] is not None
        return res.ids[0]

    def save(self, doc: dict[str, Any], **kw: Any) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return service.save_journey(conn, self.actor, doc, **kw)

    def now(self) -> datetime:
        return utcnow()

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        return jobs.tick(self.engine, now=now)

    def path(self, journey: str, contact_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return service.run_path(conn, self.ws, journey, contact_id)

    def outcomes(self, journey: str, contact_id: int) -> list[tuple[str, str]]:
        """Return (step, outcome) of every step the contact's runs took, in order."""
        p = self.path(journey, contact_id)
        return [(s["step"], s["outcome"]) for r in p["runs"] for s in r["steps"]]

    def runs(self, journey: str, **kw: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return service.list_runs(conn, self.ws, journey, **kw)

    def scalar(self, q: sa.Select[Any]) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()


def wait_journey(
    name: str = "cart", steps: Sequence[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    """A journey on ``cart_abandoned``: wait 1h, then exit (no send), goal ``order_created``."""
    doc: dict[str, Any] = {
        "name": name,
        "trigger": {"event": "cart_abandoned"},
        "steps": list(steps)
        if steps is not None
        else [
            {"id": "wait", "wait": {"duration": "1h"}},
            {"id": "done", "exit": {"reason": "waited"}},
        ],
        "goal": {"event": "order_created"},
    }
    doc.update(kw)
    return doc
