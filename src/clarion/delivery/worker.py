"""The delivery worker: claim, send, write back, and keep the queue healthy.

One asyncio task per worker process. Database work runs in a thread (``asyncio.to_thread``) so
the channels' sockets keep flowing (receipts keep arriving) while a batch is written. The worker
holds a liveness lease and one lease per connector it sends through; it claims only messages of
routes whose connector it holds, so a connector is driven by one worker in the cluster at a time,
and a killed worker's connectors and in-flight messages are taken over when its leases expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.service import transition
from clarion.campaigns.tables import campaigns
from clarion.channels.base import Channel, Inbound, OutboundMessage, Receipt, Report, SendResult
from clarion.db.engine import read_only
from clarion.db.types import utcnow
from clarion.delivery import dispatcher, hooks, leases, metrics
from clarion.delivery.outcomes import Failure, Submitted, fail_or_failover, record_submitted
from clarion.delivery.receipts import DELIVERED, apply_or_hold
from clarion.delivery.tables import LANE_DUE_INDEX, OPEN_STATES, messages, status_is
from clarion.errors import Conflict
from clarion.gcpolicy import fewer_collections

#: The lane :mod:`clarion.sending` puts transactional messages on.
TRANSACTIONAL_LANE = "transactional"
#: The lane of everything else (the outbox column's default).
BULK_LANE = "bulk"

log = logging.getLogger("clarion.worker")

#: How long a receipt that overtook its submit is held, and how often it is tried again.
EARLY_HOLD_S = 120.0
EARLY_RETRY_S = 0.2
#: How long a receipt waits, without a query, for this worker to write its submit; after that
#: it is looked up in the database (another worker, or an earlier run, may have sent it).
LOCAL_WAIT_S = 1.0
#: Past this many provider ids remembered as written, the memory starts over (receipts then
#: take the database path: slower, never wrong).
WRITTEN_CAP = 500_000

THROTTLE_CODES = frozenset({"ESME_RTHROTTLED", "ESME_RMSGQFUL"})


class _WriteGate:
    """One write transaction at a time in this process, the transactional lane first.

    SQLite has one writer: the lane's claim and write-back queued on the database lock behind
    the bulk loop's batch transactions, and SQLite's busy handler polls with growing sleeps, so
    an order confirmation waited for several of them. Here the lane's writer is let in as soon
    as the current transaction ends. On PostgreSQL the gate is open (rows are locked, not the
    database).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._cond = threading.Condition()
        self._busy = False
        self._lane_waiting = 0

    @contextlib.contextmanager
    def __call__(self, *, lane: bool = False) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with self._cond:
            self._lane_waiting += lane
            try:
                while self._busy or (not lane and self._lane_waiting):
                    self._cond.wait()
            finally:
                self._lane_waiting -= lane
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


def new_worker_id() -> str:
    """Return an id naming the host and process, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Dispatch messages through ``channels`` (connector name -> open-able Channel)."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel] | None = None,
        *,
        worker_id: str | None = None,
        batch_size: int = 1000,
        send_chunk: int = 250,
        lease_ttl: float = 15.0,
        idle_sleep: float = 0.2,
        workspace_id: int | None = None,
        lane_batch: int = 100,
        lane_poll: float = 0.02,
    ) -> None:
        self.engine = engine
        self.channels: dict[str, Channel] = dict(channels or {})
        self.worker_id = worker_id or new_worker_id()
        self.batch_size = batch_size
        self.send_chunk = send_chunk
        self.lease_ttl = lease_ttl
        self.idle_sleep = idle_sleep
        self.workspace_id = workspace_id
        #: The transactional lane: its own small claims, polled every ``lane_poll`` seconds (a
        #: look through a partial index of due transactional rows: cheap enough 50 times a second).
        self.lane_batch = lane_batch
        self.lane_poll = lane_poll
        #: The lane's look for due messages, built once, and the connection it is made on, kept
        #: between polls: a pool checkout with its pre-ping round trip and a statement built
        #: afresh, 50 times a second, were most of what an idle lane cost the worker.
        self._lane_probe = (
            sa.select(messages.c.id)
            .with_hint(messages, f"INDEXED BY {LANE_DUE_INDEX}", "sqlite")
            .where(
                messages.c.lane == sa.literal_column(f"'{TRANSACTIONAL_LANE}'"),
                status_is("queued"),
                messages.c.send_at <= sa.bindparam("now"),
            )
            .limit(1)
        )
        self._lane_conn: sa.Connection | None = None
        self.held: set[str] = set()
        self.up: set[str] = set()
        self._receipts: list[Receipt] = []
        #: Receipts that arrived before their submit was written, with when they first came.
        self._early: list[tuple[float, Receipt]] = []
        self._early_retry_at = 0.0
        #: Provider ids of parts this worker wrote as submitted whose receipt has not come yet,
        #: and receipts waiting for their submit to be written (with when each came): a receipt
        #: overtakes the write of its chunk about every time, and asking the database each time
        #: cost a second query per receipt.
        self._written: set[str] = set()
        self._unwritten: list[tuple[float, Receipt]] = []
        self._inbound: list[Inbound] = []
        #: When each periodic job (``clarion.delivery.hooks``) last started, monotonic.
        self._job_runs: dict[str, float] = {}
        self._last_housekeeping = 0.0
        #: Per-campaign token buckets for ``throughput_per_s``: (tokens, at).
        self._buckets: dict[int, tuple[float, float]] = {}
        #: The next batch, claimed while the last chunk of a full batch is on the wire.
        self._ahead: asyncio.Task[list[dispatcher.Claimed]] | None = None
        #: The last chunk's write-back, left running into the next step when one was claimed
        #: ahead, and how many messages it holds.
        self._writing: asyncio.Task[None] | None = None
        self._written_size = 0
        #: How many the last claim asked for: a claim that got as many is "full".
        self._last_limit = batch_size
        self._bulk_only = False
        self._gate = _WriteGate(engine.dialect.name == "sqlite")
        #: One receipt flush at a time: the send loop and the write-back thread both flush.
        self._flushing = threading.Lock()
        self.stats: Counter[str] = Counter()
        #: Validity periods by seconds, for the messages handed to the channels.
        self._validities: dict[int, timedelta] = {}
        #: CPU seconds each periodic job has used in this worker.
        self.job_cpu: defaultdict[str, float] = defaultdict(float)

    def add_channel(self, connector: str, channel: Channel) -> None:
        """Add a channel (built with ``self.on_report`` as its callback) for ``connector``."""
        self.channels[connector] = channel

    # -- channel reports -------------------------------------------------------------------
    def on_report(self, report: Report) -> None:
        """Collect receipts from the channels (the callback given to them at construction)."""
        if isinstance(report, Receipt) and report.final:
            self._receipts.append(report)
        elif isinstance(report, Inbound):
            self._inbound.append(report)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Take the liveness lease and open the connectors whose leases are won."""
        await self.sweep()

    async def close(self) -> None:
        """Close the channels and give up the leases so others take over at once."""
        for name in list(self.up):
            try:
                await self.channels[name].close()
            except Exception:  # closing a broken link is best effort
                log.exception("closing connector %s", name)
            metrics.CONNECTOR_UP.labels(name).set(0)
        self.up.clear()
        if self._writing is not None:
            await self._writing
            self._writing = None
        if self._ahead is not None:  # claimed ahead, never sent: back to the queue
            ahead, self._ahead = await self._ahead, None
            if ahead:
                with self.engine.begin() as conn:
                    self.stats["unclaimed"] += dispatcher.unclaim(conn, ahead)
        await asyncio.to_thread(self._flush_receipts, force=True)
        with self.engine.begin() as conn:
            leases.release(conn, self.worker_id)
        self.held.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, sleeping only when there is nothing due.

        The cyclic garbage collector runs less often meanwhile (``clarion.gcpolicy``).
        """
        await self.start()
        side = asyncio.create_task(self._hooks_loop(stop))
        lane = asyncio.create_task(self._lane_loop(stop))
        try:
            with fewer_collections():
                while not stop.is_set():
                    done = await self.step(lane=False)
                    if not done:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.idle_sleep)
        finally:
            await side
            await lane
            await self.close()

    async def _lane_loop(self, stop: asyncio.Event) -> None:
        """Send the transactional lane beside the bulk loop, so a campaign batch on the wire
        never holds up an order confirmation (``clarion.sending``)."""
        try:
            while not stop.is_set():
                try:
                    sent = await self.lane_step()
                except Exception:  # a failed claim is retried at the next poll
                    log.exception("transactional lane step failed")
                    sent = 0
                if not sent:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.lane_poll)
        finally:
            await asyncio.to_thread(self._drop_lane_conn)

    def _lane_due(self, now: Any) -> bool:
        """Return whether a transactional message is due (a read: never the write lock)."""
        if self._lane_conn is None:
            self._lane_conn = read_only(self.engine)
        try:
            due = self._lane_conn.execute(self._lane_probe, {"now": now}).first()
            # End the read transaction at once: an open one would hold back SQLite's WAL
            # checkpoints and PostgreSQL's vacuum horizon between polls.
            self._lane_conn.rollback()
        except Exception:
            self._drop_lane_conn()  # a broken connection: the next poll takes a fresh one
            raise
        return due is not None

    def _drop_lane_conn(self) -> None:
        conn, self._lane_conn = self._lane_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def lane_step(self) -> int:
        """Claim, send and write back one small batch of the transactional lane."""
        claimed = await asyncio.to_thread(self._claim_lane, self.held & self.up)
        if claimed:
            outcomes = await self._send_chunk(claimed, urgent=True)
            await asyncio.to_thread(self._write_outcomes, outcomes, lane=True)
        return len(claimed)

    def _claim_lane(self, connectors: set[str]) -> list[dispatcher.Claimed]:
        if not connectors:
            return []
        now = utcnow()
        # Look before claiming: on SQLite a claim takes the write lock, and this runs 50 times
        # a second beside the bulk loop and the API.
        if not self._lane_due(now):
            return []
        with self._gate(lane=True), self.engine.begin() as conn:
            return dispatcher.claim(
                conn,
                self.worker_id,
                connectors=connectors,
                limit=self.lane_batch,
                now=now,
                workspace_id=self.workspace_id,
                lane=TRANSACTIONAL_LANE,
            )

    async def _hooks_loop(self, stop: asyncio.Event) -> None:
        """Run other features' periodic jobs and inbound handlers beside the send loop.

        A separate task, so a slow job never holds up claiming and sending.
        """
        while not stop.is_set():
            await self.run_hooks()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
        await self.run_hooks()  # what arrived while stopping is handled, not dropped

    async def run_hooks(self, *, force: bool = False) -> None:
        """Hand received inbound messages to their handlers, then run the jobs that are due."""
        if self._inbound:
            batch, self._inbound = self._inbound, []
            for name, handle in hooks.inbound_handlers():
                try:
                    await asyncio.to_thread(handle, self.engine, self.workspace_id, batch)
                except Exception:
                    log.exception("inbound handler %s failed on %d messages", name, len(batch))
        for job in hooks.jobs():
            tick = time.monotonic()
            if not force and tick - self._job_runs.get(job.name, -1e9) < job.every_s:
                continue
            self._job_runs[job.name] = tick
            try:
                done, cpu = await asyncio.to_thread(self._run_job, job)
            except Exception:
                log.exception("periodic job %s failed", job.name)
                continue
            self.stats[f"job:{job.name}"] += done
            self.job_cpu[job.name] += cpu
            metrics.JOB_CPU.labels(job.name).inc(cpu)

    def _run_job(self, job: hooks.PeriodicJob) -> tuple[int, float]:
        """Run one periodic job in this thread; return what it did and its CPU seconds (the
        jobs share the worker's process, so an expensive one shows up as dispatch slowing
        down: this says which one)."""
        cpu = time.thread_time()
        done = job.run(self.engine, self.worker_id)
        return done, time.thread_time() - cpu

    # -- one cycle ---------------------------------------------------------------------------
    async def step(self, *, lane: bool = True) -> int:
        """Do one cycle: housekeeping when due, receipts, the transactional lane (unless a
        task of its own runs it), one claimed batch; return how many were sent."""
        if time.monotonic() - self._last_housekeeping > self.lease_ttl / 3:
            await self.sweep()
        await asyncio.to_thread(self._flush_receipts)
        first = await self.lane_step() if lane else 0
        usable = self.held & self.up
        # With the lane's own task running, the bulk loop leaves its messages alone: claimed
        # into a batch of thousands they would wait behind a whole chunk on the wire.
        self._bulk_only = not lane
        if self._ahead is not None:
            claimed, self._ahead = await self._ahead, None
        else:
            self._last_limit = self.batch_size
            claimed = await asyncio.to_thread(self._claim, usable, self.batch_size)
        writing, self._writing = self._writing, None
        for start in range(0, len(claimed), self.send_chunk):
            chunk = claimed[start : start + self.send_chunk]
            if start + self.send_chunk >= len(claimed) and len(claimed) >= self._last_limit:
                self._claim_ahead(usable, len(chunk), writing)
            outcomes = await self._send_chunk(chunk)
            # Write this chunk's outcomes, then apply the receipts that came meanwhile, while
            # the next chunk is on the wire.
            if writing is not None:
                await writing
            writing = asyncio.create_task(asyncio.to_thread(self._write_and_flush, outcomes))
            self._written_size = len(outcomes)
        if self._ahead is not None:
            self._writing = writing  # the next step's first chunk goes out while it is written
            return first + len(claimed)
        if writing is not None:
            await writing
        await asyncio.to_thread(self._flush_receipts)
        return first + len(claimed)

    def _claim_ahead(
        self, usable: set[str], sending: int, writing: asyncio.Task[None] | None
    ) -> None:
        """Claim the next batch while the last chunk of a full one is on the wire, so the
        database works while the worker sends instead of in turn.

        Sized so that this worker never has more than ``batch_size`` messages in ``sending``
        (claimed, on the wire, or written back): that is what a ``kill -9`` can leave
        uncertain, as without claiming ahead.
        """
        pending = sending + (self._written_size if writing is not None else 0)
        n = self.batch_size - pending
        if n > 0:
            self._last_limit = n
            self._ahead = asyncio.create_task(asyncio.to_thread(self._claim, usable, n))

    def _write_and_flush(
        self, outcomes: Sequence[tuple[dispatcher.Claimed, SendResult | None]]
    ) -> None:
        self._write_outcomes(outcomes)
        self._flush_receipts()

    async def sweep(self) -> None:
        """Renew leases, open won connectors, recover, expire, complete and auto-pause now."""
        await asyncio.to_thread(self._housekeeping)
        await self._open_connectors()

    def _claim(self, connectors: set[str], limit: int) -> list[dispatcher.Claimed]:
        """Claim up to ``limit``; campaigns with a throughput limit get what their token
        bucket allows."""
        if not connectors:
            return []
        bulk = BULK_LANE if self._bulk_only else None
        now, tick = utcnow(), time.monotonic()
        common: dict[str, Any] = {
            "connectors": connectors,
            "now": now,
            "workspace_id": self.workspace_id,
            "lane": bulk,
        }
        with self._gate(), self.engine.begin() as conn:
            limits = dispatcher.throughput_limits(conn, self.workspace_id)
            claimed = dispatcher.claim(
                conn, self.worker_id, limit=limit, skip=set(limits), **common
            )
            for cid, rate in limits.items():
                tokens, last = self._buckets.get(cid, (float(rate), tick))
                tokens = min(float(rate), tokens + (tick - last) * rate)
                got = dispatcher.claim(
                    conn, self.worker_id, limit=int(tokens), only={cid}, **common
                )
                self._buckets[cid] = (tokens - len(got), tick)
                claimed += got
        return claimed

    async def _send_chunk(
        self, chunk: Sequence[dispatcher.Claimed], *, urgent: bool = False
    ) -> list[tuple[dispatcher.Claimed, SendResult | None]]:
        """Send a chunk; ``urgent`` (the transactional lane) goes ahead in the connectors'
        queues of anything the bulk loop has waiting there."""
        # Re-check the campaigns first: a pause or cancel stops the send between chunks.
        if any(c.campaign_id is not None for c in chunk):
            chunk = await asyncio.to_thread(self._drop_stopped, chunk)
        by_connector: dict[str, list[dispatcher.Claimed]] = defaultdict(list)
        for c in chunk:
            by_connector[c.connector].append(c)
        results = await asyncio.gather(
            *(self._send_connector(name, items, urgent) for name, items in by_connector.items())
        )
        return [x for r in results for x in r]

    async def _send_connector(
        self, name: str, items: list[dispatcher.Claimed], urgent: bool = False
    ) -> list[tuple[dispatcher.Claimed, SendResult | None]]:
        # One timedelta per distinct validity (a campaign has one), not one per message.
        validity = self._validities
        batch = [
            OutboundMessage(
                ref=str(c.id),
                to=c.destination,
                sender=c.sender,
                text=c.body,
                validity=validity.get(c.validity_s) or self._validity(c.validity_s),
                urgent=urgent,
            )
            for c in items
        ]
        try:
            results = await self.channels[name].send(batch)
        except Exception as exc:
            log.warning("connector %s failed a batch of %d: %s", name, len(items), exc)
            self.up.discard(name)
            metrics.CONNECTOR_UP.labels(name).set(0)
            return [(c, None) for c in items]
        by_ref = {r.ref: r for r in results}
        return [(c, by_ref.get(str(c.id))) for c in items]

    def _validity(self, seconds: int) -> timedelta:
        if len(self._validities) > 1024:
            self._validities.clear()
        got = self._validities[seconds] = timedelta(seconds=seconds)
        return got

    def _drop_stopped(self, chunk: Sequence[dispatcher.Claimed]) -> list[dispatcher.Claimed]:
        camp_ids = {c.campaign_id for c in chunk if c.campaign_id is not None}
        if not camp_ids:  # send-API messages only: no campaign to have stopped
            return list(chunk)
        # Read first: on SQLite a write transaction takes the database's one write lock.
        with read_only(self.engine) as conn:
            states = dispatcher.campaign_states(conn, camp_ids)
        stopped = [
            c
            for c in chunk
            if c.campaign_id is not None
            and states.get(c.campaign_id) not in ("running", "scheduled")
        ]
        if stopped:
            with self._gate(), self.engine.begin() as conn:
                released = dispatcher.release(conn, stopped, states, now=utcnow())
            self.stats.update(released)
        return [
            c
            for c in chunk
            if c.campaign_id is None or states.get(c.campaign_id) in ("running", "scheduled")
        ]

    def _write_outcomes(
        self,
        outcomes: Sequence[tuple[dispatcher.Claimed, SendResult | None]],
        *,
        lane: bool = False,
    ) -> None:
        now = utcnow()
        done: list[Submitted] = []
        failures: list[Failure] = []
        uncertain: list[dispatcher.Claimed] = []
        # Counted here and added to the Prometheus counters once per label set: a label
        # lookup per message was a few percent of the worker's CPU.
        sent: Counter[tuple[int, str]] = Counter()
        errors: Counter[tuple[int, str, str]] = Counter()
        for c, res in outcomes:
            if res is None:
                failures.append(Failure(c.id, "connector_down", "CONNECTOR_DOWN", c.claim_token))
                errors[c.route_id, c.connector, "CONNECTOR_DOWN"] += 1
            elif res.ok:
                done.append(Submitted(c.id, c.claim_token, tuple(res.provider_ids), res.parts))
                sent[c.route_id, c.connector] += 1
            elif res.uncertain:
                uncertain.append(c)
                errors[c.route_id, c.connector, res.code or "UNCERTAIN"] += 1
            else:
                code = res.code or "UNKNOWN"
                cause = (
                    "throttled"
                    if code in THROTTLE_CODES
                    else ("permanent" if res.permanent else "transient")
                )
                failures.append(Failure(c.id, cause, code, c.claim_token))
                errors[c.route_id, c.connector, code] += 1
        for (route, connector), n in sent.items():
            metrics.SENT.labels(str(route), connector).inc(n)
        for (route, connector, code), n in errors.items():
            metrics.SEND_ERRORS.labels(str(route), connector, code).inc(n)
        early = self._take_delivered(done) if done else {}
        went: list[int] = []
        try:
            with self._gate(lane=lane), self.engine.begin() as conn:
                n_sub, went = record_submitted(
                    conn,
                    done,
                    worker_id=self.worker_id,
                    now=now,
                    delivered={m: at for m, (at, _) in early.items()},
                )
                self.stats["submitted"] += n_sub
                self.stats["delivered"] += len(went)
                self.stats["delivered_with_submit"] += len(went)
                self.stats.update(
                    fail_or_failover(
                        conn, failures, now=now, expect=("sending",), worker_id=self.worker_id
                    )
                )
                if uncertain:
                    self.stats.update(
                        dispatcher.mark_uncertain(conn, [c.id for c in uncertain], now=now)
                    )
        except BaseException:
            # Nothing was written: the receipts taken for this write wait as before.
            if early:
                self._return_receipts(early)
            raise
        if len(self._written) > WRITTEN_CAP:
            self._written = set()
        applied = set(went)
        # A receipt taken for a row the write did not find in ``sending`` (another worker
        # recovered it meanwhile) is applied the usual way, from the database's state.
        missed = {m: t for m, t in early.items() if m not in applied}
        if missed:
            self._return_receipts(missed)
        self._written.update(
            pid for d in done if d.message_id not in applied for pid in d.provider_ids
        )

    def _take_delivered(self, done: Sequence[Submitted]) -> dict[int, tuple[datetime, Receipt]]:
        """Take the DELIVRD receipts already here for one-part messages of ``done``; return
        message id -> (delivery time, receipt).

        With an SMSC that answers receipts at once, the receipt of about every message is in
        before the write-back of its chunk: written with the submit, the outbox row is
        rewritten once instead of twice, and the receipt needs no query to be matched.
        """
        want = {d.provider_ids[0]: d.message_id for d in done if len(d.provider_ids) == 1}
        out: dict[int, tuple[datetime, Receipt]] = {}
        with self._flushing:
            self._take_new(time.monotonic())
            keep: list[tuple[float, Receipt]] = []
            for at, r in self._unwritten:
                mid = want.get(r.provider_id) if r.state == DELIVERED else None
                if mid is None or mid in out:
                    keep.append((at, r))
                else:
                    out[mid] = (r.done_at or utcnow(), r)
            self._unwritten = keep
        return out

    def _return_receipts(self, taken: Mapping[int, tuple[datetime, Receipt]]) -> None:
        tick = time.monotonic()
        with self._flushing:
            self._unwritten.extend((tick, r) for _, r in taken.values())

    def _take_new(self, tick: float) -> None:
        """Move the receipts the channels reported since the last look to ``_unwritten``
        (the caller holds ``_flushing``)."""
        new, self._receipts = self._receipts, []
        for state, n in Counter(r.state for r in new).items():
            metrics.RECEIPTS.labels(state).inc(n)
        self._unwritten.extend((tick, r) for r in new)

    def _flush_receipts(self, *, force: bool = False) -> None:
        """Apply the receipts the channels reported; hold those that overtook their submit.

        An SMSC may send the receipt before the submit's write-back commits (chunks are
        written while the next is on the wire, and the transactional lane writes beside the
        bulk loop). A receipt waits up to ``LOCAL_WAIT_S`` for this worker to write its
        submit; one the database does not know then is tried again every ``EARLY_RETRY_S`` for
        ``EARLY_HOLD_S`` before it is given up as unmatched.
        """
        if not self._flushing.acquire(blocking=force):
            return  # the other loop is flushing: what came meanwhile waits for the next
        try:
            self._flush_locked(force=force)
        finally:
            self._flushing.release()

    def _flush_locked(self, *, force: bool) -> None:
        tick = time.monotonic()
        self._take_new(tick)
        waiting, self._unwritten = self._unwritten, []
        go: list[tuple[float, Receipt]] = []
        for at, r in waiting:
            if force or r.provider_id in self._written or tick - at >= LOCAL_WAIT_S:
                go.append((at, r))
            else:
                self._unwritten.append((at, r))
        retry = bool(self._early) and (force or tick >= self._early_retry_at)
        if not go and not retry:
            return
        batch = [r for _, r in go]
        first_seen = {id(r): at for at, r in go}
        if retry:
            held, self._early = self._early, []
            first_seen.update((id(r), at) for at, r in held)
            batch = [r for _, r in held] + batch
        with self._gate(), self.engine.begin() as conn:
            done, early = apply_or_hold(conn, batch, now=utcnow())
            self.stats.update(done)
        for r in batch:
            self._written.discard(r.provider_id)
        for r in early:
            if tick - first_seen[id(r)] < EARLY_HOLD_S:
                self._early.append((first_seen[id(r)], r))
            else:
                self.stats["unmatched"] += 1
                log.warning("receipt for unknown provider id %s given up", r.provider_id)
        self._early_retry_at = tick + EARLY_RETRY_S

    # -- housekeeping ------------------------------------------------------------------------
    async def _open_connectors(self) -> None:
        for name in sorted(self.held - self.up):
            try:
                await self.channels[name].open()
            except Exception as exc:
                log.warning("connector %s did not open: %s", name, exc)
                continue
            self.up.add(name)
            metrics.CONNECTOR_UP.labels(name).set(1)
        for name in sorted(self.up - self.held):  # lease lost: stop driving it
            await self.channels[name].close()
            self.up.discard(name)
            metrics.CONNECTOR_UP.labels(name).set(0)

    def lease_key(self, connector: str) -> str:
        """Return the lease key of a connector (connector names are per workspace)."""
        ws = "*" if self.workspace_id is None else str(self.workspace_id)
        return f"{leases.CONNECTOR_PREFIX}{ws}:{connector}"

    def _housekeeping(self) -> None:
        """Renew leases, take free connectors, and run the set-based sweeps."""
        self._last_housekeeping = time.monotonic()
        now = utcnow()
        with self.engine.begin() as conn:
            leases.acquire(
                conn,
                f"{leases.WORKER_PREFIX}{self.worker_id}",
                self.worker_id,
                self.lease_ttl,
                now=now,
            )
            held = set()
            for name in self.channels:
                key = self.lease_key(name)
                if leases.acquire(conn, key, self.worker_id, self.lease_ttl, now=now):
                    held.add(name)
            self.held = held
        with self.engine.begin() as conn:
            self.stats["recovered"] += dispatcher.recover_stale(conn, now=now)
            self.stats.update(dispatcher.expire_overdue(conn, now=now))
        self._campaign_sweeps(now)

    def _campaign_sweeps(self, now: Any) -> None:
        with self.engine.begin() as conn:
            for ws, cid, failed, total, policy in dispatcher.error_rates(
                conn, since=now - timedelta(seconds=60)
            ):
                ratio = float(policy.get("error_pause_ratio", 0.5))
                if total >= int(policy.get("error_pause_min", 200)) and failed >= ratio * total:
                    self._move(conn, ws, cid, "paused", f"error rate {failed}/{total} in 60 s")
            for ws, cid in dispatcher.finished_campaigns(conn):
                self._move(conn, ws, cid, "completed", None)
            due = conn.execute(
                sa.select(campaigns.c.workspace_id, campaigns.c.id).where(
                    campaigns.c.status == "scheduled",
                    sa.select(messages.c.id)
                    .where(
                        messages.c.campaign_id == campaigns.c.id,
                        status_is(*OPEN_STATES),
                        messages.c.send_at <= now,
                    )
                    .exists(),
                )
            ).all()
            for ws, cid in due:
                self._move(conn, int(ws), int(cid), "running", "first messages due")

    def _move(self, conn: sa.Connection, ws: int, cid: int, to: str, reason: str | None) -> None:
        try:
            with conn.begin_nested():
                transition(conn, Actor.system(ws, "worker"), cid, to, reason=reason)
            log.info("campaign %s -> %s (%s)", cid, to, reason or "")
        except Conflict:
            pass  # someone else moved it first


async def run_worker(
    engine: Engine,
    workspace_id: int,
    stop: asyncio.Event,
    **options: Any,
) -> Worker:
    """Run a worker for the workspace's routes until ``stop`` is set; return it (with stats).

    ``clarion worker`` runs this alone; ``clarion serve`` and ``clarion demo`` run it beside
    their own work in the same event loop.
    """
    from clarion.delivery.channels import build_channels

    worker = Worker(engine, workspace_id=workspace_id, **options)
    with engine.connect() as conn:
        for name, channel in build_channels(conn, workspace_id, worker.on_report).items():
            worker.add_channel(name, channel)
    log.info(
        "worker %s starting with connectors %s", worker.worker_id, sorted(worker.channels) or "none"
    )
    await worker.run(stop)
    log.info("worker %s stopped: %s", worker.worker_id, dict(worker.stats))
    return worker
