"""Per-business admission: a bounded amount of one business's work in flight per process.

One process is one event loop and one pool of database connections, shared by
every business.  A business that keeps many expensive requests in flight would
hold both, and every other business would wait behind it: a request of another
business queues in the loop behind the work already admitted.  So what is
bounded is the work a business has in flight, not the count of its requests:
``in_flight`` requests of any size always (full pages of 100 customers: about
6 ms of loop at the default 4), and more when its recent requests were small,
as many as make the same work (a `customer(id)` is about a sixth of a page, a
page of 10 a quarter), up to 4 x ``in_flight``.
A frontend's cheap reads then keep enough queries going at once for the
database and the loop to work in batches, while what another business finds
ahead of it stays about the same.  More wait in a bounded queue (first come,
first served) for at most ``wait_s`` seconds; a request that finds the queue
full, or waits too long, gets HTTP 429 RATE_LIMITED with ``Retry-After: 1``.

The size of a request is known only once it has run (rows read, values
decrypted, bulk rows: app.meter), so the allowance follows a moving average of
the business's last requests, forgotten when it has nothing in flight.  A
business that switches from cheap requests to expensive ones has at most
4 x ``in_flight`` of them admitted once, and fewer from then on.

Once admitted, the request runs under a work meter (app.meter) and, when it is
answered, its key is charged for the work done (app.http.ratelimit), so cost
follows the real work.

All of this is per process, like the rate limit: with N workers a business may
have N times as much running.  Holding one cap across workers and hosts would
need a shared store (a Redis semaphore, or the load balancer's per-tenant
concurrency limit).
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from app import meter
from app.http.auth import CALLER
from app.http.ratelimit import TokenBuckets
from app.http.responses import error_response

#: Units of work of a full page (100 customers, every field): 1 for the request
#: and 1 per 100 rows read or values decrypted.  A business may have
#: ``in_flight * PAGE_UNITS`` units running, at the size of its recent requests.
PAGE_UNITS = 6
#: However small its requests, a business has at most this many times ``in_flight``
#: running: past about 16 the database and the loop gain nothing more from
#: batching, and the business's own tail latency grows (bench/list.py).
MOST_TIMES = 4
#: Rows read plus values decrypted that make one unit; a bulk row is a unit by itself.
WORK_PER_UNIT = 100
#: Weight of the newest request in a business's moving average of units.
SMOOTHING = 0.2


def units_of(work: meter.Work) -> float:
    """How big a finished request was, in units (1 for the smallest)."""
    return 1.0 + (work.rows + work.decrypted) / WORK_PER_UNIT + work.bulk_rows


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

    def __init__(self, in_flight: int, queue: int, wait_s: float) -> None:
        self.in_flight = in_flight
        self.budget = in_flight * PAGE_UNITS
        self.most = in_flight * MOST_TIMES
        self.queue = queue
        self.wait_s = wait_s
        self._running: dict[str, int] = {}
        self._waiting: dict[str, _Line] = {}
        self._units: dict[str, float] = {}  # moving average, while a business has work

    @property
    def enabled(self) -> bool:
        return self.in_flight > 0

    def running(self, business_id: str) -> int:
        return self._running.get(business_id, 0)

    def allowed(self, business_id: str) -> int:
        """Requests the business may have running: ``in_flight`` pages' worth at the size
        of its recent requests, never fewer than ``in_flight`` nor more than ``most``."""
        units = self._units.get(business_id)
        if units is None:
            return self.in_flight
        return max(self.in_flight, min(self.most, int(self.budget / units)))

    def finished(self, business_id: str, units: float) -> None:
        """Note the size of a request that ran (before ``leave``)."""
        average = self._units.get(business_id)
        self._units[business_id] = (
            units if average is None else average + SMOOTHING * (units - average)
        )

    def waiting(self, business_id: str) -> int:
        line = self._waiting.get(business_id)
        return len(line.tickets) if line else 0

    async def enter(self, business_id: str) -> bool:
        """Take a slot, waiting in line if need be; False when refused."""
        if not self.enabled:
            return True
        running = self._running.get(business_id, 0)
        if running < self.allowed(business_id) and business_id not in self._waiting:
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
        """Free a slot, and give as many as the allowance now has to those first in line."""
        if not self.enabled:
            return
        running = self._running.get(business_id, 0) - 1
        line = self._waiting.get(business_id)
        if line is not None:
            allowed = self.allowed(business_id)
            while line.tickets and running < allowed:
                _, ticket = line.tickets.popleft()
                if not ticket.done():
                    ticket.set_result(True)
                    running += 1
            if not line.tickets:
                self._close(business_id, line)
        if running > 0:
            self._running[business_id] = running
        else:
            self._running.pop(business_id, None)
            self._units.pop(business_id, None)

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


class Admit:
    """ASGI middleware behind RequireApiKey: a slot for the caller's business, a
    work meter while the request runs, the work charged to its key afterwards."""

    def __init__(
        self, app: ASGIApp, *, slots: BusinessSlots, limits: TokenBuckets, work_per_token: float
    ) -> None:
        self.app = app
        self.slots = slots
        self.limits = limits
        self.work_per_token = work_per_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get("state", {}).get(CALLER)
        if scope["type"] != "http" or caller is None:
            await self.app(scope, receive, send)
            return
        if not await self.slots.enter(caller.business_id):
            response = error_response(
                scope, 429, "RATE_LIMITED", "Too many requests in progress for this business"
            )
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        try:
            with meter.metered() as work:
                await self.app(scope, receive, send)
        finally:
            self.slots.finished(caller.business_id, units_of(work))
            self.slots.leave(caller.business_id)
            self.limits.charge(caller.key_prefix, work.tokens(self.work_per_token))
