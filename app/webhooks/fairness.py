"""How a worker shares its senders between businesses.

A sender keeps its endpoint for the whole of each request, up to the 15 s
timeout.  Without a bound, one business whose receivers answer slowly could
keep every sender busy while another business's delivery waits.  So, per worker
process, a business holds at most all the senders but one (``most``): a sender
is always left for the others.  And a free sender goes to the business holding
the fewest (``store.due_endpoints`` orders by it): while others wait, a business
that holds a sender does not get another.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Shares:
    """The senders each business holds in this worker."""

    def __init__(self, senders: int) -> None:
        #: Senders one business may hold at once: all but one, so others always get one.
        self.most = max(1, senders - 1)
        self.held: dict[str, int] = {}

    def barred(self) -> list[str]:
        """Businesses not to claim now: those holding their share."""
        return [b for b, n in self.held.items() if n >= self.most]

    def may_take(self, business: str) -> bool:
        """Whether a sender may claim an endpoint of the business now (see `barred`)."""
        return self.held.get(business, 0) < self.most

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
