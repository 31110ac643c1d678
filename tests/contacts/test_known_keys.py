"""The import's filter of keys met: never forgets a key, rarely imagines one, backs off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.contacts.known import KnownKeys


@given(st.lists(st.text(min_size=1, max_size=30), max_size=200))
def test_every_added_key_is_found(values: list[str]) -> None:
    # given a small filter (so bits are shared) and keys added in two calls
    known = KnownKeys(bits=1 << 8)
    known.add(values[: len(values) // 2])
    known.add(values[len(values) // 2 :])
    # then each of them is reported as maybe seen: no false negatives, ever
    assert known.may_contain(values).all()


def test_keys_never_added_are_rarely_found() -> None:
    # given the full-size filter holding 100,000 phone numbers
    known = KnownKeys()
    known.add([f"+1415{n:07d}" for n in range(100_000)])
    # then 100,000 other numbers are (almost) all reported as never seen
    others = known.may_contain([f"+4477{n:08d}" for n in range(100_000)])
    assert others.sum() < 10
    assert known.may_contain([]).shape == (0,)


def test_a_failed_plain_copy_waits_twice_as_long_each_time() -> None:
    known = KnownKeys(bits=64)
    # a fresh filter tries every batch
    assert [known.try_plain() for _ in range(3)] == [True, True, True]
    # after a failure it skips one batch, after the next two, then four
    pattern = []
    for _ in range(3):
        known.plain_failed()
        pattern.append([known.try_plain() for _ in range(5)])
    assert pattern == [
        [False, True, True, True, True],
        [False, False, True, True, True],
        [False, False, False, False, True],
    ]
    assert known.failures == 3


def test_the_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        KnownKeys(bits=1000)
