"""Per-API-key rate limit: a token bucket per key, in this process.

Each key may make ``rate`` requests a second on average, and ``burst`` at once.
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

    def take(self, key: str) -> float:
        """Spend one token; 0 when allowed, else seconds until the next token."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever lets more through
        self._buckets[key] = (tokens - 1, now)
        return 0.0


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
