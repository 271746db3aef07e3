"""How a worker shares its senders between businesses: a share of them, and a rate.

A sender keeps its endpoint for the whole of each request, up to the 15 s
timeout.  Without bounds, one business whose receivers answer slowly, or whose
API key fans a bulk call out to 20 endpoints, could keep every sender busy
while another business's delivery waits.  Two bounds, per worker process:

- *A share of the senders.*  A business holds at most all the senders but one
  (``most``), so a sender is always left for the others.  And a free sender goes
  to the business holding the fewest (``store.due_endpoints`` orders by it): while
  others wait, a business that holds a sender does not get another.
- *A delivery rate.*  Deliveries are work the business's key caused, so each one
  spends a token of the business's bucket (``rate`` a second, bursts of
  ``burst``; 0 turns it off).  A business out of tokens is let go and is not
  claimed again until it has RESUME_S worth of them.  Its deliveries stay
  pending, in order: they are late, never dropped.

Each worker keeps its own counts and buckets (as the API's rate limits do
without a shared store), so N workers give a business N x ``rate``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.http.ratelimit import TokenBuckets

#: A business out of tokens waits for this long's worth of them (up to its burst),
#: so that a throttled business costs a claim per chunk of deliveries, not per delivery.
RESUME_S = 0.25


class Shares:
    """The senders each business holds in this worker, and its delivery budget."""

    def __init__(self, senders: int, rate: float, burst: int) -> None:
        #: Senders one business may hold at once: all but one, so others always get one.
        self.most = max(1, senders - 1)
        self.held: dict[str, int] = {}
        self.budget = TokenBuckets(rate, burst)
        #: Businesses out of tokens, and when they may be claimed again (monotonic).
        self._paused: dict[str, float] = {}

    def barred(self) -> list[str]:
        """Businesses not to claim now: holding their share, or out of tokens."""
        now = time.monotonic()
        for business in [b for b, until in self._paused.items() if until <= now]:
            del self._paused[business]
        return [b for b, n in self.held.items() if n >= self.most] + list(self._paused)

    def may_take(self, business: str) -> bool:
        """Whether a sender may claim an endpoint of the business now (see `barred`)."""
        if self.held.get(business, 0) >= self.most:
            return False
        return self._paused.get(business, 0.0) <= time.monotonic()

    @contextmanager
    def hold(self, business: str) -> Iterator[None]:
        """Count a sender as the business's while the block runs."""
        self.held[business] = self.held.get(business, 0) + 1
        try:
            yield
        finally:
            self.held[business] -= 1
            if not self.held[business]:
                del self.held[business]

    def spend(self, business: str) -> bool:
        """One delivery's token; False (and paused for RESUME_S of tokens) when there is none."""
        wait = self.budget.take(business)
        if wait:
            chunk = max(1.0, min(self.budget.burst, self.budget.rate * RESUME_S))
            self._paused[business] = time.monotonic() + wait + (chunk - 1) / self.budget.rate
        return not wait

    def resumes_in(self) -> float:
        """Seconds until the first paused business may be claimed again (inf: none is)."""
        if not self._paused:
            return float("inf")
        return max(0.0, min(self._paused.values()) - time.monotonic())
