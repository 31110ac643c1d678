"""GSM 03.38 alphabets as data (3GPP TS 23.038 section 6.2.1 and annex A).

Each table is written the way the standard prints it: a 128-position string for a (locking shift)
basic table, with position 0x1B (the escape to the extension table) marked by ``\\x1b``, and a
``{code: character}`` mapping for a (single shift) extension table. Language identifiers are the
ones the UDH national language IEs carry (annex A): 1 Turkish, 2 Spanish, 3 Portuguese.
"""

from __future__ import annotations

ESC = 0x1B

#: 6.2.1: the default alphabet.
DEFAULT_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

#: 6.2.1.1: the default extension table (reached by ESC); form feed, ^ { } \\ [ ~ ] | and €.
DEFAULT_EXTENSION: dict[int, str] = {
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

#: A.3.1: Turkish locking shift table.
TURKISH_LOCKING = (
    "@£$¥€éùıòÇ\nĞğ\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "İABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "çabcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

#: A.3.3: Portuguese locking shift table.
PORTUGUESE_LOCKING = (
    "@£$¥êéúíóç\nÔô\rÁá"
    "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
    " !\"#º%&'()*+,-./"
    "0123456789:;<=>?"
    "ÍABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÃÕÚÜ§"
    "~abcdefghijklmno"
    "pqrstuvwxyzãõ`üà"
)

#: A.2.1: Turkish single shift table.
TURKISH_SINGLE: dict[int, str] = {
    **DEFAULT_EXTENSION,
    0x47: "Ğ",
    0x49: "İ",
    0x53: "Ş",
    0x63: "ç",
    0x67: "ğ",
    0x69: "ı",
    0x73: "ş",
}

#: A.2.2: Spanish single shift table.
SPANISH_SINGLE: dict[int, str] = {
    **DEFAULT_EXTENSION,
    0x09: "ç",
    0x41: "Á",
    0x49: "Í",
    0x4F: "Ó",
    0x55: "Ú",
    0x61: "á",
    0x69: "í",
    0x6F: "ó",
    0x75: "ú",
}

#: A.2.3: Portuguese single shift table (0x0D is reserved as CR2 and not mapped).
PORTUGUESE_SINGLE: dict[int, str] = {
    **DEFAULT_EXTENSION,
    0x05: "ê",
    0x09: "ç",
    0x0B: "Ô",
    0x0C: "ô",
    0x0E: "Á",
    0x0F: "á",
    0x12: "Φ",
    0x13: "Γ",
    0x15: "Ω",
    0x16: "Π",
    0x17: "Ψ",
    0x18: "Σ",
    0x19: "Θ",
    0x1F: "Ê",
    0x41: "À",
    0x49: "Í",
    0x4F: "Ó",
    0x55: "Ú",
    0x5B: "Ã",
    0x5C: "Õ",
    0x61: "Â",
    0x69: "í",
    0x6F: "ó",
    0x75: "ú",
    0x7B: "ã",
    0x7C: "õ",
    0x7F: "â",
}

#: language code (ISO 639-1) -> (UDH language id, locking table or None, single shift table).
#: Spanish has no locking shift table in TS 23.038 (A.3.2 is not defined), only a single shift.
NATIONAL: dict[str, tuple[int, str | None, dict[int, str]]] = {
    "tr": (1, TURKISH_LOCKING, TURKISH_SINGLE),
    "es": (2, None, SPANISH_SINGLE),
    "pt": (3, PORTUGUESE_LOCKING, PORTUGUESE_SINGLE),
}
