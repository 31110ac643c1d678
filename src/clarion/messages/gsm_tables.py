"""GSM 03.38 alphabets as data (3GPP TS 23.038 section 6.2.1 and annex A).

Each table is written the way the standard prints it: a 128-position string for a (locking shift)
basic table, with position 0x1B (the escape to the extension table) marked by ``\\x1b``, and a
``{code: character}`` mapping for a (single shift) extension table. Language identifiers are the
ones the UDH national language IEs carry (annex A): 1 Turkish, 2 Spanish, 3 Portuguese, and
4-13 the ten Indian languages.

The default, Turkish, Spanish and Portuguese tables are small and written out here. The ten Indian
tables (A.2.4-A.3.13, about 2,000 entries of Indic code points) come from ``gsmcodecs``, a
maintained transcription of TS 23.038 release 18: typing them again by hand would only add
mistakes. ``tests/messages/test_gsm_tables.py`` checks our own tables against it as well.
"""

from __future__ import annotations

from gsmcodecs.charmaps import GSMCHARMAPS

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

#: Code positions a table leaves undefined, in a 128-position locking table string.
UNUSED = "\ufffe"

#: ISO 639-1 code -> UDH language id of the Indian national language tables (annex A).
INDIAN = {
    "bn": 4,  # Bengali
    "gu": 5,  # Gujarati
    "hi": 6,  # Hindi
    "kn": 7,  # Kannada
    "ml": 8,  # Malayalam
    "or": 9,  # Oriya
    "pa": 10,  # Punjabi
    "ta": 11,  # Tamil
    "te": 12,  # Telugu
    "ur": 13,  # Urdu
}


#: (language id, code) -> (what gsmcodecs 1.0 has, what TS 23.038 has), for locking tables.
#: Each entry leaves a character of the script with no code at all (found by the test that
#: every table maps distinct characters): an apostrophe at 0x2C, which the single shift
#: table already has at 0x09, where every Indian table has the comma (as Turkish and
#: Portuguese do); and Kannada 0x24 read as PA (U+0CAA, also at 0x3D) where the table has
#: DDA (U+0CA1), the letter at 0x24 of every other Indic table.
LOCKING_ERRATA: dict[tuple[int, int], tuple[int, int]] = {
    **{(lid, 0x2C): (ord("'"), ord(",")) for lid in INDIAN.values()},
    (7, 0x24): (0x0CAA, 0x0CA1),
}


def tables_from_gsmcodecs(lang_id: int) -> tuple[str | None, dict[int, str]]:
    """Return (locking table string or None, single shift table) of a language id.

    ``gsmcodecs`` gives decode maps (septet -> code point) and renders the escape (0x1B) as a
    space; here 0x1B is the escape, as everywhere in this module, and gaps are :data:`UNUSED`.
    """
    maps = GSMCHARMAPS[lang_id]
    locking: str | None = None
    if "locking" in maps:
        dec = dict(maps["locking"]["decode"])
        for (lid, code), (wrong, right) in LOCKING_ERRATA.items():
            if lid == lang_id and dec.get(code) == wrong:
                dec[code] = right
        locking = "".join(
            "\x1b" if code == ESC else chr(dec[code]) if code in dec else UNUSED
            for code in range(128)
        )
    single = {code: chr(cp) for code, cp in maps["singleShift"]["decode"].items() if code != ESC}
    return locking, single


NATIONAL.update(
    {lang: (lang_id, *tables_from_gsmcodecs(lang_id)) for lang, lang_id in INDIAN.items()}
)
