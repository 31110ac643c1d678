"""The GSM 03.38 tables: ours agree with gsmcodecs, and the ten Indian languages stay GSM-7."""

from __future__ import annotations

import codecs
from collections import Counter

import gsmcodecs  # noqa: F401  (registers the gsm23.038-L-S codecs used as the reference)
import pytest
from gsmcodecs.charmaps import GSMCHARMAPS

from clarion.messages.encoding import decode_septets, encode, part_udh
from clarion.messages.gsm_tables import (
    DEFAULT_BASIC,
    DEFAULT_EXTENSION,
    ESC,
    INDIAN,
    NATIONAL,
    UNUSED,
)


def _reference(lang_id: int) -> tuple[dict[int, str], dict[int, str]]:
    """Return gsmcodecs' locking and single shift tables as {code: char}, without the escape."""
    maps = GSMCHARMAPS[lang_id]
    lock = maps.get("locking", GSMCHARMAPS[0]["locking"])["decode"]
    single = maps["singleShift"]["decode"]
    return (
        {c: chr(v) for c, v in lock.items() if c != ESC},
        {c: chr(v) for c, v in single.items() if c != ESC},
    )


def _ours(basic: str | None, single: dict[int, str]) -> tuple[dict[int, str], dict[int, str]]:
    table = basic if basic is not None else DEFAULT_BASIC
    lock = {c: ch for c, ch in enumerate(table) if c != ESC and ch != UNUSED}
    return lock, dict(single)


@pytest.mark.parametrize("lang", ["default", "tr", "es", "pt"])
def test_the_hand_written_tables_agree_with_gsmcodecs(lang: str) -> None:
    # given our own transcription of the default, Turkish, Spanish and Portuguese tables
    if lang == "default":
        ours, ref = _ours(DEFAULT_BASIC, DEFAULT_EXTENSION), _reference(0)
    else:
        lang_id, basic, single = NATIONAL[lang]
        ours, ref = _ours(basic, single), _reference(lang_id)
    # then every code maps to the same character in both
    assert ours == ref


@pytest.mark.parametrize("lang", sorted(k for k, v in NATIONAL.items() if v[1] is not None))
def test_every_locking_table_gives_each_character_one_code(lang: str) -> None:
    # a character at two codes means another one lost its code (a transcription slip)
    _, basic, _ = NATIONAL[lang]
    assert basic is not None
    counts = Counter(ch for c, ch in enumerate(basic) if c != ESC and ch != UNUSED)
    assert [ch for ch, n in counts.items() if n > 1] == []


SAMPLES = {
    "bn": "আপনার অর্ডার পাঠানো হয়েছে, ধন্যবাদ",
    "gu": "તમારો ઓર્ડર મોકલવામાં આવ્યો છે, આભાર",
    "hi": "आपका ऑर्डर भेज दिया गया है, धन्यवाद।",
    "kn": "ನಿಮ್ಮ ಆರ್ಡರ್ ಕಳುಹಿಸಲಾಗಿದೆ, ಧನ್ಯವಾದ",
    "ml": "നിങ്ങളുടെ ഓർഡർ അയച്ചു, നന്ദി",
    "or": "ଆପଣଙ୍କ ଅର୍ଡର ପଠାଯାଇଛି, ଧନ୍ୟବାଦ",
    "pa": "ਤੁਹਾਡਾ ਆਰਡਰ ਭੇਜ ਦਿੱਤਾ ਗਿਆ ਹੈ, ਧੰਨਵਾਦ",
    "ta": "உங்கள் ஆர்டர் அனுப்பப்பட்டது, நன்றி",
    "te": "మీ ఆర్డర్ పంపబడింది, ధన్యవాదాలు",
    "ur": "آپ کا آرڈر بھیج دیا گیا ہے، شکریہ",
}


@pytest.mark.parametrize("lang", sorted(INDIAN))
def test_indian_languages_stay_gsm7_with_their_shift_tables(lang: str) -> None:
    text = SAMPLES[lang]
    # given an order confirmation the default alphabet cannot carry
    assert encode(text).encoding == "ucs2"
    # when the route allows the language's national shift tables
    enc = encode(text, national_shift=lang)
    # then it is GSM-7 with the language's IEs (locking 0x25, maybe single 0x24), one septet
    # per letter, and it decodes back to the same text
    assert (enc.encoding, enc.data_coding, enc.parts) == (f"gsm7-{lang}", 0, 1)
    assert enc.udh_shift[:3] == bytes([0x25, 1, INDIAN[lang]])
    assert enc.units <= len(text) + text.count("।") + 2
    udh = part_udh(enc, 1, 1)
    assert decode_septets(b"".join(enc.segments), national_shift=lang, udh=udh) == text
    # and gsmcodecs, read independently, decodes the same septets to the same text (but for
    # the two code points its tables have wrong: see gsm_tables.LOCKING_ERRATA)
    single_id = INDIAN[lang] if len(enc.udh_shift) == 6 else 0
    codec = f"gsm23.038-{INDIAN[lang]}-{single_id}"
    theirs = codecs.decode(b"".join(enc.segments), codec)
    fixed = {"'": ",", "\u0caa": "\u0ca1"} if lang == "kn" else {"'": ","}
    mended = "".join(a if a == b else fixed.get(a, a) for a, b in zip(theirs, text, strict=True))
    assert mended == text


def test_hindi_part_boundaries_count_both_shift_ies() -> None:
    # given Hindi that needs the locking table and one single shift character (danda)
    # then one part holds 152 septets (UDH 7 octets = 8 septets) and 153 need two
    one = encode("क" * 150 + "।", national_shift="hi")
    two = encode("क" * 151 + "।", national_shift="hi")
    assert (one.units, one.parts, one.udh_shift.hex()) == (152, 1, "250106240106")
    assert (two.units, two.parts) == (153, 2)
    # and with the locking table alone (5-septet UDH) 155 fit in one part, 156 do not
    assert encode("क" * 155, national_shift="hi").parts == 1
    assert encode("क" * 156, national_shift="hi").parts == 2
