"""One SMPP connection over asyncio, shared by the ESME client and the SMSC simulator.

Speed comes from three habits: PDUs written in one loop iteration go to the socket in one
``write`` (a list joined once, flushed by ``call_soon``), responses are matched through a dict
``seq -> future``, and response timeouts are checked by one sweeper over a deque in send order
instead of one timer per request.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from typing import Any

from clarion.channels.smpp import pdu as P

log = logging.getLogger(__name__)

_SUBMIT_SM_RESP = P.SUBMIT_SM | P.RESP


class ConnectionLost(Exception):
    """The connection closed while a request waited for its response."""


class ResponseTimeout(Exception):
    """No response came within the session's response timeout."""


class SmppSession(asyncio.Protocol):
    """An SMPP peer on one TCP connection; subclasses answer the requests they receive."""

    def __init__(self, *, response_timeout: float = 10.0) -> None:
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.response_timeout = response_timeout
        self.pending: dict[int, asyncio.Future[P.Pdu]] = {}
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self._framer = P.Framer()
        self._seq = 0
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.last_received = time.monotonic()
        self.peer: str = "?"

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._sweeper = self.loop.call_later(self._sweep_interval(), self._sweep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._out.clear()
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(str(exc) if exc else "connection closed"))
        self._sent.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.on_closed(exc)

    @property
    def is_open(self) -> bool:
        """Return whether the socket is still open (and not closing)."""
        return self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        """Flush what is queued and close the connection."""
        if self.transport is not None:
            self.flush()
            self.transport.close()

    def abort(self) -> None:
        """Close at once, dropping whatever is queued (a dropped link, as seen by the peer)."""
        if self.transport is not None:
            self._out.clear()
            self.transport.abort()

    # -- writing ------------------------------------------------------------------------------
    def next_seq(self) -> int:
        """Return the next sequence number (1..0x7FFFFFFF, wrapping)."""
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the socket; everything queued in this iteration is sent at once."""
        self._out.append(data)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write everything queued to the transport now."""
        self._flush_handle = None
        out = self._out
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    def request_raw(self, seq: int, data: bytes) -> asyncio.Future[P.Pdu]:
        """Send an encoded request with sequence ``seq``; return the future of its response."""
        if not self.is_open:
            raise ConnectionLost("not connected")
        fut: asyncio.Future[P.Pdu] = self.loop.create_future()
        self.pending[seq] = fut
        self._sent.append((time.monotonic(), seq))
        self.write(data)
        return fut

    def request(
        self,
        command_id: int,
        fields: dict[str, Any] | None = None,
        tlvs: dict[int, bytes] | None = None,
    ) -> asyncio.Future[P.Pdu]:
        """Send a request PDU and return the future of its response."""
        seq = self.next_seq()
        return self.request_raw(seq, P.encode(P.Pdu(command_id, seq, 0, fields, tlvs)))

    def respond(self, req: P.Pdu, status: int = 0, fields: dict[str, Any] | None = None) -> None:
        """Answer request ``req`` with ``status``."""
        cid = req.command_id | P.RESP
        if status or (not fields and cid in (P.ENQUIRE_LINK | P.RESP, P.UNBIND | P.RESP)):
            self.write(P.header_only(cid, req.seq, status))
        else:
            self.write(P.encode(P.Pdu(cid, req.seq, status, fields)))

    def generic_nack(self, seq: int, status: int) -> None:
        """Send a generic_nack (a PDU we could not even read as its command)."""
        self.write(P.header_only(P.GENERIC_NACK, seq, status))

    # -- reading ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        try:
            frames = self._framer.feed(data)
        except P.PduError as err:
            # A length we cannot trust: the stream cannot be resynchronised (5.1.1).
            log.warning("%s: unreadable PDU length, closing: %s", self.peer, err)
            self.generic_nack(err.seq, err.status)
            self.on_malformed(err)
            self.close()
            return
        pending = self.pending
        for command_id, status, seq, raw in frames:
            if command_id & P.RESP:
                fut = pending.pop(seq, None)
                if fut is None:
                    self.on_response(command_id, status, seq, raw)
                    continue
                if fut.done():
                    continue
                if command_id == _SUBMIT_SM_RESP and not status and len(raw) > 16:
                    # The hot path: only the message_id, read without the generic decoder.
                    nul = raw.find(0, 16)
                    resp = P.Pdu(
                        command_id,
                        seq,
                        0,
                        {"message_id": raw[16 : nul if nul > 0 else None].decode("latin-1")},
                    )
                    self.on_matched(seq, resp)
                    fut.set_result(resp)
                    continue
                layout = P.BODIES.get(command_id, ())
                try:
                    resp = P.decode_body(raw, command_id, status, seq, layout)
                except P.PduError:
                    resp = P.Pdu(command_id, seq, status or P.ESME_RSYSERR)
                self.on_matched(seq, resp)
                fut.set_result(resp)
                continue
            layout_req = P.BODIES.get(command_id)
            if layout_req is None:
                self.generic_nack(seq, P.ESME_RINVCMDID)
                self.on_malformed(P.PduError("unknown command", P.ESME_RINVCMDID, command_id, seq))
                continue
            try:
                req = P.decode_body(raw, command_id, status, seq, layout_req)
            except P.PduError as err:
                self.write(P.header_only(command_id | P.RESP, seq, err.status))
                self.on_malformed(err)
                continue
            if command_id == P.ENQUIRE_LINK:
                if self.on_enquire_link():
                    self.write(P.header_only(P.ENQUIRE_LINK | P.RESP, seq))
            elif command_id == P.UNBIND:
                self.write(P.header_only(P.UNBIND | P.RESP, seq))
                self.on_unbind()
                self.close()
            else:
                self.on_request(req)

    # -- timeouts -----------------------------------------------------------------------------
    def _sweep_interval(self) -> float:
        return max(min(self.response_timeout / 4, 1.0), 0.01)

    def _sweep(self) -> None:
        deadline = time.monotonic() - self.response_timeout
        sent, pending = self._sent, self.pending
        while sent:
            at, seq = sent[0]
            fut = pending.get(seq)
            if fut is None or fut.done():
                sent.popleft()
                if fut is not None:  # cancelled by its waiter: its response is not wanted
                    del pending[seq]
                continue
            if at > deadline:
                break
            sent.popleft()
            del pending[seq]
            fut.set_exception(ResponseTimeout(f"no response to seq {seq}"))
        if self.transport is not None:
            self._sweeper = self.loop.call_later(self._sweep_interval(), self._sweep)

    # -- hooks for subclasses -----------------------------------------------------------------
    def on_request(self, pdu: P.Pdu) -> None:
        """Handle a request other than enquire_link and unbind (default: not supported)."""
        self.generic_nack(pdu.seq, P.ESME_RINVCMDID)

    def on_response(self, command_id: int, status: int, seq: int, raw: bytes) -> None:
        """Handle a response nobody waits for (default: ignore it)."""

    def on_matched(self, seq: int, pdu: P.Pdu) -> None:
        """See a response the moment it is read, before its waiter resumes."""

    def on_enquire_link(self) -> bool:
        """Return whether to answer an enquire_link (a test SMSC may play dead)."""
        return True

    def on_unbind(self) -> None:
        """React to the peer's unbind (the session answers and closes by itself)."""

    def on_malformed(self, err: P.PduError) -> None:
        """Count or log a PDU that could not be decoded (already answered)."""
        log.warning("%s: malformed PDU: %s", self.peer, err)

    def on_closed(self, exc: Exception | None) -> None:
        """React to the connection closing."""
