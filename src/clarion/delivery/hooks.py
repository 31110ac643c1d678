"""What other features run inside the delivery worker: periodic jobs and inbound handlers.

Several features need a clock or the replies a channel receives (journey waits, webhook
retries, fallback timers, double opt-in expiry, keyword handling). Rather than each starting a
loop of its own, or the worker importing every feature, a feature declares a ``jobs`` module
(``clarion/<feature>/jobs.py``) that calls :func:`periodic` and :func:`on_inbound` at import;
the worker loads every such module once (:func:`load_all_jobs`) and drives them.

Contract for a periodic job: it is called in a worker thread as ``run(engine, worker_id)``,
opens its own short transactions, returns how many things it did (for the worker's stats), and
is safe when several workers run it at once (claim rows with a conditional UPDATE or
``FOR UPDATE SKIP LOCKED``). An exception is logged and the job is tried again next period.

Contract for an inbound handler: ``handle(engine, workspace_id, batch)`` with the inbound
messages the worker's channels received since the last call; ``workspace_id`` is the worker's
(``None`` for a worker serving every workspace: resolve it from ``Inbound.connector``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

import clarion
from clarion.channels.base import Inbound

log = logging.getLogger("clarion.worker")

JobFn = Callable[[Engine, str], int]
InboundFn = Callable[[Engine, int | None, Sequence[Inbound]], None]


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A function the worker calls about every ``every_s`` seconds."""

    name: str
    every_s: float
    run: JobFn


_JOBS: dict[str, PeriodicJob] = {}
_INBOUND: dict[str, InboundFn] = {}
_loaded = False


def periodic(name: str, every_s: float) -> Callable[[JobFn], JobFn]:
    """Register the decorated function as periodic job ``name`` (re-registering replaces)."""
    if every_s <= 0:
        raise ValueError(f"periodic job {name!r}: every_s must be positive, got {every_s}")

    def deco(fn: JobFn) -> JobFn:
        _JOBS[name] = PeriodicJob(name, float(every_s), fn)
        return fn

    return deco


def on_inbound(name: str) -> Callable[[InboundFn], InboundFn]:
    """Register the decorated function as inbound handler ``name``."""

    def deco(fn: InboundFn) -> InboundFn:
        _INBOUND[name] = fn
        return fn

    return deco


def load_all_jobs() -> None:
    """Import every ``clarion.**.jobs`` module once, so their registrations run."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.walk_packages(clarion.__path__, prefix="clarion."):
        if info.name.rsplit(".", 1)[-1] == "jobs":
            importlib.import_module(info.name)
    _loaded = True


def jobs() -> list[PeriodicJob]:
    """Return the registered periodic jobs, by name."""
    load_all_jobs()
    return [_JOBS[k] for k in sorted(_JOBS)]


def inbound_handlers() -> list[tuple[str, InboundFn]]:
    """Return the registered inbound handlers, by name."""
    load_all_jobs()
    return sorted(_INBOUND.items())
