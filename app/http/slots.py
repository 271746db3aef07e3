"""Per-business admission slots: a few requests of one business in flight per process.

One process is one event loop and one pool of database connections, shared by
every business.  A business that keeps many expensive requests in flight would
hold both, and every other business would wait behind it.  So each business
may have at most ``in_flight`` requests running in this process; more wait in
a bounded queue (first come, first served) for at most ``wait_s`` seconds; a
request that finds the queue full, or waits too long, gets HTTP 429
RATE_LIMITED with ``Retry-After: 1``.

The cap is for sharing, so a business alone in the process may borrow more:
while no other business has had a request in the last ``LONE_S`` seconds, or
has one running, up to ``LONE_TIMES * in_flight`` requests run.  A lone
frontend's small reads then keep enough queries out at once for the loop and
the database to serve several per turn (4 at a time cost a fifth more CPU per
`customer(id)`: README, "Where a request's time goes").  The moment another
business arrives, the lone one is back to ``in_flight``: its new requests wait
until it runs fewer than that, so only the newcomer's first requests find the
borrowed ones ahead of them, once, and a business that keeps sending (even one
request every second) never does.

``BusinessSlots`` are this process's slots: with N workers and no shared store,
a business may have N x in_flight requests running.  With FINORA_REDIS_URL the
same rules hold across every worker and host (app.shared.door), and these are
what a process falls back to while Redis does not answer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

#: A business alone in the process may run this many times ``in_flight``.
LONE_TIMES = 4
#: Seconds since another business's last request before a business counts as alone.
LONE_S = 2.0


class _Line:
    """The requests of one business waiting for a slot, oldest first, and its one timer.

    Every ticket waits the same ``wait_s``, so deadlines grow along the line and a
    single timer, set for the oldest ticket, is enough: a busy business's requests
    queue without a timer each (a heap entry made and cancelled per request).
    """

    __slots__ = ("tickets", "timer")

    def __init__(self) -> None:
        self.tickets: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self.timer: asyncio.TimerHandle | None = None


class BusinessSlots:
    """The requests each business has running, and those waiting for a slot."""

    def __init__(
        self, in_flight: int, queue: int, wait_s: float, *, lone_times: int = LONE_TIMES
    ) -> None:
        self.in_flight = in_flight
        self.lone_in_flight = in_flight * lone_times
        self.queue = queue
        self.wait_s = wait_s
        self._running: dict[str, int] = {}
        self._waiting: dict[str, _Line] = {}
        # The business of the latest request and its time, and the latest time of a
        # request of any other business: enough to tell whether a business is alone.
        self._latest: tuple[str, float] = ("", -math.inf)
        self._before_latest = -math.inf

    @property
    def enabled(self) -> bool:
        return self.in_flight > 0

    def running(self, business_id: str) -> int:
        return self._running.get(business_id, 0)

    def _arrived(self, business_id: str, now: float) -> None:
        latest, at = self._latest
        if latest != business_id:
            self._before_latest = at
        self._latest = (business_id, now)

    def allowed(self, business_id: str, now: float | None = None) -> int:
        """Requests the business may have running now: more while it is alone."""
        running = self._running
        if len(running) > 1 or (running and business_id not in running):
            return self.in_flight  # another business has a request running
        latest, at = self._latest
        other = self._before_latest if latest == business_id else at
        now = time.monotonic() if now is None else now
        return self.lone_in_flight if now - other > LONE_S else self.in_flight

    def waiting(self, business_id: str) -> int:
        line = self._waiting.get(business_id)
        return len(line.tickets) if line else 0

    async def enter(self, business_id: str) -> bool:
        """Take a slot, waiting in line if need be; False when refused."""
        if not self.enabled:
            return True
        now = time.monotonic()
        self._arrived(business_id, now)
        running = self._running.get(business_id, 0)
        if running < self.allowed(business_id, now) and business_id not in self._waiting:
            self._running[business_id] = running + 1
            return True
        line = self._waiting.get(business_id)
        if line is None:
            line = self._waiting[business_id] = _Line()
        elif len(line.tickets) >= self.queue:
            return False
        loop = asyncio.get_running_loop()
        ticket: asyncio.Future[bool] = loop.create_future()
        deadline = loop.time() + self.wait_s
        line.tickets.append((deadline, ticket))
        if line.timer is None:
            line.timer = loop.call_at(deadline, self._expire, business_id)
        try:
            return await ticket  # True: handed a slot; False: waited too long
        except BaseException:
            if ticket.done() and not ticket.cancelled() and ticket.result():
                self.leave(business_id)  # handed a slot just as we gave up: pass it on
            else:
                self._forget(business_id, ticket)
            raise

    def leave(self, business_id: str) -> None:
        """Free a slot, and give as many as the business may now run to those first in line."""
        if not self.enabled:
            return
        running = self._running.get(business_id, 0) - 1
        line = self._waiting.get(business_id)
        if line is not None:
            allowed = self.allowed(business_id)
            while line.tickets and running < allowed:
                _, ticket = line.tickets.popleft()
                if not ticket.done():
                    ticket.set_result(True)  # the slot passes on
                    running += 1
            if not line.tickets:
                self._close(business_id, line)
        if running > 0:
            self._running[business_id] = running
        else:
            self._running.pop(business_id, None)

    def _expire(self, business_id: str) -> None:
        """The timer of a line: refuse the tickets past their deadline, then wait for the next."""
        line = self._waiting.get(business_id)
        if line is None:
            return
        line.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while line.tickets and line.tickets[0][0] <= now:
            _, ticket = line.tickets.popleft()
            if not ticket.done():
                ticket.set_result(False)
        if line.tickets:
            line.timer = loop.call_at(line.tickets[0][0], self._expire, business_id)
        else:
            self._close(business_id, line)

    def _forget(self, business_id: str, ticket: asyncio.Future[bool]) -> None:
        line = self._waiting.get(business_id)
        if line is None:
            return
        for entry in line.tickets:
            if entry[1] is ticket:
                line.tickets.remove(entry)
                break
        if not line.tickets:
            self._close(business_id, line)

    def _close(self, business_id: str, line: _Line) -> None:
        if line.timer is not None:
            line.timer.cancel()
        if self._waiting.get(business_id) is line:
            del self._waiting[business_id]
