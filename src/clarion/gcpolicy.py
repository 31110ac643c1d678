"""Collect cyclic garbage less often while a hot loop runs (an import, a worker dispatching).

Both allocate a dozen or more short-lived objects per row or message, almost none of them in
cycles, and reference counting frees them. With CPython's default thresholds the cyclic
collector ran every 700 allocations, and each older-generation pass walked every long-lived
object of the process (SQLAlchemy's metadata, compiled statements, the loaded modules):
measured, about a fifth of an import's main process CPU (200,000 rows), and 15-20% of the
worker's CPU per message while a campaign is dispatched on PostgreSQL (143 -> 119 us/message
in an A/B of bench_campaign on an idle machine). Collection still runs, only rarer; what was
allocated before the loop started is frozen out of it.

Several users may overlap in one process (the API runs imports in threads, ``clarion serve``
runs the worker beside it): the first one in sets the thresholds and the last one out
restores them.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Generation 0 is collected after this many net allocations (CPython's default: 700).
YOUNG = 100_000

_lock = threading.Lock()
_users = 0
_before: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds (and freeze what exists) for the ``with`` block."""
    global _users, _before
    with _lock:
        if _users == 0:
            _before = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(YOUNG, 50, 100)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_before)
                gc.unfreeze()
