"""Short-lived in-process caches for what the send path reads on every request but that
changes rarely: API keys, workspace settings, compliance policies and terms, routes, templates.

How a change reaches a cache:

- **In this process, at once** (or within the TTL when a read races the write's commit).
  Every Core ``INSERT``/``UPDATE``/``DELETE`` executed through
  SQLAlchemy on a watched table empties the caches that watch it (one ``after_execute``
  listener on every engine), whoever wrote the statement: a route disabled through the API, a
  key revoked from the CLI in an embedded ``clarion serve``, a policy set by a test.
- **In another process, within the TTL** (``TTL_S``, 2 s): ``clarion serve`` processes share
  nothing, so a key revoked on one machine may still authenticate on another for up to 2 s,
  and a new suppression policy or route may apply up to 2 s late there. Writes made with raw
  SQL text (``sa.text``) are seen the same way, after the TTL.

Per-contact facts (consent, suppression, send counts) are never cached: they are read fresh
by the one query of :func:`clarion.compliance.engine.evaluate_one`, so a STOP applies to the
very next send. Entries are keyed by the engine as well, so two databases in one process
(the tests) never see each other's rows.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql.dml import UpdateBase

T = TypeVar("T")

#: How long an entry may serve before it is read again (seconds).
TTL_S = 2.0
#: Entries per cache; past it the cache is emptied (a crude bound, enough for hot keys).
MAX_ENTRIES = 4096

_watchers: dict[str, weakref.WeakSet[TTLCache[Any]]] = {}


class TTLCache(Generic[T]):
    """A dict of ``key -> (value, expiry)``, emptied on writes to the tables it watches."""

    def __init__(self, *tables: str, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._data: dict[Hashable, tuple[T, float]] = {}
        self._lock = threading.Lock()
        for name in tables:
            _watchers.setdefault(name, weakref.WeakSet()).add(self)

    def get(self, bind: sa.Connection | sa.Engine, key: Hashable, load: Callable[[], T]) -> T:
        """Return the cached value of ``key`` in ``bind``'s database, loading it when stale."""
        full = (bind.engine, key)  # the engine object: hashed by identity, one per database
        now = time.monotonic()
        hit = self._data.get(full)
        if hit is not None and hit[1] > now:
            return hit[0]
        value = load()
        with self._lock:
            if len(self._data) >= MAX_ENTRIES:
                self._data.clear()
            self._data[full] = (value, now + self.ttl_s)
        return value

    def clear(self) -> None:
        """Forget every entry (a watched table was written)."""
        with self._lock:
            self._data.clear()


def clear_all() -> None:
    """Empty every cache (for tests that write watched tables with raw SQL)."""
    for caches in _watchers.values():
        for cache in list(caches):
            cache.clear()


def _on_execute(conn: Any, clause: Any, *_: Any) -> None:
    if isinstance(clause, UpdateBase):
        table = getattr(clause, "table", None)
        caches = _watchers.get(getattr(table, "name", ""))
        if caches:
            for cache in list(caches):
                cache.clear()


sa.event.listen(sa.engine.Engine, "after_execute", _on_execute)
