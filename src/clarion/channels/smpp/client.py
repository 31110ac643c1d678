"""The ESME side: a connector's binds, its window, throughput limit, retries and receipts.

``Connector(config, on_receipt, on_mo)`` runs one connector's binds in the current event loop:
``start()`` binds, ``submit(message)`` sends one message (all its parts) and returns its
SendResult, ``stop(drain=True)`` lets what is in flight finish, unbinds and closes. It is also a
``Channel`` (``open``/``send``/``close``). Who owns which connector across workers is decided by
the campaigns feature, not here.

What happens to a part that is not simply accepted:

* a refusal is looked up in the retry policy (``policy.POLICY``): permanent ones fail the
  message, transient ones are retried after a backoff; throttling also slows the whole
  connector (``flow.RateLimiter`` learns the rate the SMSC accepts), so the other messages
  slow down too instead of hammering;
* a link that breaks or a response that never comes leaves the part *uncertain*: the SMSC may
  have it. It is reported as such (not retried, to avoid duplicates) unless the connector says
  ``resubmit_uncertain``;
* a part waiting for a window slot when the link breaks was never sent and simply waits for the
  reconnection (with backoff) and goes out then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from clarion.channels.base import OutboundMessage, Report, SendResult
from clarion.channels.smpp import pdu as P
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.flow import Latencies, RateLimiter, expire
from clarion.channels.smpp.inbound import InboundRouter, MoCallback, ReceiptCallback
from clarion.channels.smpp.parts import InvalidMessage, Prepared, prepare
from clarion.channels.smpp.policy import NOT_SENT, UNCERTAIN, Rule, code_name, rule_for
from clarion.channels.smpp.receipts import normalise_id
from clarion.channels.smpp.session import ConnectionLost, ResponseTimeout, SmppSession

log = logging.getLogger(__name__)

_BIND_COMMANDS = {
    "transceiver": P.BIND_TRANSCEIVER,
    "transmitter": P.BIND_TRANSMITTER,
    "receiver": P.BIND_RECEIVER,
}
#: Bind refusals that no reconnection will fix without a change of configuration.
_BIND_FATAL = {P.ESME_RINVPASWD, P.ESME_RINVSYSID}


class BindRefused(Exception):
    """The SMSC answered the bind with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {P.status_name(status)}")
        self.status = status


class _NotSent(Exception):
    """No bind could take the part (connector stopping, or no bind up in time)."""


@dataclass
class ConnectorStats:
    """Counters a person (or a benchmark) reads to see what a connector did."""

    submitted_parts: int = 0
    accepted_parts: int = 0
    messages_ok: int = 0
    messages_failed: int = 0
    retries: int = 0
    uncertain: int = 0
    receipts: int = 0
    receipts_matched: int = 0
    mo: int = 0
    binds_made: int = 0
    bind_failures: int = 0
    malformed: int = 0
    refusals: Counter[str] = field(default_factory=Counter)


class EsmeSession(SmppSession):
    """One bind's connection: answers deliver_sm and records accepted submits' ids."""

    def __init__(self, bind: Bind) -> None:
        super().__init__(response_timeout=bind.connector.config.response_timeout)
        self.bind = bind
        #: seq -> (prepared message, part index) of submits on the wire, to track their ids
        #: the moment the response is read (a receipt may be in the same TCP read).
        self.tickets: dict[int, tuple[Prepared, int]] = {}

    def on_request(self, pdu: P.Pdu) -> None:
        if pdu.command_id in (P.DELIVER_SM, P.DATA_SM):
            status = self.bind.connector._on_deliver(pdu)
            # deliver_sm_resp: message_id is unused and set to NULL (4.6.2).
            if status:
                self.write(P.header_only(pdu.command_id | P.RESP, pdu.seq, status))
            else:
                self.write(P.HEADER.pack(17, pdu.command_id | P.RESP, 0, pdu.seq) + b"\x00")
        else:
            self.generic_nack(pdu.seq, P.ESME_RINVCMDID)

    def on_response(self, command_id: int, status: int, seq: int, raw: bytes) -> None:
        log.debug("%s: response 0x%08x seq %d nobody waits for", self.peer, command_id, seq)

    def on_matched(self, seq: int, pdu: P.Pdu) -> None:
        ticket = self.tickets.pop(seq, None)
        if (
            ticket is not None
            and ticket[0].receipt
            and pdu.command_id == P.SUBMIT_SM | P.RESP
            and not pdu.status
        ):
            self.bind.connector._track(pdu.fields.get("message_id", ""), ticket[0], ticket[1])

    def on_malformed(self, err: P.PduError) -> None:
        self.bind.connector.stats.malformed += 1
        super().on_malformed(err)

    def on_closed(self, exc: Exception | None) -> None:
        self.tickets.clear()


class Bind:
    """One bind of a connector: connects, binds, keeps the link alive, reconnects."""

    def __init__(self, connector: Connector, index: int, command_id: int) -> None:
        self.connector = connector
        self.index = index
        self.command_id = command_id
        self.transmits = command_id != P.BIND_RECEIVER
        self.session: EsmeSession | None = None
        self.inflight = 0
        self.last_error: str | None = None
        self.first_attempt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        """Return whether this bind is connected and bound."""
        return self.session is not None and self.session.is_open

    async def run(self) -> None:
        """Keep this bind up until the connector stops, backing off between attempts."""
        cfg = self.connector.config
        delay = cfg.reconnect_min
        while not self.connector._stopping:
            try:
                await self._connect()
                delay = cfg.reconnect_min
                self.connector._bind_up(self)
                self._settle_first()
                await self._keep_alive()
            except BindRefused as exc:
                self.last_error = str(exc)
                self.connector.stats.bind_failures += 1
                log.warning("%s bind %d: %s", cfg.name, self.index, exc)
                if exc.status in _BIND_FATAL:
                    delay = cfg.reconnect_max
            except (OSError, ConnectionLost, ResponseTimeout, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.connector.stats.bind_failures += 1
                log.info("%s bind %d: %s", cfg.name, self.index, self.last_error)
            finally:
                self.connector._bind_down(self)
                if self.session is not None:
                    self.session.abort()
                    self.session = None
            self._settle_first()
            if self.connector._stopping:
                break
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, cfg.reconnect_max)

    def _settle_first(self) -> None:
        if not self.first_attempt.done():
            self.first_attempt.set_result(None)

    async def _connect(self) -> None:
        cfg = self.connector.config
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(cfg.bind_timeout):
            _, session = await loop.create_connection(lambda: EsmeSession(self), cfg.host, cfg.port)
            self.session = session
            resp = await session.request(
                self.command_id,
                {
                    "system_id": cfg.system_id,
                    "password": cfg.password,
                    "system_type": cfg.system_type,
                    "interface_version": P.INTERFACE_VERSION,
                    "addr_ton": 0,
                    "addr_npi": 0,
                    "address_range": "",
                },
            )
        if resp.status:
            raise BindRefused(resp.status)
        self.connector.stats.binds_made += 1

    async def _keep_alive(self) -> None:
        """Send enquire_link when the link is idle; return when it closes or stops answering."""
        cfg = self.connector.config
        session = self.session
        assert session is not None
        while session.is_open:
            idle = time.monotonic() - session.last_received
            wait = max(cfg.enquire_link_interval - idle, 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.closed), wait)
            if not session.is_open:
                return
            if time.monotonic() - session.last_received >= cfg.enquire_link_interval:
                await session.request(P.ENQUIRE_LINK)  # ResponseTimeout ends the bind

    async def unbind(self, timeout: float = 2.0) -> None:
        """Send unbind, wait briefly for unbind_resp and close."""
        session = self.session
        if session is None or not session.is_open:
            return
        with contextlib.suppress(ConnectionLost, ResponseTimeout, TimeoutError):
            await asyncio.wait_for(session.request(P.UNBIND), timeout)
        session.close()


class Connector:
    """One SMPP connector: several binds, a window per bind, a throughput limit, retries."""

    def __init__(
        self,
        config: ConnectorConfig,
        on_receipt: ReceiptCallback | None = None,
        on_mo: MoCallback | None = None,
        *,
        on_report: Callable[[Report], None] | None = None,
        policy: dict[int, Rule] | None = None,
    ) -> None:
        self.config = config
        self.policy = policy
        self.stats = ConnectorStats()
        self.latencies = Latencies()
        self.binds: list[Bind] = []
        self._ready: list[Bind] = []
        self._rr = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        #: Urgent messages waiting for a window slot: woken before ``_waiters``, and while any
        #: wait, a message that is not urgent does not take a slot that frees up.
        self._urgent: deque[asyncio.Future[None]] = deque()
        #: Urgent parts inside ``_acquire`` (waiting, or woken and not yet run): counted, not
        #: read off ``_urgent``, so that a slot freed for a woken urgent part is not taken by
        #: a new part before the woken one runs.
        self._urgent_wanting = 0
        self._rate = RateLimiter(config.throughput)
        self.inbound = InboundRouter(
            config, self.stats, on_receipt or on_report, on_mo or on_report
        )
        self._active = 0
        self._idle: asyncio.Event | None = None
        self._accepting = False
        self._stopping = False
        self._housekeeping: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, *, wait: bool = True) -> None:
        """Open the binds; with ``wait``, return once each has tried to bind once."""
        cfg = self.config
        self._stopping = False
        self._accepting = True
        self._idle = asyncio.Event()
        self._idle.set()
        plan: list[int] = []
        if cfg.bind_mode == "transmitter_receiver":
            plan = [P.BIND_TRANSMITTER] * cfg.binds + [P.BIND_RECEIVER]
        else:
            plan = [_BIND_COMMANDS[cfg.bind_mode]] * cfg.binds
        self.binds = [Bind(self, i, cid) for i, cid in enumerate(plan)]
        for bind in self.binds:
            bind.task = asyncio.create_task(bind.run(), name=f"smpp-{cfg.name}-{bind.index}")
        self._housekeeping = asyncio.create_task(self._sweep_loop())
        if wait:
            await asyncio.gather(*(b.first_attempt for b in self.binds))

    open = start

    async def stop(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Stop taking messages; with ``drain``, let those in flight finish; unbind; close."""
        self._accepting = False
        if drain and self._idle is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        self._stopping = True
        for waiter in (*self._urgent, *self._waiters):
            if not waiter.done():
                waiter.set_result(None)
        await asyncio.gather(*(b.unbind() for b in self.binds), return_exceptions=True)
        tasks = [b.task for b in self.binds if b.task is not None]
        if self._housekeeping is not None:
            tasks.append(self._housekeeping)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.inbound.sweep(everything=True)

    async def close(self) -> None:
        """Stop, draining what is in flight (the Channel protocol's close)."""
        await self.stop(drain=True)

    @property
    def binds_up(self) -> int:
        """Return how many binds are connected and bound."""
        return sum(1 for b in self.binds if b.up)

    def _bind_up(self, bind: Bind) -> None:
        if bind.transmits and bind not in self._ready:
            self._ready.append(bind)
            for _ in range(self.config.window):
                self._wake_one()

    def _bind_down(self, bind: Bind) -> None:
        if bind in self._ready:
            self._ready.remove(bind)
            # Let every waiter look again: with no bind left they wait with a deadline.
            waiters = (*self._urgent, *self._waiters)
            self._urgent, self._waiters = deque(), deque()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # -- sending --------------------------------------------------------------------------------
    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send every message of ``batch`` concurrently; return their results in order.

        A batch larger than the windows of the binds that are up goes through as many
        lanes as those windows hold, each submitting the next message when its previous one
        is answered: the windows stay as full as with a task per message, without the cost of
        creating and scheduling a task for every message (a quarter of the worker's CPU).
        The whole batch is taken at once, as with a task per message: a ``stop(drain=True)``
        meanwhile lets all of it go out. With no bind up, every message waits on its own
        (each with its own deadline).
        """
        if not self._accepting:
            return [self._stopped(m) for m in batch]
        slots = self.config.window * len(self._ready)
        if not slots or len(batch) <= slots:
            return list(await asyncio.gather(*(self._submit_taken(m) for m in batch)))
        results: list[SendResult | None] = [None] * len(batch)
        queue = iter(enumerate(batch))
        gave_up: list[SendResult] = []

        async def lane() -> None:
            for i, message in queue:
                if gave_up:
                    # No bind came within ``submit_wait`` for an earlier message: the rest
                    # fail now, as they would have together with a task each, rather than
                    # waiting their turn for a ``submit_wait`` of their own.
                    self.stats.messages_failed += 1
                    results[i] = SendResult.failed(
                        message.ref,
                        permanent=False,
                        code="NOT_SENT",
                        message=gave_up[0].message or "no bind in time",
                    )
                    continue
                result = results[i] = await self._submit_taken(message)
                if result.code == "NOT_SENT":
                    gave_up.append(result)

        self._active += 1  # the batch: drained whole, even between two of its messages
        if self._idle is not None:
            self._idle.clear()
        try:
            await asyncio.gather(*(lane() for _ in range(slots)))
        finally:
            self._active -= 1
            if not self._active and self._idle is not None:
                self._idle.set()
        return [r for r in results if r is not None]

    async def submit(self, message: OutboundMessage) -> SendResult:
        """Send one message (all its parts) and return its result."""
        if not self._accepting:
            return self._stopped(message)
        return await self._submit_taken(message)

    @staticmethod
    def _stopped(message: OutboundMessage) -> SendResult:
        return SendResult.failed(
            message.ref, permanent=False, code="NOT_SENT", message="connector stopped"
        )

    async def _submit_taken(self, message: OutboundMessage) -> SendResult:
        """Send one message taken while the connector was accepting (see ``send``)."""
        try:
            prepared = prepare(message, self.config)
        except InvalidMessage as exc:
            self.stats.messages_failed += 1
            return SendResult.failed(message.ref, permanent=True, code=exc.code, message=str(exc))
        self._active += 1
        if self._idle is not None:
            self._idle.clear()
        try:
            result = await self._submit_parts(prepared, message.urgent)
        finally:
            self._active -= 1
            if not self._active and self._idle is not None:
                self._idle.set()
        if result.ok:
            self.stats.messages_ok += 1
        else:
            self.stats.messages_failed += 1
        return result

    async def _submit_parts(self, prepared: Prepared, urgent: bool) -> SendResult:
        ids: list[str] = []
        attempts = 1
        for part in range(len(prepared.tails)):
            status, value, tries = await self._submit_part(prepared, part, urgent)
            attempts = max(attempts, tries)
            if status:
                rule = rule_for(status, self.policy) if status > 0 else None
                uncertain = status == UNCERTAIN
                if uncertain:
                    self.stats.uncertain += 1
                return SendResult.failed(
                    prepared.ref,
                    permanent=bool(rule and rule.permanent),
                    code=code_name(status),
                    message=value,
                    uncertain=uncertain,
                    provider_ids=ids,
                    parts=len(prepared.tails),
                    attempts=tries,
                )
            ids.append(value)
        cost = self.config.cost_per_part
        return SendResult.submitted(
            prepared.ref,
            ids,
            cost=None if cost is None else cost * prepared.segments,
            attempts=attempts,
        )

    async def _submit_part(
        self, prepared: Prepared, part: int, urgent: bool = False
    ) -> tuple[int, str, int]:
        """Return (0, provider id, attempts) or (status, reason, attempts) for one part.

        An ``urgent`` part goes ahead of the others waiting for a window slot. The throughput
        limit still applies to it in turn: a slot of the rate, once promised, is kept.
        """
        cfg = self.config
        deadline = time.monotonic() + cfg.submit_wait
        attempt = 0
        while True:
            attempt += 1
            # Fast path without a coroutine: a free slot now and no rate to wait for.
            yield_to_urgent = self._urgent_wanting and not urgent
            bind_now = None if self._stopping or yield_to_urgent else self._free_slot()
            try:
                bind = bind_now or await self._acquire(deadline, urgent)
            except _NotSent as exc:
                return NOT_SENT, str(exc), attempt
            if self._rate.must_wait():
                await self._rate.acquire()
            session = bind.session
            if session is None or not session.is_open:
                self._release(bind)
                attempt -= 1
                continue
            seq = session.next_seq()
            sent_at = time.monotonic()
            try:
                fut = session.request_raw(seq, prepared.pdu(seq, part))
            except ConnectionLost:
                self._release(bind)
                attempt -= 1  # never left us: not an attempt
                continue
            session.tickets[seq] = (prepared, part)
            self.stats.submitted_parts += 1
            try:
                resp = await fut
            except asyncio.CancelledError:
                session.tickets.pop(seq, None)
                raise
            except (ConnectionLost, ResponseTimeout) as exc:
                session.tickets.pop(seq, None)
                status, reason = UNCERTAIN, f"{type(exc).__name__}: {exc}"
            else:
                self.latencies.add(time.monotonic() - sent_at)
                status = resp.status
                if not status:
                    self.stats.accepted_parts += 1
                    self._rate.accepted()
                    msg_id: str = resp.fields.get("message_id", "")
                    return 0, normalise_id(msg_id, cfg.submit_id_format), attempt
                reason = P.status_name(status)
            finally:
                self._release(bind)
            if status == UNCERTAIN:
                if not cfg.resubmit_uncertain:
                    return status, reason, attempt
                rule = Rule("transient", max_retries=3, backoff=cfg.reconnect_min)
            else:
                self.stats.refusals[P.status_name(status)] += 1
                rule = rule_for(status, self.policy)
            if rule.permanent or attempt > rule.max_retries:
                return status, reason, attempt
            delay = rule.delay(attempt)
            if status in (P.ESME_RTHROTTLED, P.ESME_RMSGQFUL):
                self._rate.throttled(delay)
            self.stats.retries += 1
            await asyncio.sleep(delay)
            deadline = time.monotonic() + cfg.submit_wait

    async def _acquire(self, deadline: float, urgent: bool = False) -> Bind:
        """Return a bound transmitter with a free window slot, waiting for one if needed."""
        if not urgent:
            return await self._acquire_in_turn(deadline, urgent)
        self._urgent_wanting += 1
        try:
            return await self._acquire_in_turn(deadline, urgent)
        finally:
            self._urgent_wanting -= 1
            if not self._urgent_wanting and self._waiters:
                self._wake_one()  # one that gave way to us may have a free slot now

    async def _acquire_in_turn(self, deadline: float, urgent: bool) -> Bind:
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping:
                raise _NotSent("connector stopped")
            found = self._free_slot() if urgent or not self._urgent_wanting else None
            if found is not None:
                return found
            count = len(self._ready)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _NotSent("no bind with a free window in time")
            waiter: asyncio.Future[None] = loop.create_future()
            (self._urgent if urgent else self._waiters).append(waiter)
            if count:
                # Binds are up and merely busy: a response, a timeout or a bind going down
                # (which wakes every waiter) frees us; no timer needed on this hot path.
                await waiter
                deadline = time.monotonic() + self.config.submit_wait
                continue
            timer = loop.call_later(remaining, expire, waiter)
            try:
                await waiter
            except TimeoutError:
                raise _NotSent("no bind came up in time") from None
            finally:
                timer.cancel()

    def _free_slot(self) -> Bind | None:
        """Take a window slot on a bound transmitter (round robin), or return None."""
        ready = self._ready
        count = len(ready)
        window = self.config.window
        for i in range(count):
            bind = ready[(self._rr + i) % count]
            if bind.inflight < window and bind.up:
                self._rr = (self._rr + i + 1) % count
                bind.inflight += 1
                return bind
        return None

    def _release(self, bind: Bind) -> None:
        bind.inflight -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        for waiters in (self._urgent, self._waiters):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return

    # -- receipts and MO ------------------------------------------------------------------------
    def _track(self, raw_id: str, prepared: Prepared, part: int) -> None:
        self.inbound.track(raw_id, prepared.ref, part, len(prepared.tails))

    def _on_deliver(self, pdu: P.Pdu) -> int:
        return self.inbound.on_deliver(pdu)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.inbound.sweep()
