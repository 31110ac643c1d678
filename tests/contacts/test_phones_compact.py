"""The separator shortcut of ``phone_facts`` reads every written number as the regexes do.

Numbers made only of digits, ``+`` and ASCII separators skip the extension, letter and
separator regular expressions (``str.translate`` deletes the separators); anything else goes
through them. Either way the answer must be the one the regular expressions and the library give.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarion.contacts import phones
from clarion.contacts.phones import PhoneError

# Digits, separators (ASCII and Unicode spaces), extension markers, letters, other digits.
ALPHABET = "0123456789+ \t()-./ x#e\u00a0\u2003\u0663\u00b2Ab"
SAMPLES = ["+44 7712 345678", "0086 138 0013 8000", "(650) 253-0000", "0151/23456789"]


def _by_the_regexes(raw: str, region: str | None) -> phones.Facts | PhoneError:
    """What ``phone_facts`` answered before the shortcut: regexes first, then the library."""
    text = raw.strip()
    if not text:
        return PhoneError(raw, "empty", "no number given")
    bare = phones._EXTENSION.sub("", text)
    if phones._LETTERS.search(bare):
        return PhoneError(raw, "letters", "contains letters")
    compact = phones._SEPARATORS.sub("", bare)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+") and not region:
        return PhoneError(raw, "no_region", "a national number needs a country to be read in")
    got = phones._parse_slow(raw, compact, region)
    if isinstance(got, PhoneError):
        return got
    return (got.e164, got.type, got.region, got.carrier, got.timezone)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(ALPHABET, max_size=22),
        st.builds(
            lambda s, at, junk: s[:at] + junk + s[at:],
            st.sampled_from(SAMPLES),
            st.integers(0, 16),
            st.text(ALPHABET, max_size=3),
        ),
    ),
    st.sampled_from(["US", "GB", "DE", "CN", None]),
)
def test_the_shortcut_gives_what_the_regexes_give(raw: str, region: str | None) -> None:
    # given any written number, tidy or not
    # when it is read with the shortcut (nothing memoised)
    phones.clear_caches()
    got = phones.phone_facts(raw, region)
    # then the answer is the regexes' and the library's
    assert got == _by_the_regexes(raw, region), (raw, region)
