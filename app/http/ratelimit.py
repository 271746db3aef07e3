"""Per-API-key rate limit: a token bucket per key, in this process.

Each key may make ``rate`` requests a second on average, and ``burst`` at once.
A request pays one token at the door; after it is answered it also pays for the
work it caused (``charge``: rows read and values decrypted, app.meter), which may
leave the bucket in debt, down to ``-burst``: a key whose requests walk a whole
business waits up to 2 x burst / rate seconds before its next one.
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

    def charge(self, key: str, cost: float) -> None:
        """Spend `cost` more tokens for work already done (debt down to -burst)."""
        if not self.enabled or cost <= 0 or key not in self._buckets:
            return
        now = time.monotonic()
        self._buckets[key] = (max(-float(self.burst), self._refilled(key, now) - cost), now)


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
