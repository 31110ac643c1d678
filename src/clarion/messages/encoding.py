"""SMS encoding: GSM-7 or UCS-2, units, parts and the payload bytes for SMPP.

Rules (3GPP TS 23.038 / 23.040, SMPP 3.4; see docs/text.md):

- A text is GSM-7 when every character is in the default table or its extension table
  (extension characters cost two septets: ESC + code); otherwise the whole text is UCS-2
  (UTF-16-BE, a character outside the BMP costs two units).
- One part holds 140 octets minus the user data header. Parts are packed greedily and never
  split an escape sequence or a surrogate pair (TS 23.040 9.2.3.24.1), so the part count is not
  always ``ceil(units / per_part)``.

Speed matters (a campaign renders and counts every message), so the work is done by C-level
string operations: a ``set`` of the characters against precomputed frozensets, ``str.translate``
to septets, ``str.encode("utf-16-be")`` for UCS-2; Python loops run per part, never per
character.
"""

from __future__ import annotations

import codecs
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clarion.errors import ValidationFailed
from clarion.messages.gsm_tables import (
    DEFAULT_BASIC,
    DEFAULT_EXTENSION,
    ESC,
    NATIONAL,
    UNUSED,
)

MAX_PARTS = 255
OCTETS_PER_PART = 140
#: UDH information element identifiers (TS 23.040 9.2.3.24).
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25
_CONCAT_IE_OCTETS = {8: 5, 16: 6}


@dataclass(frozen=True, slots=True)
class Alphabet:
    """One GSM-7 character set: a basic (locking shift) table plus an extension (single shift)."""

    name: str
    basic: frozenset[str]
    extension: frozenset[str]
    chars: frozenset[str]
    #: ``str.translate`` table: character -> its septet, or ESC + septet for extension characters.
    to_septets: dict[int, str]
    #: septet -> character, and extension septet -> character (for decoding).
    from_basic: dict[int, str]
    from_extension: dict[int, str]
    #: the national language shift IEs this alphabet needs in every part's UDH.
    udh_shift: bytes
    #: C-level charmap encoder for texts without extension characters (no escapes needed).
    basic_codec: Any


def _alphabet(name: str, basic: str, extension: dict[int, str], udh_shift: bytes = b"") -> Alphabet:
    from_basic = {code: ch for code, ch in enumerate(basic) if code != ESC and ch != UNUSED}
    to_septets: dict[int, str] = {ord(ch): chr(code) for code, ch in from_basic.items()}
    for code, ch in extension.items():
        # A character in both tables is sent with the cheaper, basic, code.
        to_septets.setdefault(ord(ch), chr(ESC) + chr(code))
    # A 256-entry decoding table (U+FFFE marks unused codes) builds the fast EncodingMap.
    decoding = "".join(from_basic.get(code, "\ufffe") for code in range(256))
    basic_set = frozenset(from_basic.values())
    ext_set = frozenset(extension.values()) - basic_set
    return Alphabet(
        name=name,
        basic=basic_set,
        extension=ext_set,
        chars=basic_set | ext_set,
        to_septets=to_septets,
        from_basic=from_basic,
        from_extension=dict(extension),
        udh_shift=udh_shift,
        basic_codec=codecs.charmap_build(decoding),
    )


GSM7 = _alphabet("gsm7", DEFAULT_BASIC, DEFAULT_EXTENSION)


def _national_alphabets(lang: str) -> list[Alphabet]:
    """Return the alphabets a national language allows, cheapest UDH first."""
    lang_id, locking, single = NATIONAL[lang]
    name = f"gsm7-{lang}"
    single_ie = bytes([IEI_SINGLE_SHIFT, 1, lang_id])
    found = [_alphabet(name, DEFAULT_BASIC, single, single_ie)]
    if locking is not None:
        locking_ie = bytes([IEI_LOCKING_SHIFT, 1, lang_id])
        found.append(_alphabet(name, locking, DEFAULT_EXTENSION, locking_ie))
        found.append(_alphabet(name, locking, single, locking_ie + single_ie))
    return found


NATIONAL_ALPHABETS: dict[str, list[Alphabet]] = {
    lang: _national_alphabets(lang) for lang in NATIONAL
}
NATIONAL_SHIFTS = frozenset(NATIONAL_ALPHABETS)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A text encoded for SMS: what it costs and the per-part payloads."""

    encoding: str  # "gsm7" | "ucs2" | "gsm7-<lang>" when a national shift table is used
    data_coding: int  # SMPP data_coding: 0 for GSM-7 (SMSC default alphabet), 8 for UCS-2
    units: int  # septets (GSM-7, escapes count 2) or UTF-16 code units
    parts: int
    # Per part, the payload WITHOUT UDH: GSM-7 unpacked septets one per byte (as SMPP
    # short_message carries them with data_coding 0), UCS-2 as UTF-16-BE.
    segments: list[bytes]
    ucs2_forced_by: list[str]  # distinct characters that forced UCS-2, in order of appearance
    udh_shift: bytes  # national language shift IEs to put in every part's UDH, b"" if none
    replaced: list[tuple[str, str]] = field(default_factory=list)  # look-alikes replaced
    ref_bits: int = 8  # the concatenation reference size the parts were cut for
    text: str = ""  # the text actually encoded (after any look-alike replacement)


# --- look-alikes -------------------------------------------------------------------------------

#: Characters that force UCS-2 although a GSM-7 character looks (nearly) the same.
LOOKALIKES: dict[str, str] = {
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark / apostrophe
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",  # prime
    "\u00b4": "'",  # acute accent
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u00a0": " ",  # no-break space
    "\u2002": " ",
    "\u2003": " ",
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u200a": " ",
    "\u202f": " ",  # narrow no-break space
    "\u3000": " ",  # ideographic space
    "\t": " ",
    "\u200b": "",  # zero width space
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero width no-break space (BOM)
    "\u00ad": "",  # soft hyphen
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2026": "...",
    "\u2022": "-",  # bullet
    "\u00e7": "Ç",  # only the capital is in GSM 03.38
    # Greek capitals that look Latin (GSM-7 has only the ones without a Latin twin).
    "\u0391": "A",
    "\u0392": "B",
    "\u0395": "E",
    "\u0396": "Z",
    "\u0397": "H",
    "\u0399": "I",
    "\u039a": "K",
    "\u039c": "M",
    "\u039d": "N",
    "\u039f": "O",
    "\u03a1": "P",
    "\u03a4": "T",
    "\u03a5": "Y",
    "\u03a7": "X",
}
_LOOKALIKE_TABLE = str.maketrans(LOOKALIKES)
_LOOKALIKE_CHARS = frozenset(LOOKALIKES)
#: A base character followed by combining marks, which NFC may fold into one GSM character.
_COMBINING = re.compile(r".[\u0300-\u036f]+", re.DOTALL)


def replace_lookalikes(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Return ``text`` with look-alike characters replaced by GSM-7 ones, and what changed.

    Decomposed accents are composed first (``e`` + U+0301 -> ``é``); the report lists each
    distinct ``(old, new)`` once, in order of first appearance.
    """
    changes: list[tuple[str, str]] = []
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        for m in _COMBINING.finditer(text):
            composed = unicodedata.normalize("NFC", m.group())
            if composed != m.group() and (m.group(), composed) not in changes:
                changes.append((m.group(), composed))
        text = unicodedata.normalize("NFC", text)
    present = _LOOKALIKE_CHARS.intersection(text)
    if present:
        for ch in sorted(present, key=text.index):
            changes.append((ch, LOOKALIKES[ch]))
        text = text.translate(_LOOKALIKE_TABLE)
    return text, changes


# --- counting and splitting --------------------------------------------------------------------


def _udh_septets(udh_octets: int) -> int:
    """Return the septets a UDH of ``udh_octets`` (UDHL included) takes, with fill bits."""
    return math.ceil(udh_octets * 8 / 7) if udh_octets else 0


def _limits(shift_octets: int, ref_bits: int, septets: bool) -> tuple[int, int]:
    """Return (units in a single part, units per part of a concatenated message)."""
    single_udh = 1 + shift_octets if shift_octets else 0
    multi_udh = 1 + _CONCAT_IE_OCTETS[ref_bits] + shift_octets
    if septets:
        return 160 - _udh_septets(single_udh), 160 - _udh_septets(multi_udh)
    return (OCTETS_PER_PART - single_udh) // 2, (OCTETS_PER_PART - multi_udh) // 2


def _cuts(n: int, per_part: int, straddles: Callable[[int], bool]) -> list[int]:
    """Return the end offsets of greedy parts of ``n`` units; ``straddles(end)`` backs a cut off."""
    ends: list[int] = []
    start = 0
    while start < n:
        end = start + per_part
        if end >= n:
            end = n
        elif straddles(end):
            end -= 1
        ends.append(end)
        start = end
    return ends


def _split(data: bytes, single: int, per_part: int, unit: int) -> list[bytes]:
    """Split ``data`` (septets, or UTF-16-BE when ``unit`` is 2) into greedy parts."""
    if len(data) <= single * unit:
        return [data]
    if unit == 1:
        ends = _cuts(len(data), per_part, lambda end: data[end - 1] == ESC)
    else:
        # A cut after a high surrogate would split a pair.
        ends = _cuts(len(data) // 2, per_part, lambda end: 0xD8 <= data[2 * end - 2] <= 0xDB)
    starts = [0, *ends[:-1]]
    return [data[a * unit : b * unit] for a, b in zip(starts, ends, strict=True)]


def _check_parts(parts: int, units: int, encoding: str) -> None:
    if parts > MAX_PARTS:
        raise ValidationFailed(
            f"text needs {parts} parts; at most {MAX_PARTS} are allowed",
            field="text",
            value=units,
            encoding=encoding,
            parts=parts,
        )


def _check_text(text: str) -> None:
    if "\x1b" in text:
        raise ValidationFailed(
            "a raw ESC character is not allowed in message text",
            field="text",
            value=text.index("\x1b"),
        )


def _ucs2_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise ValidationFailed(
            "text holds an unpaired surrogate", field="text", value=exc.start
        ) from None


def _forced_by(text: str, present: set[str], alphabet: frozenset[str]) -> list[str]:
    """Return the characters of ``present`` (the text's) outside ``alphabet``, in text order."""
    bad = present - alphabet
    return list(bad) if len(bad) < 2 else sorted(bad, key=text.index)


def _ascii_table() -> bytes:
    """Return a bytes.translate table from ASCII to default-alphabet septets (basic chars only)."""
    table = bytearray(range(256))
    for ch in GSM7.basic:
        if ch.isascii():
            table[ord(ch)] = ord(GSM7.to_septets[ord(ch)])
    return bytes(table)


_ASCII_TO_GSM = _ascii_table()
#: the ASCII characters of the default table without escape (``bytes.translate`` deletes them,
#: so an empty result means "plain GSM-7" without building a set of the characters)
_BASIC_ASCII = bytes(sorted(ord(ch) for ch in GSM7.basic if ch.isascii()))
_LIMITS = {
    (shift, ref_bits, septets): _limits(shift, ref_bits, septets)
    for shift in (0, 3, 6)
    for ref_bits in _CONCAT_IE_OCTETS
    for septets in (True, False)
}


def _gsm_count(units: int, escaped_text: str | None) -> tuple[str, int, int]:
    """Return the default-alphabet count; ``escaped_text`` is given when escapes may straddle."""
    if units <= 160:
        return "gsm7", units, 1
    if escaped_text is None:
        parts = -(-units // 153)
    else:
        raw = escaped_text.translate(GSM7.to_septets).encode("latin-1")
        parts = len(_split(raw, 160, 153, 1))
    _check_parts(parts, units, "gsm7")
    return "gsm7", units, parts


def count(text: str) -> tuple[str, int, int]:
    """Return ``(encoding, units, parts)`` with the default alphabet and 8-bit references.

    The fast path of :func:`encode`: no bytes are built unless an escape sequence could
    straddle a part boundary.
    """
    if text.isascii() and not text.encode("ascii").translate(None, _BASIC_ASCII):
        return _gsm_count(len(text), None)
    chars = set(text)
    if chars <= GSM7.basic:
        return _gsm_count(len(text), None)
    if chars <= GSM7.chars:
        units = len(text) + sum(text.count(c) for c in chars & GSM7.extension)
        return _gsm_count(units, text)
    _check_text(text)
    data = _ucs2_bytes(text)
    units = len(data) // 2
    if units <= 70:
        return "ucs2", units, 1
    # BMP only: no surrogate pair to keep whole, so the plain division is exact.
    bmp_only = len(data) == len(text) * 2
    parts = -(-units // 67) if bmp_only else len(_split(data, 70, 67, 2))
    _check_parts(parts, units, "ucs2")
    return "ucs2", units, parts


def _encode_gsm(
    text: str, alphabet: Alphabet, ref_bits: int, plain: bool = False, escapes: bool = True
) -> Encoded:
    if plain:  # ASCII, default alphabet, no escapes: a byte-table translation is exact
        raw = text.encode("ascii").translate(_ASCII_TO_GSM)
    elif not escapes:  # one septet per character: the C charmap encoder
        raw = codecs.charmap_encode(text, "strict", alphabet.basic_codec)[0]
    else:
        raw = text.translate(alphabet.to_septets).encode("latin-1")
    single, per_part = _LIMITS[len(alphabet.udh_shift), ref_bits, True]
    segments = _split(raw, single, per_part, 1)
    _check_parts(len(segments), len(raw), alphabet.name)
    return Encoded(
        encoding=alphabet.name,
        data_coding=0,
        units=len(raw),
        parts=len(segments),
        segments=segments,
        ucs2_forced_by=[],
        udh_shift=alphabet.udh_shift,
        ref_bits=ref_bits,
        text=text,
    )


def encode(
    text: str,
    *,
    ref_bits: int = 8,
    replace_lookalikes: bool = False,
    national_shift: str | None = None,
) -> Encoded:
    """Return ``text`` encoded for SMS, split into parts for ``ref_bits`` concatenation.

    ``replace_lookalikes`` swaps characters that would force UCS-2 for GSM-7 twins, but only
    when that makes the whole text GSM-7 (otherwise nothing is gained and the text is kept).
    ``national_shift`` (``"tr"``, ``"es"``, ``"pt"`` or one of the ten Indian languages: ``"bn"``,
    ``"gu"``, ``"hi"``, ``"kn"``, ``"ml"``, ``"or"``, ``"pa"``, ``"ta"``, ``"te"``, ``"ur"``) allows
    that language's shift tables
    when the default alphabet cannot encode the text; the cheapest choice in parts wins.
    """
    if ref_bits not in _CONCAT_IE_OCTETS:
        raise ValidationFailed("ref_bits must be 8 or 16", field="ref_bits", value=ref_bits)
    if national_shift is not None and national_shift not in NATIONAL_SHIFTS:
        raise ValidationFailed(
            f"no national shift table {national_shift!r}",
            field="national_shift",
            value=national_shift,
            allowed=sorted(NATIONAL_SHIFTS),
        )
    _check_text(text)
    if text.isascii() and not text.encode("ascii").translate(None, _BASIC_ASCII):
        return _encode_gsm(text, GSM7, ref_bits, plain=True)
    chars = set(text)
    if chars <= GSM7.chars:
        return _encode_gsm(text, GSM7, ref_bits, escapes=not chars.isdisjoint(GSM7.extension))
    if replace_lookalikes:
        swapped, changes = _replace(text)
        if set(swapped) <= GSM7.chars:
            enc = _encode_gsm(swapped, GSM7, ref_bits)
            return _with_replaced(enc, changes)
    if national_shift is not None:
        best: Encoded | None = None
        for alphabet in NATIONAL_ALPHABETS[national_shift]:
            if chars <= alphabet.chars:
                escapes = not chars.isdisjoint(alphabet.extension)
                enc = _encode_gsm(text, alphabet, ref_bits, escapes=escapes)
                # Fewest parts first; then fewest septets, then the smaller UDH.
                key = (enc.parts, enc.units, len(enc.udh_shift))
                if best is None or key < (best.parts, best.units, len(best.udh_shift)):
                    best = enc
        if best is not None:
            return best
    data = _ucs2_bytes(text)
    single, per_part = _LIMITS[0, ref_bits, False]
    segments = _split(data, single, per_part, 2)
    _check_parts(len(segments), len(data) // 2, "ucs2")
    return Encoded(
        encoding="ucs2",
        data_coding=8,
        units=len(data) // 2,
        parts=len(segments),
        segments=segments,
        ucs2_forced_by=_forced_by(text, chars, GSM7.chars),
        udh_shift=b"",
        ref_bits=ref_bits,
        text=text,
    )


_replace = replace_lookalikes  # the keyword argument of encode() shadows the function's name


def _with_replaced(enc: Encoded, changes: list[tuple[str, str]]) -> Encoded:
    return Encoded(
        encoding=enc.encoding,
        data_coding=enc.data_coding,
        units=enc.units,
        parts=enc.parts,
        segments=enc.segments,
        ucs2_forced_by=[],
        udh_shift=enc.udh_shift,
        replaced=changes,
        ref_bits=enc.ref_bits,
        text=enc.text,
    )


# --- UDH, packing, decoding --------------------------------------------------------------------


def concat_udh(ref: int, total: int, seq: int, *, ref_bits: int = 8) -> bytes:
    """Return the whole UDH (UDHL included) for part ``seq`` of ``total`` with reference ``ref``.

    8-bit: ``05 00 03 ref total seq``; 16-bit: ``06 08 04 refhi reflo total seq``.
    """
    if not 1 <= seq <= total <= MAX_PARTS:
        raise ValidationFailed("need 1 <= seq <= total <= 255", field="seq", value=(seq, total))
    if ref_bits == 8:
        return bytes([5, IEI_CONCAT_8, 3, ref & 0xFF, total, seq])
    if ref_bits == 16:
        return bytes([6, IEI_CONCAT_16, 4, (ref >> 8) & 0xFF, ref & 0xFF, total, seq])
    raise ValidationFailed("ref_bits must be 8 or 16", field="ref_bits", value=ref_bits)


def part_udh(enc: Encoded, ref: int, seq: int) -> bytes:
    """Return the UDH for part ``seq`` (1-based) of ``enc``: concatenation and shift IEs.

    A single-part GSM-7 or UCS-2 message needs none (``b""``).
    """
    if enc.parts == 1:
        return bytes([len(enc.udh_shift)]) + enc.udh_shift if enc.udh_shift else b""
    concat = concat_udh(ref, enc.parts, seq, ref_bits=enc.ref_bits)
    ies = concat[1:] + enc.udh_shift
    return bytes([len(ies)]) + ies


def gsm7_pack(septets: bytes, *, fill_bits: int = 0) -> bytes:
    """Return septets packed 7 bits each, least significant first (TS 23.038 6.1.2.1.1).

    ``fill_bits`` shifts the data so that it starts on a septet boundary after a UDH.
    """
    packed = 0
    for i, s in enumerate(septets):
        packed |= (s & 0x7F) << (7 * i)
    packed <<= fill_bits
    nbits = 7 * len(septets) + fill_bits
    return packed.to_bytes((nbits + 7) // 8, "little")


def gsm7_unpack(data: bytes, count: int, *, fill_bits: int = 0) -> bytes:
    """Return ``count`` septets unpacked from ``data`` (the inverse of :func:`gsm7_pack`)."""
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def decode_septets(septets: bytes, *, national_shift: str | None = None, udh: bytes = b"") -> str:
    """Return the text of unpacked GSM-7 septets (for inbound messages and tests).

    The national tables in use are read from ``udh`` shift IEs when given.
    """
    alphabet = GSM7
    if udh and national_shift is not None:
        for candidate in NATIONAL_ALPHABETS[national_shift]:
            if candidate.udh_shift and candidate.udh_shift in udh:
                alphabet = candidate
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(alphabet.from_extension.get(s, " "))
            escaped = False
        elif s == ESC:
            escaped = True
        else:
            out.append(alphabet.from_basic.get(s, " "))
    return "".join(out)


def decode(payload: bytes, data_coding: int) -> str:
    """Return the text of an unpacked SMPP ``short_message`` with ``data_coding`` 0, 3 or 8."""
    if data_coding == 8:
        return payload.decode("utf-16-be", errors="replace")
    if data_coding == 3:
        return payload.decode("latin-1")
    return decode_septets(payload)


def cost(parts: int, price_per_part: float) -> float:
    """Return what ``parts`` parts cost at ``price_per_part`` (rounded to 6 decimals)."""
    return round(parts * price_per_part, 6)
