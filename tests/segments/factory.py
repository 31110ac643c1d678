"""Test data written straight into the tables the segment compiler reads (no importers)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from clarion.consent.tables import consent_ledger, consent_state
from clarion.contacts.tables import contact_tags, contacts
from clarion.events.tables import events, order_items, orders
from clarion.traits.tables import contact_traits

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)


@dataclass
class Person:
    """One contact and everything the rules can look at, kept in Python for the evaluator."""

    id: int = 0
    country: str | None = None
    first_name: str | None = None
    phone_carrier: str | None = None
    created_at: datetime = AT
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    consent: dict[tuple[str, str], str] = field(default_factory=dict)
    events: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)
    # (placed_at, total, [(sku, category)])
    orders: list[tuple[datetime, float, list[tuple[str, str | None]]]] = field(default_factory=list)
    traits: dict[str, float | str] = field(default_factory=dict)


def insert_people(conn: sa.Connection, workspace_id: int, people: list[Person]) -> None:
    """Insert ``people`` (setting their ids), in a few bulk statements."""
    for p in people:
        p.id = conn.execute(
            contacts.insert()
            .values(
                workspace_id=workspace_id,
                country=p.country,
                first_name=p.first_name,
                phone_carrier=p.phone_carrier,
                attributes=p.attributes,
                created_at=p.created_at,
                updated_at=p.created_at,
            )
            .returning(contacts.c.id)
        ).scalar_one()
    tags = [{"contact_id": p.id, "tag": t} for p in people for t in p.tags]
    if tags:
        conn.execute(contact_tags.insert(), tags)
    for p in people:
        for (channel, purpose), status in p.consent.items():
            lid = conn.execute(
                consent_ledger.insert()
                .values(
                    workspace_id=workspace_id,
                    contact_id=p.id,
                    channel=channel,
                    purpose=purpose,
                    status=status,
                    source="test",
                    occurred_at=AT,
                    recorded_at=AT,
                    actor="test",
                )
                .returning(consent_ledger.c.id)
            ).scalar_one()
            conn.execute(
                consent_state.insert().values(
                    contact_id=p.id,
                    channel=channel,
                    purpose=purpose,
                    workspace_id=workspace_id,
                    status=status,
                    ledger_id=lid,
                    since=AT,
                )
            )
    evs = [
        {
            "workspace_id": workspace_id,
            "contact_id": p.id,
            "name": name,
            "properties": props,
            "occurred_at": t,
            "received_at": t,
        }
        for p in people
        for name, t, props in p.events
    ]
    if evs:
        conn.execute(events.insert(), evs)
    for p in people:
        for placed_at, total, items in p.orders:
            oid = conn.execute(
                orders.insert()
                .values(
                    workspace_id=workspace_id,
                    contact_id=p.id,
                    external_id=f"o{next(_seq)}",
                    placed_at=placed_at,
                    currency="USD",
                    total=total,
                    status="placed",
                    attributes={},
                    created_at=placed_at,
                )
                .returning(orders.c.id)
            ).scalar_one()
            if items:
                conn.execute(
                    order_items.insert(),
                    [
                        {
                            "order_id": oid,
                            "workspace_id": workspace_id,
                            "sku": sku,
                            "category": cat,
                            "quantity": 1,
                            "unit_price": 1.0,
                        }
                        for sku, cat in items
                    ],
                )
    traits = [
        {
            "contact_id": p.id,
            "name": name,
            "workspace_id": workspace_id,
            "value_num": v if not isinstance(v, str) else None,
            "value_text": v if isinstance(v, str) else None,
            "computed_at": AT,
            "source": "test",
            "model_version": "1",
        }
        for p in people
        for name, v in p.traits.items()
    ]
    if traits:
        conn.execute(contact_traits.insert(), traits)
