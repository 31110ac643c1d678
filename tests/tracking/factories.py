"""Rows for measurement tests: messages in given states, clicks, orders, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.delivery.tables import messages
from clarion.events.tables import events, orders
from clarion.tracking.tables import link_clicks, links


def message(
    engine: Engine,
    ws: int,
    campaign_id: int,
    contact_id: int,
    *,
    at: datetime,
    status: str = "delivered",
    variant_id: int | None = None,
    holdout: bool = False,
    **kw: Any,
) -> int:
    """Insert one outbox row sent (and, if delivered, delivered) at ``at``; return its id."""
    values: dict[str, Any] = {
        "workspace_id": ws,
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "variant_id": variant_id,
        "holdout": holdout,
        "status": status,
        "channel": "sms",
        "send_at": at,
        "queued_at": at,
        "parts": 0 if holdout else 1,
        "cost": 0 if holdout else 0.01,
        "attempts": 0,
        "uncertain": False,
    }
    if not holdout and status != "queued":
        values["submitted_at"] = at
    if status == "delivered":
        values["delivered_at"] = at
    values.update(kw)
    with engine.begin() as conn:
        return int(
            conn.execute(messages.insert().values(**values).returning(messages.c.id)).scalar_one()
        )


def click(
    engine: Engine,
    ws: int,
    campaign_id: int,
    contact_id: int,
    at: datetime,
    filtered: str | None = None,
) -> None:
    """Insert a link for (campaign, contact) and one click on it at ``at``."""
    with engine.begin() as conn:
        link_id = conn.execute(
            links.insert()
            .values(
                workspace_id=ws,
                code=f"c{campaign_id}x{contact_id}x{int(at.timestamp())}"[:16],
                url="https://shop.example/",
                campaign_id=campaign_id,
                contact_id=contact_id,
                created_at=at,
            )
            .returning(links.c.id)
        ).scalar_one()
        conn.execute(
            link_clicks.insert().values(
                link_id=link_id,
                workspace_id=ws,
                campaign_id=campaign_id,
                contact_id=contact_id,
                clicked_at=at,
                method="GET",
                filtered=filtered,
            )
        )


def order(
    engine: Engine, ws: int, contact_id: int, at: datetime, total: float, status: str = "placed"
) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                orders.insert()
                .values(
                    workspace_id=ws,
                    contact_id=contact_id,
                    external_id=f"o-{contact_id}-{at.timestamp()}-{total}",
                    placed_at=at,
                    currency="USD",
                    total=total,
                    status=status,
                    attributes={},
                    created_at=at,
                )
                .returning(orders.c.id)
            ).scalar_one()
        )


def event(engine: Engine, ws: int, contact_id: int, name: str, at: datetime, **props: Any) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                events.insert()
                .values(
                    workspace_id=ws,
                    contact_id=contact_id,
                    name=name,
                    properties=props,
                    occurred_at=at,
                    received_at=at,
                )
                .returning(events.c.id)
            ).scalar_one()
        )


def rows(engine: Engine, table: sa.Table) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table)))
