"""An SMSC simulator: the demo's default route and the peer of every SMPP test and benchmark.

It accepts binds with configured credentials, answers submit_sm with message ids, sends
delivery receipts after a delay with an outcome chosen by destination prefix or by probability,
refuses with ESME_RTHROTTLED above a configured rate, injects MO messages, drops connections on
demand and counts everything. Behaviour for reliability tests can be changed while it runs
(slow answers, a drop after N submits, a malformed PDU).

Control: in-process through the methods of :class:`SmscSimulator`; for ``clarion smsc`` through
the small HTTP control port in ``control.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field, fields, replace
from typing import Any

from clarion.channels.smpp import pdu as P
from clarion.channels.smpp.receipts import STATE_CODES, IdFormat, format_id
from clarion.channels.smpp.session import SmppSession

log = logging.getLogger(__name__)

_BINDS = {P.BIND_TRANSMITTER: "tx", P.BIND_RECEIVER: "rx", P.BIND_TRANSCEIVER: "trx"}


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated SMSC behaves; every field can be changed while it runs.

    ``accounts`` maps system_id to password (empty: accept anyone). ``outcomes`` maps a
    destination prefix to a final state (longest prefix wins); other destinations draw from
    ``mix`` (state -> weight). ``throughput`` is submit_sm per second per system_id (0: no
    limit). ``submit_id_format``/``receipt_id_format`` imitate SMSCs that write ids in hex in
    responses and in decimal in receipts.
    """

    host: str = "127.0.0.1"
    port: int = 0
    accounts: dict[str, str] = field(default_factory=lambda: {"clarion": "secret"})
    receipt_delay: float = 0.0
    outcomes: dict[str, str] = field(default_factory=dict)
    mix: dict[str, float] = field(default_factory=lambda: {"DELIVRD": 1.0})
    throughput: float = 0.0
    response_delay: float = 0.0
    submit_id_format: IdFormat = "hex"
    receipt_id_format: IdFormat = "hex"
    receipt_tlvs: bool = True
    #: Refuse submits to these destination prefixes with ESME_RINVDSTADR.
    invalid_prefixes: tuple[str, ...] = ()
    #: Drop every connection after this many more submit_sm (None: never).
    drop_after: int | None = None
    #: Read submit_sm but never answer (a hung SMSC).
    silent: bool = False
    #: Do not answer enquire_link (a dead link that still looks open).
    ignore_enquire_link: bool = False
    #: Answer every submit_sm with a generic_nack of this status (an SMSC that cannot read us).
    nack_submits: int | None = None
    seed: int | None = None

    def updated(self, changes: dict[str, Any]) -> SimulatorConfig:
        """Return a copy with ``changes`` applied (unknown keys refused)."""
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown simulator setting(s): {', '.join(sorted(unknown))}")
        if "invalid_prefixes" in changes:
            changes = {**changes, "invalid_prefixes": tuple(changes["invalid_prefixes"])}
        return replace(self, **changes)


@dataclass
class SimulatorStats:
    """What the simulator saw and did."""

    binds: Counter[str] = field(default_factory=Counter)
    bind_refused: int = 0
    submit_sm: int = 0
    accepted: int = 0
    throttled: int = 0
    rejected: int = 0
    receipts_sent: int = 0
    receipts_acked: int = 0
    mo_sent: int = 0
    mo_acked: int = 0
    malformed: int = 0
    dropped: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    enquire_links: int = 0
    unbinds: int = 0
    #: The most submit_sm one connection had unanswered at once (the ESME's window in use).
    max_unanswered: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the statistics as plain JSON-able values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, Counter) else value
        return out


class SmscSession(SmppSession):
    """One ESME connected to the simulator."""

    def __init__(self, smsc: SmscSimulator) -> None:
        super().__init__(response_timeout=30.0)
        self.smsc = smsc
        self.system_id: str | None = None
        self.mode: str | None = None
        self.unanswered = 0

    @property
    def receives(self) -> bool:
        """Return whether this ESME is bound to receive deliver_sm."""
        return self.mode in ("rx", "trx")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.smsc.sessions.add(self)

    def on_closed(self, exc: Exception | None) -> None:
        self.smsc.sessions.discard(self)

    def on_request(self, pdu: P.Pdu) -> None:
        cid = pdu.command_id
        if cid in _BINDS:
            self.smsc.handle_bind(self, pdu)
        elif cid == P.SUBMIT_SM:
            self.smsc.handle_submit(self, pdu)
        else:
            self.generic_nack(pdu.seq, P.ESME_RINVCMDID)

    def on_response(self, command_id: int, status: int, seq: int, raw: bytes) -> None:
        if command_id == P.DELIVER_SM | P.RESP and not status:
            kind = self.smsc.delivered_kind.pop((id(self), seq), "receipt")
            if kind == "mo":
                self.smsc.stats.mo_acked += 1
            else:
                self.smsc.stats.receipts_acked += 1

    def on_malformed(self, err: P.PduError) -> None:
        self.smsc.stats.malformed += 1

    def on_enquire_link(self) -> bool:
        self.smsc.stats.enquire_links += 1
        return not self.smsc.config.ignore_enquire_link

    def on_unbind(self) -> None:
        self.smsc.stats.unbinds += 1


class SmscSimulator:
    """The simulated SMSC; ``await start()`` returns the port it listens on."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = SimulatorStats()
        self.sessions: set[SmscSession] = set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.delivered_kind: dict[tuple[int, int], str] = {}
        self.messages: deque[tuple[str, str, P.Pdu]] = deque(maxlen=10_000)
        self._ids = itertools.count(0x10000)
        self._random = random.Random(self.config.seed)
        self._receipts: deque[tuple[float, str, int, str, str, float]] = deque()
        self._receipt_timer: asyncio.TimerHandle | None = None
        self._tokens: dict[str, tuple[float, float]] = {}
        self._rr = 0
        self._mo_ref = itertools.count(1)
        self.keep_messages = True
        self._stamp_minute = -1
        self._stamp_text = ""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen on the configured host and port (0: any free port); return the port."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SmscSession(self), self.config.host, self.config.port
        )
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._receipt_timer is not None:
            self._receipt_timer.cancel()
        if self.server is not None:
            self.server.close()
        for session in list(self.sessions):
            session.abort()
        if self.server is not None:
            await self.server.wait_closed()

    def configure(self, **changes: Any) -> None:
        """Change behaviour while running (e.g. ``throughput=100``, ``silent=True``)."""
        self.config = self.config.updated(changes)

    # -- control --------------------------------------------------------------------------------
    def drop_connections(self) -> int:
        """Drop every ESME connection at once, as a failing network would; return how many."""
        count = 0
        for session in list(self.sessions):
            session.abort()
            count += 1
        self.stats.dropped += count
        return count

    def send_malformed(self, kind: str = "unknown_command") -> int:
        """Send every bound ESME a malformed PDU; return how many got one.

        ``unknown_command``: a valid header with a command id SMPP does not define (the ESME
        should answer generic_nack and carry on). ``bad_length``: a command_length under 16,
        after which the stream cannot be read (the ESME should drop and reconnect).
        ``bad_body``: a deliver_sm whose C-string has no NUL.
        """
        count = 0
        for session in self._bound():
            seq = session.next_seq()
            if kind == "bad_length":
                data = P.HEADER.pack(8, P.DELIVER_SM, 0, seq)
            elif kind == "bad_body":
                data = P.HEADER.pack(16 + 5, P.DELIVER_SM, 0, seq) + b"abcde"
            else:
                data = P.header_only(0x000000FF, seq)
            session.write(data)
            count += 1
        return count

    def inject_mo(
        self,
        source: str,
        dest: str,
        text: str,
        *,
        system_id: str | None = None,
        split: int | None = None,
        concatenation: str = "udh",
    ) -> int:
        """Send an MO message from ``source`` to ``dest``; return the number of parts sent.

        The text goes as Latin-1 (data_coding 3) when it fits, UCS-2 (8) otherwise; with
        ``split`` (octets per part) it is sent concatenated, by UDH or by SAR TLVs.
        """
        try:
            payload, dcs = text.encode("latin-1"), 3
        except UnicodeEncodeError:
            payload, dcs = text.encode("utf-16-be"), 8
        size = split or 254
        chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        session = self._receiver(system_id)
        if session is None:
            raise RuntimeError("no ESME is bound to receive")
        ref = next(self._mo_ref) & 0xFF
        for i, chunk in enumerate(chunks, 1):
            fields: dict[str, Any] = {
                "source_addr_ton": 1,
                "source_addr_npi": 1,
                "source_addr": source.removeprefix("+"),
                "dest_addr_ton": 1,
                "dest_addr_npi": 1,
                "destination_addr": dest.removeprefix("+"),
                "data_coding": dcs,
            }
            tlvs: dict[int, bytes] = {}
            if len(chunks) > 1 and concatenation == "udh":
                fields["esm_class"] = P.ESM_UDHI
                chunk = bytes((5, 0, 3, ref, len(chunks), i)) + chunk
            elif len(chunks) > 1:
                tlvs[P.TAG_SAR_MSG_REF_NUM] = ref.to_bytes(2, "big")
                tlvs[P.TAG_SAR_TOTAL_SEGMENTS] = bytes((len(chunks),))
                tlvs[P.TAG_SAR_SEGMENT_SEQNUM] = bytes((i,))
            fields["short_message"] = chunk
            seq = session.next_seq()
            self.delivered_kind[(id(session), seq)] = "mo"
            session.write(P.encode(P.Pdu(P.DELIVER_SM, seq, 0, fields, tlvs)))
            self.stats.mo_sent += 1
        return len(chunks)

    # -- protocol -------------------------------------------------------------------------------
    def handle_bind(self, session: SmscSession, pdu: P.Pdu) -> None:
        """Accept or refuse a bind by the configured accounts."""
        system_id = pdu.fields.get("system_id", "")
        accounts = self.config.accounts
        if session.mode is not None:
            status = P.ESME_RALYBND
        elif accounts and system_id not in accounts:
            status = P.ESME_RINVSYSID
        elif accounts and accounts[system_id] != pdu.fields.get("password", ""):
            status = P.ESME_RINVPASWD
        else:
            status = 0
        if status:
            self.stats.bind_refused += 1
            session.respond(pdu, status)
            return
        session.system_id = system_id
        session.mode = _BINDS[pdu.command_id]
        self.stats.binds[session.mode] += 1
        session.write(
            P.encode(
                P.Pdu(
                    pdu.command_id | P.RESP,
                    pdu.seq,
                    0,
                    {"system_id": "clarion-smsc"},
                    {P.TAG_SC_INTERFACE_VERSION: b"\x34"},
                )
            )
        )

    def handle_submit(self, session: SmscSession, pdu: P.Pdu) -> None:
        """Answer a submit_sm: throttle, refuse, or accept and schedule its receipt."""
        cfg = self.config
        self.stats.submit_sm += 1
        if session.mode not in ("tx", "trx"):
            session.respond(pdu, P.ESME_RINVBNDSTS)
            return
        if cfg.drop_after is not None:
            if cfg.drop_after <= 0:
                self.config = replace(cfg, drop_after=None)
                self.drop_connections()
                return
            self.config = cfg = replace(cfg, drop_after=cfg.drop_after - 1)
        session.unanswered += 1
        if session.unanswered > self.stats.max_unanswered:
            self.stats.max_unanswered = session.unanswered
        if cfg.silent:
            return
        if cfg.nack_submits is not None:
            session.unanswered -= 1
            session.generic_nack(pdu.seq, cfg.nack_submits)
            return
        if cfg.throughput and not self._take_token(session.system_id or "", cfg.throughput):
            self.stats.throttled += 1
            self._answer(session, pdu.seq, P.ESME_RTHROTTLED, None)
            return
        dest: str = pdu.fields.get("destination_addr", "")
        if any(dest.startswith(p) for p in cfg.invalid_prefixes):
            self.stats.rejected += 1
            self._answer(session, pdu.seq, P.ESME_RINVDSTADR, None)
            return
        number = next(self._ids)
        self.stats.accepted += 1
        if self.keep_messages:
            self.messages.append((session.system_id or "", format_id(number, "decimal"), pdu))
        self._answer(session, pdu.seq, 0, format_id(number, cfg.submit_id_format))
        if pdu.fields.get("registered_delivery", 0) & 0x03:
            state = self._outcome(dest)
            due = time.monotonic() + cfg.receipt_delay
            self._receipts.append((due, session.system_id or "", number, dest, state, time.time()))
            if self._receipt_timer is None:
                self._receipt_timer = session.loop.call_later(cfg.receipt_delay, self._pump)

    def _answer(self, session: SmscSession, seq: int, status: int, msg_id: str | None) -> None:
        if status:
            data = P.header_only(P.SUBMIT_SM | P.RESP, seq, status)
        else:
            raw = (msg_id or "").encode() + b"\x00"
            data = P.HEADER.pack(16 + len(raw), P.SUBMIT_SM | P.RESP, 0, seq) + raw
        delay = self.config.response_delay
        if delay:
            session.loop.call_later(delay, _late_write, session, data)
        else:
            session.unanswered -= 1
            session.write(data)

    def _take_token(self, system_id: str, rate: float) -> bool:
        now = time.monotonic()
        tokens, last = self._tokens.get(system_id, (rate * 0.1, now))
        tokens = min(max(rate * 0.1, 1.0), tokens + (now - last) * rate)
        if tokens < 1.0:
            self._tokens[system_id] = (tokens, now)
            return False
        self._tokens[system_id] = (tokens - 1.0, now)
        return True

    def _outcome(self, dest: str) -> str:
        best = ""
        for prefix in self.config.outcomes:
            if dest.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        if best:
            return self.config.outcomes[best]
        mix = self.config.mix
        if len(mix) == 1:
            return next(iter(mix))
        return self._random.choices(list(mix), weights=list(mix.values()))[0]

    def _pump(self) -> None:
        """Send every receipt that is due, then sleep until the next one is."""
        self._receipt_timer = None
        now = time.monotonic()
        queue = self._receipts
        cfg = self.config
        loop: asyncio.AbstractEventLoop | None = None
        while queue and queue[0][0] <= now:
            _, system_id, number, dest, state, submitted = queue.popleft()
            session = self._receiver(system_id)
            if session is None:
                # Nobody bound to receive: keep it, as an SMSC keeps receipts for a later bind.
                queue.appendleft((now + 0.5, system_id, number, dest, state, submitted))
                break
            loop = session.loop
            session.write(self._receipt_pdu(session, cfg, number, dest, state, submitted))
            self.stats.receipts_sent += 1
            self.stats.outcomes[state] += 1
        if queue:
            loop = loop or asyncio.get_running_loop()
            self._receipt_timer = loop.call_later(max(queue[0][0] - now, 0.001), self._pump)

    def _receipt_pdu(
        self,
        session: SmscSession,
        cfg: SimulatorConfig,
        number: int,
        dest: str,
        state: str,
        submitted: float,
    ) -> bytes:
        """Return a deliver_sm receipt, encoded directly (it is sent once per message)."""
        rid = format_id(number, cfg.receipt_id_format)
        dlvrd = "001" if state == "DELIVRD" else "000"
        err = "000" if state == "DELIVRD" else "001"
        text = (
            f"id:{rid} sub:001 dlvrd:{dlvrd} submit date:{self._stamp(submitted)} "
            f"done date:{self._stamp(time.time())} stat:{state} err:{err} text:"
        ).encode("latin-1")
        tlvs = b""
        if cfg.receipt_tlvs:
            raw_id = rid.encode("latin-1") + b"\x00"
            tlvs = (
                struct.pack(">HH", P.TAG_RECEIPTED_MESSAGE_ID, len(raw_id))
                + raw_id
                + struct.pack(">HHB", P.TAG_MESSAGE_STATE, 1, STATE_CODES.get(state, 7))
            )
        # service_type, source TON/NPI/addr (the handset), dest TON/NPI/addr (empty),
        # esm_class receipt, protocol_id, priority, schedule, validity, registered_delivery,
        # replace_if_present, data_coding, sm_default_msg_id, sm_length + text, TLVs.
        body = b"".join(
            (
                b"\x00\x01\x01",
                dest.encode("latin-1"),
                b"\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00",
                bytes((len(text),)),
                text,
                tlvs,
            )
        )
        return P.HEADER.pack(16 + len(body), P.DELIVER_SM, 0, session.next_seq()) + body

    def _stamp(self, at: float) -> str:
        """Return ``at`` as YYMMDDhhmm (UTC), computed once per minute."""
        minute = int(at // 60)
        if minute != self._stamp_minute:
            self._stamp_minute = minute
            self._stamp_text = time.strftime("%y%m%d%H%M", time.gmtime(minute * 60))
        return self._stamp_text

    def _bound(self) -> list[SmscSession]:
        return [s for s in self.sessions if s.mode is not None and s.is_open]

    def _receiver(self, system_id: str | None) -> SmscSession | None:
        """Return a receiving session of ``system_id`` (any if None), round robin."""
        candidates = [
            s
            for s in self.sessions
            if s.receives and s.is_open and (system_id is None or s.system_id == system_id)
        ]
        if not candidates:
            return None
        self._rr += 1
        return candidates[self._rr % len(candidates)]


def _late_write(session: SmscSession, data: bytes) -> None:
    session.unanswered -= 1
    if session.is_open:
        session.write(data)
