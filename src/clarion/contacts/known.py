"""The keys an import has already met, so that plainly new people can be COPYed straight in.

On PostgreSQL, a new person is inserted with ``ON CONFLICT DO NOTHING`` from a staging table
(``merge._insert_unless_taken``): the unique indexes decide whether one of its keys is taken.
That speculative insertion costs the server about twice a plain insert (measured on 500,000 new
contacts in batches of 5,000: 14.0 s against 7.0 s of server CPU, with the staging COPY on
top). Most people of a first import are new; the ones that are not are mostly repeats of earlier
rows of the same file, and those the import has seen itself.

:class:`KnownKeys` remembers every key of every record merged so far, in a Bloom filter of fixed
size (4 MiB, so memory stays flat whatever the file): a group none of whose keys it may have
seen is COPYed straight into ``contacts`` inside a savepoint. If a key was stored before the
import began (or by a concurrent writer), the COPY fails as a whole on its unique index, is
rolled back to the savepoint, and the batch takes the ``ON CONFLICT`` way as before. Each
such failure makes the next try wait twice as many batches, so a file of people already stored
costs a handful of wasted COPYs, not one per batch. A false positive of the filter only sends a
new person the ``ON CONFLICT`` way; it never changes an outcome.

Written here rather than taken from a library: the Bloom filter packages on PyPI test one key
per Python call (a C call each, or pure Python); this one tests a whole batch at once with
NumPy, over Python's own string hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: Bits in the filter (a power of two): 2**25 bits = 4 MiB. With 4 probes per key, about 1%
#: false positives at 3 million keys (a million contacts with three keys each), 8% at 6
#: million; beyond, more new people go the slower way, with the same outcome.
BITS = 1 << 25
PROBES = 4


class KnownKeys:
    """A Bloom filter of key values, plus when to try the plain COPY next."""

    def __init__(self, bits: int = BITS) -> None:
        if bits & (bits - 1) or bits < 64:
            raise ValueError(f"bits must be a power of two of at least 64, not {bits}")
        self._mask = np.uint64(bits - 1)
        self._bytes = np.zeros(bits // 8, dtype=np.uint8)
        self._wait = 0  # batches to skip before the plain COPY is tried again
        self.failures = 0  # plain COPYs that hit a stored key
        self.copied = 0  # people COPYed the plain way

    def _positions(self, values: Sequence[str]) -> np.ndarray:
        """Return the bit positions of ``values``, one row of PROBES per value."""
        hashes = np.fromiter((hash(v) for v in values), dtype=np.int64, count=len(values))
        h = hashes.view(np.uint64)
        low = h & np.uint64(0xFFFFFFFF)
        step = (h >> np.uint64(32)) | np.uint64(1)
        probes = np.arange(PROBES, dtype=np.uint64)
        return (low[:, None] + step[:, None] * probes[None, :]) & self._mask

    def add(self, values: Iterable[str]) -> None:
        """Remember ``values``."""
        items = list(values)
        if not items:
            return
        pos = self._positions(items).ravel()
        bit = np.left_shift(np.uint8(1), (pos & np.uint64(7)).astype(np.uint8))
        np.bitwise_or.at(self._bytes, pos >> np.uint64(3), bit)

    def may_contain(self, values: Sequence[str]) -> np.ndarray:
        """Return, per value, False if it was certainly never added (True: maybe it was)."""
        if not values:
            return np.zeros(0, dtype=bool)
        pos = self._positions(values)
        bits = (self._bytes[pos >> np.uint64(3)] >> (pos & np.uint64(7)).astype(np.uint8)) & 1
        return bits.all(axis=1)  # type: ignore[no-any-return]

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
