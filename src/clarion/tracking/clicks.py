"""Resolve short codes and record clicks, many requests per transaction (group commit).

The redirect answers only after its click is committed, so a click that got its redirect is
never lost, not even to a crash. To reach thousands of redirects a second anyway, requests that
arrive together share one transaction: :class:`ClickRecorder` gathers the requests waiting on
the event loop, resolves all their codes in one SELECT and writes all their clicks in one INSERT
(in a worker thread), then answers them all. While one batch is being written the next gathers,
so the batch size follows the load and a lone click waits only for its own commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.db.sql import in_values
from clarion.delivery.bulk import db_time, insert_rows
from clarion.tracking.tables import links

log = logging.getLogger("clarion.tracking")

MAX_BATCH = 1_000

_CLICK_COLUMNS = (
    ("link_id", "bigint"),
    ("workspace_id", "bigint"),
    ("campaign_id", "bigint"),
    ("contact_id", "bigint"),
    ("clicked_at", "timestamptz"),
    ("method", "text"),
    ("user_agent", "text"),
    ("ip", "text"),
    ("filtered", "text"),
)


@dataclass(frozen=True, slots=True)
class Hit:
    """One request for a short code, as the redirect endpoint saw it."""

    code: str
    method: str
    user_agent: str | None
    ip: str | None
    filtered: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a code leads: ``url`` to redirect to, or ``gone`` (expired) / neither (unknown)."""

    url: str | None
    gone: bool = False


UNKNOWN = Resolution(None)
GONE = Resolution(None, gone=True)


def resolve_and_record(conn: sa.Connection, hits: Sequence[Hit]) -> list[Resolution]:
    """Resolve every hit's code and record the hits on live links; one SELECT, one INSERT."""
    if not hits:
        return []
    codes = sorted({h.code for h in hits})
    found = {
        r.code: r
        for r in conn.execute(
            sa.select(
                links.c.id,
                links.c.code,
                links.c.url,
                links.c.workspace_id,
                links.c.campaign_id,
                links.c.contact_id,
                links.c.expires_at,
            ).where(in_values(conn, links.c.code, codes))
        )
    }
    out: list[Resolution] = []
    rows: list[tuple[object, ...]] = []
    for h in hits:
        link = found.get(h.code)
        if link is None:
            out.append(UNKNOWN)
            continue
        if link.expires_at is not None and link.expires_at <= h.at:
            out.append(GONE)
            continue
        out.append(Resolution(link.url))
        rows.append(
            (
                link.id,
                link.workspace_id,
                link.campaign_id,
                link.contact_id,
                db_time(conn, h.at),
                h.method,
                (h.user_agent or "")[:500] or None,
                (h.ip or "")[:64] or None,
                h.filtered,
            )
        )
    insert_rows(conn, "link_clicks", _CLICK_COLUMNS, rows)
    return out


def record_hits(engine: Engine, hits: Sequence[Hit]) -> list[Resolution]:
    """Resolve and record ``hits`` in one committed transaction."""
    with engine.begin() as conn:
        return resolve_and_record(conn, hits)


class ClickRecorder:
    """Group commit of redirect requests for one event loop (see the module docstring)."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._waiting: list[tuple[Hit, asyncio.Future[Resolution]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.recorded = 0

    async def submit(self, hit: Hit) -> Resolution:
        """Return where ``hit`` leads, once its click is committed."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._start(loop)
        future: asyncio.Future[Resolution] = loop.create_future()
        self._waiting.append((hit, future))
        assert self._wake is not None
        self._wake.set()
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wake = asyncio.Event()
        self._waiting = []
        self._task = loop.create_task(self._run(), name="clarion-click-recorder")

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._write(batch)

    async def _write(self, batch: list[tuple[Hit, asyncio.Future[Resolution]]]) -> None:
        try:
            results = await asyncio.to_thread(record_hits, self.engine, [h for h, _ in batch])
        except Exception as exc:  # the requests answer 503; the clients may retry
            log.exception("recording %d clicks failed", len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batches += 1
        self.recorded += len(batch)
        for (_, fut), res in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(res)
