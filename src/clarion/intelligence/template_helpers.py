"""Template helpers backed by the models: recommend(n), also_bought(sku, n), trait(name).

Installed into :mod:`clarion.messages.templates` through its helper hooks, so messages does not
import intelligence. Rendering is per recipient, but the data is read in batches: a miss for
contact ``c`` reads the stored lists (or traits) of the next ``BATCH`` contacts of the workspace
from ``c`` on, in id order, which is the order senders walk their audience. So a send to a
million contacts costs a thousand queries, not a million; products come from a cache per
workspace. Cached values live ``TTL_S`` seconds and are dropped when a model run is saved in
this process.

Usage::

    {% for p in recommend(3) %}{{ p.name }} {{ link(p.url) }} {% endfor %}
    {% for p in also_bought("SKU-1", 2) %}{{ p.name }}{% endfor %}
    {% if trait("rfm_group") == "champions" %}Thanks for being one of our best!{% endif %}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.db.engine import read_only
from clarion.intelligence import basket
from clarion.intelligence.recommend import Server
from clarion.intelligence.tables import contact_recommendations
from clarion.messages.templates import set_helper_hook
from clarion.traits.tables import contact_traits

BATCH = 1000
TTL_S = 300.0


class Helpers:
    """The cached, batched lookups behind the helpers, for one engine."""

    def __init__(self, engine: Engine | Callable[[], Engine]):
        self._engine = engine
        self._lock = threading.Lock()
        self.clear()

    def engine(self) -> Engine:
        """Return the engine (resolved on first use when given as a factory)."""
        if not isinstance(self._engine, Engine):
            self._engine = self._engine()
        return self._engine

    def clear(self) -> None:
        """Forget every cached value (a model run was saved)."""
        self._born = time.monotonic()
        self._recs: dict[int, list[dict[str, Any]]] = {}
        self._traits: dict[int, dict[str, Any]] = {}
        self._products: dict[int, dict[int, dict[str, Any]]] = {}
        self._popular: dict[int, list[int]] = {}
        self._also: dict[tuple[int, str], list[dict[str, Any]]] = {}

    def _fresh(self) -> None:
        if time.monotonic() - self._born > TTL_S:
            self.clear()

    def recommend(self, contact_id: int, workspace_id: int, n: int) -> list[dict[str, Any]]:
        """Return up to ``n`` recommended products for the contact."""
        with self._lock:
            self._fresh()
            if contact_id not in self._recs:
                self._load_recs(contact_id, workspace_id)
            return self._recs.get(contact_id, [])[:n]

    def _load_recs(self, contact_id: int, workspace_id: int) -> None:
        with read_only(self.engine()) as conn:
            ids = list(
                conn.execute(
                    sa.select(contact_recommendations.c.contact_id)
                    .where(
                        contact_recommendations.c.workspace_id == workspace_id,
                        contact_recommendations.c.contact_id >= contact_id,
                    )
                    .order_by(contact_recommendations.c.contact_id)
                    .limit(BATCH)
                ).scalars()
            )
            if contact_id not in ids:
                ids.append(contact_id)
            server = Server(
                conn,
                workspace_id,
                products_cache=self._products.setdefault(workspace_id, {}),
                popular=self._popular.get(workspace_id),
            )
            self._recs.update(server.for_contacts(ids, 20))
            self._popular[workspace_id] = server.popular_ids()

    def trait(self, contact_id: int, workspace_id: int, name: str) -> Any:
        """Return the contact's trait ``name`` (None without one)."""
        with self._lock:
            self._fresh()
            if contact_id not in self._traits:
                self._load_traits(contact_id, workspace_id)
            return self._traits.get(contact_id, {}).get(name)

    def _load_traits(self, contact_id: int, workspace_id: int) -> None:
        with read_only(self.engine()) as conn:
            hi = conn.execute(
                sa.select(sa.func.max(contact_traits.c.contact_id)).where(
                    contact_traits.c.workspace_id == workspace_id,
                    contact_traits.c.contact_id >= contact_id,
                    contact_traits.c.contact_id < contact_id + BATCH,
                )
            ).scalar()
            top = int(hi) if hi is not None else contact_id
            rows = conn.execute(
                sa.select(
                    contact_traits.c.contact_id,
                    contact_traits.c.name,
                    contact_traits.c.value_num,
                    contact_traits.c.value_text,
                ).where(
                    contact_traits.c.workspace_id == workspace_id,
                    contact_traits.c.contact_id.between(contact_id, top),
                )
            ).all()
        for cid in range(contact_id, top + 1):
            self._traits.setdefault(cid, {})
        for cid, name, num, text in rows:
            value = text if text is not None else num
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            self._traits[int(cid)][name] = value

    def also_bought(self, workspace_id: int, sku: str, n: int) -> list[dict[str, Any]]:
        """Return up to ``n`` products people buy with ``sku``."""
        with self._lock:
            self._fresh()
            key = (workspace_id, sku)
            if key not in self._also:
                with read_only(self.engine()) as conn:
                    self._also[key] = basket.also_bought(conn, workspace_id, [sku], 20)[sku]
            return self._also[key][:n]


def _contact(ctx: Mapping[str, Any]) -> tuple[int, int] | None:
    contact = ctx.get("contact")
    if not isinstance(contact, Mapping):
        return None
    cid, ws = contact.get("id"), contact.get("workspace_id")
    if not isinstance(cid, int) or not isinstance(ws, int):
        return None
    return cid, ws


_installed: Helpers | None = None


def install(engine: Engine | None = None) -> Helpers:
    """Install the helpers into the template engine; return them (for clearing, tests).

    Without an engine, the configured one (``CLARION_DATABASE_URL``) is used on first render.
    """
    global _installed
    if engine is None:
        from clarion.db.engine import get_engine

        helpers = Helpers(get_engine)
    else:
        helpers = Helpers(engine)

    def recommend(ctx: Mapping[str, Any], n: int = 3) -> list[dict[str, Any]]:
        who = _contact(ctx)
        return helpers.recommend(who[0], who[1], int(n)) if who else []

    def also_bought(ctx: Mapping[str, Any], sku: str, n: int = 3) -> list[dict[str, Any]]:
        who = _contact(ctx)
        return helpers.also_bought(who[1], str(sku), int(n)) if who else []

    def trait(ctx: Mapping[str, Any], name: str, default: Any = None) -> Any:
        who = _contact(ctx)
        value = helpers.trait(who[0], who[1], str(name)) if who else None
        return default if value is None else value

    set_helper_hook("recommend", recommend)
    set_helper_hook("also_bought", also_bought)
    set_helper_hook("trait", trait)
    _installed = helpers
    return helpers


def uninstall() -> None:
    """Restore the template engine's default helpers."""
    global _installed
    for name in ("recommend", "also_bought", "trait"):
        set_helper_hook(name, None)
    _installed = None


def clear_cache() -> None:
    """Drop cached values of the installed helpers (after a model run is saved)."""
    if _installed is not None:
        _installed.clear()
