"""Routes: which connector carries a message to a destination, at what priority and price.

Routes are few (tens) and read once per plan or per dispatch batch, so matching happens in
Python over a list ordered by (priority, id); failover is "the next matching route in that order".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.delivery.tables import routes
from clarion.errors import Conflict, NotFound


class RouteCreate(BaseModel):
    """A route as a person describes it; empty destination lists mean "any"."""

    name: str = Field(min_length=1, max_length=100)
    channel: str = "sms"
    connector: str = Field(min_length=1, max_length=100)
    countries: list[str] = Field(default_factory=list)
    prefixes: list[str] = Field(default_factory=list)
    carriers: list[str] = Field(default_factory=list)
    priority: int = 100
    price_per_part: float = Field(0.0, ge=0)


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    name: str
    channel: str
    connector: str
    priority: int
    price_per_part: float
    countries: frozenset[str] = field(default_factory=frozenset)
    prefixes: tuple[str, ...] = ()
    carriers: frozenset[str] = field(default_factory=frozenset)
    #: False when route health (clarion.analytics.route_health) saw its recent delivery rate
    #: fall below the threshold: pick_route tries every healthy route first.
    healthy: bool = True

    def serves(self, destination: str | None, country: str | None, carrier: str | None) -> bool:
        """Return whether this route may carry a message to ``destination``."""
        if self.countries and (country or "").upper() not in self.countries:
            return False
        if self.prefixes and not (destination and destination.startswith(self.prefixes)):
            return False
        return not self.carriers or (carrier or "").lower() in self.carriers


def create_route(conn: sa.Connection, actor: Actor, spec: RouteCreate) -> int:
    """Create a route in the actor's workspace and return its id."""
    exists = conn.execute(
        sa.select(routes.c.id).where(
            routes.c.workspace_id == actor.workspace_id, routes.c.name == spec.name
        )
    ).first()
    if exists is not None:
        raise Conflict(f"a route named {spec.name!r} exists", field="name", value=spec.name)
    route_id = int(
        conn.execute(
            routes.insert()
            .values(
                workspace_id=actor.workspace_id,
                name=spec.name,
                channel=spec.channel,
                connector=spec.connector,
                countries=[c.upper() for c in spec.countries],
                prefixes=spec.prefixes,
                carriers=[c.lower() for c in spec.carriers],
                priority=spec.priority,
                price_per_part=spec.price_per_part,
                active=True,
                created_at=utcnow(),
            )
            .returning(routes.c.id)
        ).scalar_one()
    )
    record(conn, actor, "route.create", "route", route_id, spec.model_dump())
    return route_id


def set_route_active(conn: sa.Connection, actor: Actor, route_id: int, active: bool) -> None:
    """Enable or disable a route (a disabled route is skipped by planner and failover)."""
    res = conn.execute(
        routes.update()
        .where(routes.c.id == route_id, routes.c.workspace_id == actor.workspace_id)
        .values(active=active)
    )
    if res.rowcount == 0:
        raise NotFound(f"no route {route_id}", field="route_id", value=route_id)
    record(conn, actor, "route.enable" if active else "route.disable", "route", route_id)


def load_routes(conn: sa.Connection, workspace_id: int, channel: str | None = None) -> list[Route]:
    """Return the workspace's active routes in failover order (priority, then id)."""
    q = sa.select(routes).where(routes.c.workspace_id == workspace_id, routes.c.active.is_(True))
    if channel is not None:
        q = q.where(routes.c.channel == channel)
    found = [_route(r) for r in conn.execute(q.order_by(routes.c.priority, routes.c.id))]
    unhealthy = _unhealthy(conn, workspace_id) if found else frozenset()
    return [replace(r, healthy=False) if r.id in unhealthy else r for r in found]


def _unhealthy(conn: sa.Connection, workspace_id: int) -> frozenset[int]:
    """Return the ids of routes that route health finds failing now (a few counter rows)."""
    try:
        from clarion.analytics.route_health import unhealthy_routes
    except ImportError:  # an installation without analytics routes by priority alone
        return frozenset()
    return unhealthy_routes(conn, workspace_id)


def list_routes(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return every route of the workspace, active or not."""
    q = sa.select(routes).where(routes.c.workspace_id == workspace_id)
    return [dict(r) for r in conn.execute(q.order_by(routes.c.priority, routes.c.id)).mappings()]


def _route(r: Any) -> Route:
    return Route(
        id=int(r.id),
        name=r.name,
        channel=r.channel,
        connector=r.connector,
        priority=int(r.priority),
        price_per_part=float(r.price_per_part),
        countries=frozenset(r.countries),
        prefixes=tuple(r.prefixes),
        carriers=frozenset(r.carriers),
    )


def pick_route(
    candidates: Sequence[Route],
    destination: str | None,
    country: str | None = None,
    carrier: str | None = None,
    *,
    after: Route | None = None,
) -> Route | None:
    """Return the first route serving the destination, or the first one that comes after
    route ``after`` in failover order (which need not be active any more). Healthy routes
    come first; an unhealthy one is used only when no healthy route serves the destination."""
    fallback: Route | None = None
    for route in candidates:
        if after is not None and (route.priority, route.id) <= (after.priority, after.id):
            continue
        if route.serves(destination, country, carrier):
            if route.healthy:
                return route
            fallback = fallback or route
    return fallback


def routes_by_id(conn: sa.Connection, workspace_id: int) -> dict[int, Route]:
    """Return every route of the workspace (active or not) by id, for failover lookups."""
    q = sa.select(routes).where(routes.c.workspace_id == workspace_id)
    return {int(r.id): _route(r) for r in conn.execute(q)}
