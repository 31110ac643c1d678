"""Read a ``short_message`` as text according to its SMPP ``data_coding`` (SMPP 3.4, 5.2.19).

Only the SMPP-specific part lives here: which alphabet a ``data_coding`` value names, including
the message-class coding group (0xF0-0xFF). The GSM 03.38 alphabet itself, and decoding septets,
belong to the text engine (``clarion.messages.encoding``).
"""

from __future__ import annotations

from typing import Final

from clarion.messages.encoding import decode_septets as _decode_septets

# SMPP carries unpacked septets one per octet; some SMSCs leave the eighth bit set.
_SEVEN_BITS: Final = bytes(b & 0x7F for b in range(256))


def decode_septets(data: bytes) -> str:
    """Return the text of unpacked GSM-7 septets (unknown escapes read as a space, per 6.2.1.1)."""
    return _decode_septets(data.translate(_SEVEN_BITS))


def decode_text(data: bytes, data_coding: int, *, default: str = "gsm7") -> str:
    """Return the text of a short message in ``data_coding`` (5.2.19)."""
    scheme = data_coding & 0x0F if data_coding & 0xF0 == 0xF0 else data_coding
    if data_coding & 0xF0 == 0xF0:  # message class coding group: bit 2 says 8-bit, else GSM-7
        return data.decode("latin-1") if scheme & 0x04 else decode_septets(data)
    if scheme == 8:
        return data.decode("utf-16-be", errors="replace")
    if scheme == 3:
        return data.decode("latin-1")
    if scheme == 1:
        return data.decode("ascii", errors="replace")
    if scheme == 0:
        return decode_septets(data) if default == "gsm7" else data.decode("latin-1")
    return data.decode("latin-1")
