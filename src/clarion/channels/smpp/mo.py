"""Inbound (MO) messages: read the concatenation info of a deliver_sm and reassemble parts.

A person's long reply arrives as several deliver_sm, each with a UDH (IEI 0x00 or 0x08) or the
SAR TLVs. Parts are joined as bytes before decoding, so a UCS-2 surrogate pair or a GSM escape
split across parts still decodes. Parts that never complete are delivered as they are after a
timeout: losing a "STOP" because one part went missing would be worse than a partial text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from clarion.channels.smpp import pdu as P


@dataclass(frozen=True, slots=True)
class Part:
    """One deliver_sm's text bytes and where it sits in its message."""

    payload: bytes
    ref: int | None = None
    total: int = 1
    seq: int = 1


def split_part(pdu: P.Pdu) -> Part:
    """Return the payload and the concatenation info of a deliver_sm."""
    sm: bytes = pdu.fields.get("short_message") or pdu.tlvs.get(P.TAG_MESSAGE_PAYLOAD) or b""
    if pdu.fields.get("esm_class", 0) & P.ESM_UDHI and sm:
        udhl = sm[0]
        header, payload = sm[1 : 1 + udhl], sm[1 + udhl :]
        pos = 0
        while pos + 2 <= len(header):
            iei, length = header[pos], header[pos + 1]
            data = header[pos + 2 : pos + 2 + length]
            if iei == 0x00 and length == 3:
                return Part(payload, data[0], data[1], data[2])
            if iei == 0x08 and length == 4:
                return Part(payload, (data[0] << 8) | data[1], data[2], data[3])
            pos += 2 + length
        return Part(payload)
    ref = P.tlv_int(pdu, P.TAG_SAR_MSG_REF_NUM)
    if ref is not None:
        total = P.tlv_int(pdu, P.TAG_SAR_TOTAL_SEGMENTS) or 1
        seq = P.tlv_int(pdu, P.TAG_SAR_SEGMENT_SEQNUM) or 1
        return Part(sm, ref, total, seq)
    return Part(sm)


@dataclass
class _Pending:
    first_at: float
    data_coding: int
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Collect the parts of concatenated MO messages until each is whole."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._pending: dict[tuple[str, str, int, int], _Pending] = {}

    def add(
        self, source: str, dest: str, data_coding: int, part: Part
    ) -> tuple[bytes, int, int] | None:
        """Add a part; return (payload, data_coding, parts) once the message is whole."""
        if part.ref is None or part.total <= 1:
            return part.payload, data_coding, 1
        key = (source, dest, part.ref, part.total)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(time.monotonic(), data_coding)
        pending.parts[part.seq] = part.payload
        if len(pending.parts) < part.total:
            return None
        del self._pending[key]
        return self._joined(pending), pending.data_coding, part.total

    def expired(self) -> list[tuple[str, str, bytes, int, int]]:
        """Remove and return (source, dest, payload, data_coding, parts) of stale messages."""
        limit = time.monotonic() - self.timeout
        out = []
        for key, pending in list(self._pending.items()):
            if pending.first_at < limit:
                del self._pending[key]
                payload = self._joined(pending)
                out.append((key[0], key[1], payload, pending.data_coding, len(pending.parts)))
        return out

    @staticmethod
    def _joined(pending: _Pending) -> bytes:
        return b"".join(pending.parts[i] for i in sorted(pending.parts))

    def __len__(self) -> int:
        return len(self._pending)
