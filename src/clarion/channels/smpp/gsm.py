"""Decode GSM 03.38 default-alphabet septets (one per octet, as SMPP carries them) to text.

Only decoding lives here, for MO messages and receipts; encoding and splitting belong to the
text engine (``clarion.messages.encoding``).
"""

from __future__ import annotations

from typing import Final

# 3GPP TS 23.038 6.2.1, the default alphabet in code order (0x1B is the escape).
_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# 6.2.1.1, the extension table reached through the escape.
_EXTENSION: Final = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
assert len(_BASIC) == 128


def decode_septets(data: bytes) -> str:
    """Return the text of unpacked GSM-7 septets (unknown escapes read as a space, per 6.2.1.1)."""
    out: list[str] = []
    escape = False
    for octet in data:
        code = octet & 0x7F
        if escape:
            out.append(_EXTENSION.get(code, " " if code != 0x1B else ""))
            escape = False
        elif code == 0x1B:
            escape = True
        else:
            out.append(_BASIC[code])
    return "".join(out)


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
