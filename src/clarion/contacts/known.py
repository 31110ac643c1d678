"""The keys an import has already met, so that plainly new people can be COPYed straight in.

On PostgreSQL, a new person is inserted with ``ON CONFLICT DO NOTHING`` from a staging table
(``merge._insert_unless_taken``): the unique indexes decide whether one of its keys is taken.
That speculative insertion costs the server about twice a plain insert (measured on 500,000 new
contacts in batches of 5,000: 14.0 s against 7.0 s of server CPU, with the staging COPY on
top). Most people of a first import are new; the ones that are not are mostly repeats of earlier
rows of the same file, and those the import has seen itself.

:class:`KnownKeys` remembers every key of every record merged so far, in a Bloom filter of fixed
size (8 MiB, so memory stays flat whatever the file): a group none of whose keys it may have
seen is COPYed straight into ``contacts`` inside a savepoint. If a key was stored before the
import began (or by a concurrent writer), the COPY fails as a whole on its unique index, is
rolled back to the savepoint, and the batch takes the ``ON CONFLICT`` way as before. Each
such failure makes the next try wait twice as many batches, so a file of people already stored
costs a handful of wasted COPYs, not one per batch. A false positive of the filter only sends a
new person the ``ON CONFLICT`` way; it never changes an outcome.

The filter is blocked: a key's four bits all lie in one 64-bit word, so testing or adding it
touches one cache line (with four bits spread over 4 MiB, the import spent ~35 ms per batch of
15,000 keys waiting for memory; ``np.bitwise_or.at`` alone was 26 ms). Written here rather than
taken from a library: the Bloom filter packages on PyPI test one key per Python call (a C call
each, or pure Python); this one tests a whole batch at once with NumPy, over Python's own
string hash (SipHash, computed once per string object and cached by it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: Bits in the filter (a power of two): 2**26 bits = 8 MiB. About 0.1% false positives at 3
#: million keys (a million contacts with three keys each), 2% at 6 million, 12% at 12 million;
#: a false positive sends a new person the slower way, with the same outcome.
BITS = 1 << 26


class KnownKeys:
    """A blocked Bloom filter of key values, plus when to try the plain COPY next."""

    def __init__(self, bits: int = BITS) -> None:
        if bits & (bits - 1) or bits < 64:
            raise ValueError(f"bits must be a power of two of at least 64, not {bits}")
        self._words = np.zeros(bits // 64, dtype=np.uint64)
        self._mask = np.uint64(bits // 64 - 1)
        self._wait = 0  # batches to skip before the plain COPY is tried again
        self.failures = 0  # plain COPYs that hit a stored key
        self.copied = 0  # people COPYed the plain way

    def _slots(self, values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return each value's word and its four bits there (from the hash's high bits)."""
        hashes = np.fromiter(map(hash, values), dtype=np.int64, count=len(values))
        h = hashes.view(np.uint64)
        one = np.uint64(1)
        bits = np.zeros(len(values), dtype=np.uint64)
        for shift in (40, 46, 52, 58):
            bits |= one << ((h >> np.uint64(shift)) & np.uint64(63))
        return h & self._mask, bits

    def add(self, values: Iterable[str]) -> None:
        """Remember ``values``."""
        items = list(values)
        if not items:
            return
        where, bits = self._slots(items)
        while True:
            # Where two values share a word, one ``|=`` wins: repeat for the ones it lost.
            self._words[where] |= bits
            lost = (self._words[where] & bits) != bits
            if not lost.any():
                return
            where, bits = where[lost], bits[lost]

    def may_contain(self, values: Sequence[str]) -> np.ndarray:
        """Return, per value, False if it was certainly never added (True: maybe it was)."""
        if not values:
            return np.zeros(0, dtype=bool)
        where, bits = self._slots(values)
        return (self._words[where] & bits) == bits  # type: ignore[no-any-return]

    def try_plain(self) -> bool:
        """Return whether this batch should try the plain COPY (counts the batch)."""
        if self._wait > 0:
            self._wait -= 1
            return False
        return True

    def plain_failed(self) -> None:
        """A plain COPY hit a stored key: wait 1, 2, 4, ... batches before the next try."""
        self._wait = 1 << self.failures
        self.failures += 1
