"""Turn an OutboundMessage into submit_sm PDUs in the connector's concatenation mode.

The fixed part of a message's submit_sm body (addresses, esm_class, data_coding...) is encoded
once per message; each part then costs one header pack and two concatenations, which keeps the
hot path free of per-field work.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from clarion.channels.base import OutboundMessage
from clarion.channels.smpp import pdu as P
from clarion.channels.smpp.config import ConnectorConfig
from clarion.errors import ValidationFailed
from clarion.messages.encoding import encode


class InvalidMessage(Exception):
    """A message this connector can never send as it is (a permanent failure)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Prepared:
    """A message ready to go: the common body prefix and, per part, what follows it."""

    ref: str
    prefix: bytes  # service_type .. sm_default_msg_id, encoded once
    tails: list[bytes]  # per part: sm_length + short_message + TLVs
    segments: int  # SMS segments billed (payload mode sends them as one PDU)
    receipt: bool = True  # whether receipts were asked for (then part ids are tracked)

    def pdu(self, seq: int, part: int) -> bytes:
        """Return the submit_sm of part ``part`` with sequence number ``seq``."""
        tail = self.tails[part]
        return P.HEADER.pack(16 + len(self.prefix) + len(tail), P.SUBMIT_SM, 0, seq) + (
            self.prefix + tail
        )


def concat_udh(ref: int, total: int, seq: int, *, ref_bits: int = 8) -> bytes:
    """Return the concatenation UDH (TS 23.040 9.2.3.24.1 and .8), length octet included."""
    if ref_bits == 16:
        return bytes((6, 0x08, 4, (ref >> 8) & 0xFF, ref & 0xFF, total, seq))
    return bytes((5, 0x00, 3, ref & 0xFF, total, seq))


def source_address(sender: str, cfg: ConnectorConfig) -> tuple[str, int, int]:
    """Return (address, TON, NPI) for a sender id, choosing TON/NPI by its shape.

    Alphanumeric ids are TON 5 (alphanumeric) NPI 0 and at most 11 characters; short codes (up to
    8 digits) TON 3 (network specific) NPI 0; long numbers TON 1 (international) NPI 1 (E.164).
    A connector may force its own TON/NPI (some SMSCs want 0/1 for everything).
    """
    return _source(sender, cfg.source_ton, cfg.source_npi)


def _source(sender: str, source_ton: int | None, source_npi: int | None) -> tuple[str, int, int]:
    addr = sender.strip()
    digits = addr[1:] if addr.startswith("+") else addr
    if not addr:
        ton, npi = 0, 0
    elif not digits.isdigit():
        if len(addr) > 11:
            raise InvalidMessage("INVALID_SENDER", f"alphanumeric sender {addr!r} is over 11")
        ton, npi = 5, 0
    elif len(digits) <= 8:
        addr, ton, npi = digits, 3, 0
    else:
        addr, ton, npi = digits, 1, 1
    if source_ton is not None:
        ton = source_ton
    if source_npi is not None:
        npi = source_npi
    return addr, ton, npi


@functools.lru_cache(maxsize=1024)
def _source_head(sender: str, source_ton: int | None, source_npi: int | None) -> bytes:
    """Return service_type + source TON, NPI, address as encoded (few senders, many messages)."""
    addr, ton, npi = _source(sender, source_ton, source_npi)
    return bytes((0, ton, npi)) + _cstr(addr)


@functools.lru_cache(maxsize=256)
def relative_validity(period: timedelta) -> str:
    """Return an SMPP relative time (7.1.1, ``YYMMDDhhmmsstnnR``) for ``period`` (max 99 days).

    Memoised: a campaign's messages share one validity, and this ran once per message.
    """
    total = max(int(period.total_seconds()), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{minutes:02d}{seconds:02d}000R"


def _cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"


def _encode_text(msg: OutboundMessage, ref_bits: int) -> tuple[list[bytes], int, bytes]:
    """Return (segments, data_coding, udh_shift) from the text engine."""
    try:
        encoded = encode(
            msg.text or "",
            ref_bits=ref_bits,
            replace_lookalikes=msg.replace_lookalikes,
            national_shift=msg.national_shift,
        )
    except ValidationFailed as exc:
        raise InvalidMessage("INVALID_TEXT", str(exc)) from None
    return list(encoded.segments), encoded.data_coding, encoded.udh_shift


_refs = itertools.count(1)


def next_reference() -> int:
    """Return a concatenation reference number (wraps within 16 bits)."""
    return next(_refs) & 0xFFFF


def prepare(msg: OutboundMessage, cfg: ConnectorConfig, *, ref: int | None = None) -> Prepared:
    """Return the submit_sm parts of ``msg`` or raise InvalidMessage.

    ``ref`` is the concatenation reference (a fresh one by default).
    """
    shift = msg.udh_shift
    if msg.segments is not None:
        segments: Sequence[bytes] = msg.segments
        data_coding = msg.data_coding if msg.data_coding is not None else cfg.default_data_coding
    elif msg.text is not None:
        segments, data_coding, shift = _encode_text(msg, cfg.udh_ref_bits)
        if data_coding == 0:
            data_coding = cfg.default_data_coding
    else:
        raise InvalidMessage("EMPTY", "a message needs text or segments")
    if not segments:
        segments = [b""]
    if len(segments) > 255:
        raise InvalidMessage("TOO_LONG", f"{len(segments)} parts: at most 255")
    dest = msg.to.strip().removeprefix("+")
    if not dest.isdigit() or len(dest) > 20:
        raise InvalidMessage("INVALID_DESTINATION", f"destination {msg.to!r} is not a number")
    source_head = _source_head(msg.sender or cfg.source_addr, cfg.source_ton, cfg.source_npi)
    multipart = len(segments) > 1
    mode: str = cfg.concatenation if multipart else "single"
    if shift:
        # National shift tables travel only in a UDH, whatever the connector's usual mode.
        mode = "udh" if multipart else "shift"
    esm_class = P.ESM_UDHI if mode in ("udh", "shift") else 0
    wants_receipt = cfg.registered_delivery if msg.receipt is None else int(msg.receipt)
    validity = relative_validity(msg.validity) if msg.validity else ""
    # service_type (SMSC default), source TON/NPI/address, dest TON/NPI/address, esm_class,
    # protocol_id, priority_flag, schedule_delivery_time (now), validity_period,
    # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id.
    prefix = (
        source_head
        + bytes((cfg.dest_ton, cfg.dest_npi))
        + dest.encode("ascii")
        + bytes((0, esm_class, 0, 0, 0))
        + (validity.encode("ascii") if validity else b"")
        + bytes((0, wants_receipt, 0, data_coding, 0))
    )
    tails: list[bytes]
    if mode == "single":
        tails = [_short_message(segments[0])]
    elif mode == "shift":
        tails = [_short_message(bytes((len(shift),)) + shift + segments[0])]
    elif mode == "payload":
        payload = b"".join(segments)
        tails = [b"\x00" + struct.pack(">HH", P.TAG_MESSAGE_PAYLOAD, len(payload)) + payload]
    else:
        ref = next_reference() if ref is None else ref
        total = len(segments)
        if mode == "udh":
            tails = [
                _short_message(_udh(ref, total, i + 1, cfg.udh_ref_bits, shift) + seg)
                for i, seg in enumerate(segments)
            ]
        else:  # sar
            tails = [
                _short_message(seg)
                + struct.pack(">HHH", P.TAG_SAR_MSG_REF_NUM, 2, ref)
                + struct.pack(">HHB", P.TAG_SAR_TOTAL_SEGMENTS, 1, total)
                + struct.pack(">HHB", P.TAG_SAR_SEGMENT_SEQNUM, 1, i + 1)
                for i, seg in enumerate(segments)
            ]
    return Prepared(msg.ref, prefix, tails, len(segments), bool(wants_receipt))


def _udh(ref: int, total: int, seq: int, ref_bits: int, shift: bytes) -> bytes:
    udh = concat_udh(ref, total, seq, ref_bits=ref_bits)
    return bytes((udh[0] + len(shift),)) + udh[1:] + shift if shift else udh


def _short_message(data: bytes) -> bytes:
    if len(data) > 254:
        raise InvalidMessage("TOO_LONG", "a part is longer than 254 octets")
    return bytes((len(data),)) + data
