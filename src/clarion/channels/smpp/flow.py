"""Flow control of a connector: its throughput limit, adaptive slowdown, latency record.

An SMSC that answers ESME_RTHROTTLED is telling us its real rate, which may be below the one
configured. Retrying each refused message after its own backoff is not enough: when the
backoffs end, everything bursts again and is throttled again. So the limiter also learns: on
throttling it drops to 70% of the rate the SMSC has been accepting, then grows back by about
20% per second of acceptance (additive increase, multiplicative decrease), never above the
configured limit. A message waits for its window slot first and for the rate second, so
messages queued for a slot cannot slip past a rate learnt while they waited.
"""

from __future__ import annotations

import array
import asyncio
import time
from collections import deque


def expire(waiter: asyncio.Future[None]) -> None:
    """Fail ``waiter`` with TimeoutError (a cheap timer callback, no task per wait)."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class RateLimiter:
    """Space sends to the configured rate, or to the learnt one when the SMSC throttles."""

    def __init__(self, rate: float) -> None:
        self.configured = rate
        self.learnt = 0.0  # 0: nothing learnt, the configured rate (if any) applies
        self.interval = 0.0
        self.burst = 0.0
        self._next = 0.0
        self.hold_until = 0.0
        self._accepts: deque[float] = deque(maxlen=256)
        self._last_cut = 0.0
        self._set_interval()

    @property
    def rate(self) -> float:
        """Return the rate in force (messages per second; 0 means none)."""
        if self.learnt and self.configured:
            return min(self.learnt, self.configured)
        return self.learnt or self.configured

    def _set_interval(self) -> None:
        rate = self.rate
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.burst = self.interval * max(1.0, rate * 0.02)  # ~20 ms of sends at once

    def must_wait(self) -> bool:
        """Return whether ``acquire`` may have to wait (False: skip the call entirely)."""
        return bool(self.interval) or self.hold_until > time.monotonic()

    async def acquire(self) -> None:
        """Wait until one more send fits within the rate."""
        now = time.monotonic()
        if now < self.hold_until:
            await asyncio.sleep(self.hold_until - now)
            now = time.monotonic()
        if not self.interval:
            return
        slot = max(self._next, now - self.burst)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def accepted(self) -> None:
        """Record an accepted submit; let a learnt rate grow back."""
        self._accepts.append(time.monotonic())
        if self.learnt:
            self.learnt *= 1.0 + 0.2 / max(self.learnt, 1.0)
            if (self.configured and self.learnt > self.configured * 1.5) or self.learnt > 1e6:
                self.learnt = 0.0
            self._set_interval()

    def throttled(self, pause: float) -> None:
        """The SMSC refused for rate: pause everyone and slow to what it was accepting."""
        now = time.monotonic()
        self.hold_until = max(self.hold_until, now + pause)
        if now - self._last_cut < 0.2:  # one cut per burst of refusals
            return
        self._last_cut = now
        accepts = self._accepts
        observed = 0.0
        if len(accepts) >= 2:
            # Over less than 0.1 s a count says little about a rate: assume 0.1 s.
            observed = len(accepts) / max(now - accepts[0], 0.1)
        current = self.rate or observed or 10.0
        base = min(observed, current) if observed else current
        self.learnt = max(1.0, base * 0.7)
        self._next = max(self._next, self.hold_until)
        self._set_interval()


class Latencies:
    """The last ``size`` submit-to-response times, in a fixed buffer (flat memory)."""

    def __init__(self, size: int = 65536) -> None:
        self._buf = array.array("d", bytes(8 * size))
        self._size = size
        self._n = 0

    def add(self, seconds: float) -> None:
        """Record one latency."""
        self._buf[self._n % self._size] = seconds
        self._n += 1

    def percentile(self, q: float) -> float | None:
        """Return the q-th percentile (0..100) of the recorded latencies, in seconds."""
        count = min(self._n, self._size)
        if not count:
            return None
        values = sorted(self._buf[:count])
        return values[min(int(q / 100 * count), count - 1)]
