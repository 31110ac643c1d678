"""SMS encoding: the hard part-count cases, greedy splitting, UDH, packing and look-alikes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.errors import ValidationFailed
from clarion.messages.encoding import (
    GSM7,
    concat_udh,
    count,
    decode,
    decode_septets,
    encode,
    gsm7_pack,
    gsm7_unpack,
    part_udh,
    replace_lookalikes,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 4 emoji + 3 ZWJ

HARD_CASES = [
    # (label, text, encoding, units, parts)
    ("empty", "", "gsm7", 0, 1),
    ("160 ASCII fits one part", "a" * 160, "gsm7", 160, 1),
    ("161 ASCII needs two", "a" * 161, "gsm7", 161, 2),
    ("306 ASCII is two full parts", "a" * 306, "gsm7", 306, 2),
    ("307 ASCII needs three", "a" * 307, "gsm7", 307, 3),
    ("euro costs two septets", "€" * 80, "gsm7", 160, 1),
    ("euro at the end: 306 septets in 2", "a" * 304 + "€", "gsm7", 306, 2),
    ("euro at the end: 307 septets in 3", "a" * 305 + "€", "gsm7", 307, 3),
    (
        "152 a + euro + 152 a is 306 septets yet 3 parts",
        "a" * 152 + "€" + "a" * 152,
        "gsm7",
        306,
        3,
    ),
    ("159 a + euro overflows one part", "a" * 159 + "€", "gsm7", 161, 2),
    ("all extension characters", "^{}\\[~]|€\f", "gsm7", 20, 1),
    ("Chinese 70", "中" * 70, "ucs2", 70, 1),
    ("Chinese 71", "中" * 71, "ucs2", 71, 2),
    ("Chinese 134", "中" * 134, "ucs2", 134, 2),
    ("Chinese 135", "中" * 135, "ucs2", 135, 3),
    ("one lowercase c-cedilla forces UCS-2", "a" * 70 + "ç", "ucs2", 71, 2),
    ("35 emoji are 70 units", "\U0001f600" * 35, "ucs2", 70, 1),
    ("36 emoji are 72 units", "\U0001f600" * 36, "ucs2", 72, 2),
    (
        "a surrogate pair is never split: 134 units, 3 parts",
        "ab" + "\U0001f600" * 66,
        "ucs2",
        134,
        3,
    ),
    ("odd offset keeps pairs whole: 133 units, 2 parts", "a" + "\U0001f600" * 66, "ucs2", 133, 2),
    ("ZWJ family costs the sum of its parts", FAMILY, "ucs2", 11, 1),
    ("ZWJ family 7 times is 77 units", FAMILY * 7, "ucs2", 77, 2),
    ("flag is two regional indicators", "\U0001f1e8\U0001f1f3", "ucs2", 4, 1),
    ("backtick forces UCS-2", "`", "ucs2", 1, 1),
]


@pytest.mark.parametrize(
    ("label", "text", "encoding", "units", "parts"), HARD_CASES, ids=[c[0] for c in HARD_CASES]
)
def test_hard_cases(label: str, text: str, encoding: str, units: int, parts: int) -> None:
    # when the text is encoded and counted
    enc = encode(text)
    # then both agree on the exact figures
    assert (enc.encoding, enc.units, enc.parts) == (encoding, units, parts)
    assert count(text) == (encoding, units, parts)
    assert len(enc.segments) == parts
    assert enc.data_coding == (0 if encoding == "gsm7" else 8)


def test_sixteen_bit_references_leave_152_and_66_per_part() -> None:
    # given texts exactly filling two parts with an 8-bit reference
    # then with a 16-bit reference they need three
    assert encode("a" * 306, ref_bits=16).parts == 3
    assert [len(s) for s in encode("a" * 304, ref_bits=16).segments] == [152, 152]
    assert encode("中" * 132, ref_bits=16).parts == 2
    assert encode("中" * 133, ref_bits=16).parts == 3


def test_ucs2_reports_the_characters_that_forced_it_in_order() -> None:
    enc = encode("Hi ç and “quotes” and ç again 中")
    assert enc.ucs2_forced_by == ["ç", "“", "”", "中"]


def test_gsm_payload_is_unpacked_septets_with_escapes() -> None:
    enc = encode("@a€[")
    assert enc.segments == [b"\x00a\x1b\x65\x1b\x3c"]
    assert decode(enc.segments[0], 0) == "@a€["


def test_raw_escape_and_too_many_parts_are_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        encode("a\x1bb")
    assert err.value.fields == {"field": "text", "value": 1}
    with pytest.raises(ValidationFailed, match="256 parts"):
        encode("a" * (153 * 255 + 1))
    with pytest.raises(ValidationFailed, match="256 parts"):
        count("€" + "a" * (153 * 255))
    assert encode("a" * (153 * 255)).parts == 255
    assert count("a" * (153 * 255)) == ("gsm7", 153 * 255, 255)


def test_concatenation_udh_bytes() -> None:
    assert concat_udh(0x42, 3, 1) == bytes.fromhex("050003420301")
    assert concat_udh(0x1234, 3, 2, ref_bits=16) == bytes.fromhex("06080412340302")
    assert concat_udh(0x1FF, 2, 2) == bytes.fromhex("050003ff0202")  # 8-bit ref wraps
    with pytest.raises(ValidationFailed):
        concat_udh(1, 2, 3)


def test_part_udh_combines_concatenation_and_shift_ies() -> None:
    # given a Spanish text long enough for two parts with the single shift table
    enc = encode("á" + "a" * 200, national_shift="es")
    assert enc.encoding == "gsm7-es" and enc.udh_shift == bytes.fromhex("240102")
    # (UDHL + concatenation IE + shift IE = 9 octets, leaving 149 septets per part)
    assert [len(s) for s in enc.segments] == [149, 53]
    # then each part's UDH holds both IEs, UDHL first
    assert part_udh(enc, 7, 2) == bytes.fromhex("08" + "0003070202" + "240102")
    # and a single-part plain message needs no UDH at all
    assert part_udh(encode("hi"), 7, 1) == b""
    assert part_udh(encode("á", national_shift="es"), 7, 1) == bytes.fromhex("03240102")


@pytest.mark.parametrize(
    ("septets", "fill", "packed"),
    [
        (b"hellohello", 0, "e8329bfd4697d9ec37"),
        (b"a", 0, "61"),
        (b"", 0, ""),
        (b"Hello", 0, "c8329bfd06"),
        # after a 6-octet UDH (48 bits) one fill bit aligns the text to a septet boundary
        (b"Hello", 1, "906536fb0d"),
    ],
)
def test_gsm7_packing_known_vectors(septets: bytes, fill: int, packed: str) -> None:
    assert gsm7_pack(septets, fill_bits=fill).hex() == packed
    assert gsm7_unpack(bytes.fromhex(packed), len(septets), fill_bits=fill) == septets


def test_lookalike_replacement_reports_what_changed() -> None:
    # given text that is UCS-2 only because of typography
    text = "“Sale” – it’s 50%\u00a0off…"
    assert encode(text).encoding == "ucs2"
    # when look-alikes may be replaced
    enc = encode(text, replace_lookalikes=True)
    # then it is GSM-7 and the report lists each change once
    assert enc.encoding == "gsm7"
    assert enc.text == '"Sale" - it\'s 50% off...'
    assert enc.replaced == [
        ("“", '"'),
        ("”", '"'),
        ("–", "-"),
        ("’", "'"),
        ("\u00a0", " "),
        ("…", "..."),
    ]


def test_lookalikes_are_kept_when_replacing_would_not_avoid_ucs2() -> None:
    enc = encode("“你好”", replace_lookalikes=True)
    assert enc.encoding == "ucs2" and enc.replaced == [] and enc.text == "“你好”"


def test_combining_accents_are_composed() -> None:
    text, changes = replace_lookalikes("cafe\u0301")
    assert text == "café" and changes == [("e\u0301", "é")]
    assert encode("cafe\u0301", replace_lookalikes=True).encoding == "gsm7"


@pytest.mark.parametrize(
    ("lang", "text", "units", "shift_ies"),
    [
        # Turkish locking shift: Ş İ ğ ı ş are single septets there (the single shift table
        # alone would cost 25 septets), so the locking table (IEI 0x25) wins.
        ("tr", "Şimdi İndirim: ğ ı ş", 20, "250101"),
        # Spanish has only a single shift table: ó í á í ç cost two septets each.
        ("es", "¡Atención! Envío rápido, ¿sí? ç", 36, "240102"),
        # Portuguese locking shift: ç ã ê á à are all single septets.
        ("pt", "Promoção: não perca! Você está à vista", 38, "250103"),
    ],
)
def test_national_shift_tables_keep_languages_in_gsm7(
    lang: str, text: str, units: int, shift_ies: str
) -> None:
    # given text the default alphabet cannot carry
    assert encode(text).encoding == "ucs2"
    # when the route allows the language's shift tables
    enc = encode(text, national_shift=lang)
    # then it stays GSM-7 and decodes back to the same text
    assert enc.encoding == f"gsm7-{lang}" and enc.data_coding == 0
    assert enc.units == units and enc.udh_shift.hex() == shift_ies
    udh = part_udh(enc, 1, 1)
    assert decode_septets(b"".join(enc.segments), national_shift=lang, udh=udh) == text


def test_national_shift_is_only_used_when_needed_and_unknown_ones_refused() -> None:
    assert encode("plain", national_shift="tr").encoding == "gsm7"
    assert encode("中文", national_shift="tr").encoding == "ucs2"
    with pytest.raises(ValidationFailed) as err:
        encode("x", national_shift="xx")
    assert err.value.fields["field"] == "national_shift"


# --- properties -----------------------------------------------------------------------------

_GSM_CHARS = sorted(GSM7.chars)
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(_GSM_CHARS),
        st.sampled_from("€[]{}^~|\\"),
        st.sampled_from("中😀é’\u200d\U0001f468"),
    ),
    max_size=700,
)
_GSM_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(_GSM_CHARS), st.sampled_from("€[]{}")), max_size=700
)


def _greedy_parts(costs: list[int], single: int, per_part: int) -> int:
    """Reference: pack characters one by one, never splitting one character's units."""
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for c in costs:
        if used + c > per_part:
            parts, used = parts + 1, 0
        used += c
    return parts


def _assert_consistent(text: str, ref_bits: int) -> None:
    enc = encode(text, ref_bits=ref_bits)
    concat = 153 if ref_bits == 8 else 152
    if enc.encoding == "gsm7":
        limit = 160 if enc.parts == 1 else concat
        assert all(len(s) <= limit for s in enc.segments)
        assert all(not s.endswith(b"\x1b") for s in enc.segments)  # no escape split
        assert "".join(decode(s, 0) for s in enc.segments) == text
        costs = [2 if ch in GSM7.extension else 1 for ch in text]
        assert enc.parts == _greedy_parts(costs, 160, concat)
    else:
        limit = 70 if enc.parts == 1 else concat - 86
        assert all(len(s) <= 2 * limit for s in enc.segments)
        # each segment decodes on its own: no surrogate pair was split
        assert "".join(s.decode("utf-16-be") for s in enc.segments) == text
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        assert enc.parts == _greedy_parts(costs, 70, concat - 86)
    assert sum(costs) == enc.units
    if ref_bits == 8:
        assert count(text) == (enc.encoding, enc.units, enc.parts)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, ref_bits=st.sampled_from([8, 16]))
def test_property_segments_rejoin_fit_and_are_greedy_minimal(text: str, ref_bits: int) -> None:
    _assert_consistent(text, ref_bits)


@settings(max_examples=300, deadline=None)
@given(text=_GSM_TEXT, ref_bits=st.sampled_from([8, 16]))
def test_property_gsm_text_never_splits_an_escape(text: str, ref_bits: int) -> None:
    _assert_consistent(text, ref_bits)


@settings(max_examples=200, deadline=None)
@given(septets=st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)))
def test_property_pack_unpack_round_trip(septets: bytes) -> None:
    for fill in (0, 1, 6):
        assert gsm7_unpack(gsm7_pack(septets, fill_bits=fill), len(septets), fill_bits=fill) == (
            septets
        )
