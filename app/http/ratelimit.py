"""Per-API-key rate limit: a token bucket per key, in this process.

Each key may make ``rate`` requests a second on average, and ``burst`` at once.
A request pays one token at the door.  Work whose size is known before it starts
(a bulk find-or-create's rows) is paid for when it is admitted (``pay``): a key
that owes nothing may start it, and goes into debt for all of it at once, so
twenty such calls at once cost as much as twenty in turn.  After a request is
answered it also pays for the work it caused (``charge``: rows read and values
decrypted, app.meter).  Debt is never capped: a key waits until it has paid for
everything it was served, however much that was.
With several workers each keeps its own buckets, so the effective limit is
workers x rate (documented in the README); a shared store would be needed to
hold one limit across hosts.
"""

from __future__ import annotations

import math
import time


class TokenBuckets:
    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _refilled(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def take(self, key: str) -> float:
        """Spend one token; 0 when allowed, else seconds until the next token."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        tokens = self._refilled(key, now)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever lets more through
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def exhausted(self, key: str) -> bool:
        """Whether `key` has no whole token left (nothing is spent)."""
        return self.enabled and self._refilled(key, time.monotonic()) < 1

    def pay(self, key: str, cost: float) -> float:
        """Spend `cost` tokens for work about to start; 0 when allowed, else seconds to wait.

        Allowed while the key owes nothing (a call may be larger than the burst,
        so asking for all of it in hand would refuse it forever); the debt it
        leaves is repaid before the key's next request.
        """
        if not self.enabled or cost <= 0:
            return 0.0
        now = time.monotonic()
        tokens = self._refilled(key, now)
        if tokens < 0:
            return -tokens / self.rate
        self._buckets[key] = (tokens - cost, now)
        return 0.0

    def charge(self, key: str, cost: float) -> None:
        """Spend `cost` more tokens for work already done (the debt is not capped)."""
        if not self.enabled or cost <= 0 or key not in self._buckets:
            return
        now = time.monotonic()
        self._buckets[key] = (self._refilled(key, now) - cost, now)


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
