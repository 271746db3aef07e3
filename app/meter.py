"""What one request cost: rows read and values decrypted, counted as they happen.

The admission middleware opens a meter per request (a context variable, so the
tasks GraphQL starts for aliased fields share it); the read path reports to it;
after the answer the request's key is charged in its rate-limit bucket for the
work done, not only for the request, so a caller whose requests walk a whole
business runs out of budget long before one reading a page at a time.  Work
whose size is known beforehand (the rows of a bulk call) is paid for before it
starts (``pay_rows``).

The meter also keeps a request to one pooled connection at a time: aliased root
fields would otherwise take as many connections as they are, and one business
could hold the whole pool while another waits for it.

And it counts, per process, the requests being served and those doing heavy
work (app.pacing), so heavy work knows when light requests are waiting for the
loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Rows read plus values decrypted that cost one rate-limit token beyond the request's own.
WORK_PER_TOKEN = 1000


def _free(cost: float) -> float:
    """The payer outside an admitted request (tests, the CLI): nothing to pay."""
    return 0.0


class Work:
    __slots__ = ("decrypted", "heavy", "one_query", "paid_rows", "pay", "rows")

    def __init__(self, pay: Callable[[float], float] = _free) -> None:
        self.rows = 0
        self.decrypted = 0
        self.heavy = 0
        self.one_query = asyncio.Lock()
        #: Takes tokens from the request's key for work about to start (ratelimit.pay).
        self.pay = pay
        self.paid_rows = 0

    def tokens(self, work_per_token: float = WORK_PER_TOKEN) -> float:
        """Tokens owed after the answer, for what was read and opened."""
        if work_per_token <= 0:
            return 0.0
        return (self.rows + self.decrypted) / work_per_token


_current: ContextVar[Work | None] = ContextVar("finora_work", default=None)


class _Census:
    """Requests being served in this process, and how many of them do heavy work."""

    serving = 0
    heavy = 0


class metered:  # lower case: used as the function it was, ``with meter.metered() as work``
    """The meter of one request, from admission to its answer (a class, not a generator:
    it is entered once per request)."""

    __slots__ = ("pay", "token", "work")

    def __init__(self, pay: Callable[[float], float] = _free) -> None:
        self.pay = pay

    def __enter__(self) -> Work:
        self.work = Work(self.pay)
        self.token = _current.set(self.work)
        _Census.serving += 1
        return self.work

    def __exit__(self, *exc_info: object) -> None:
        _Census.serving -= 1
        _current.reset(self.token)


@contextmanager
def heavy_work() -> Iterator[None]:
    """Marks the current request as doing heavy work while inside (nesting allowed)."""
    work = _current.get()
    if work is None:
        yield
        return
    work.heavy += 1
    _Census.heavy += work.heavy == 1
    try:
        yield
    finally:
        work.heavy -= 1
        _Census.heavy -= work.heavy == 0


def light_requests() -> int:
    """Requests in flight in this process that are not doing heavy work."""
    return _Census.serving - _Census.heavy


def rows_read(count: int) -> None:
    work = _current.get()
    if work is not None:
        work.rows += count


def pay_rows(count: int) -> float:
    """Pay for a bulk call of ``count`` rows before any of them is touched: each row
    costs what a request costs, and the request paid for one at the door.  Returns
    0 when paid, else the seconds until the key may start it.  Rows this request
    already paid for (the GraphQL guard pays before variables are coerced, the
    service again before it works) are not paid twice."""
    work = _current.get()
    if work is None or count <= work.paid_rows:
        return 0.0
    owed = count - max(1, work.paid_rows)
    wait = work.pay(owed) if owed > 0 else 0.0
    if not wait:
        work.paid_rows = count
    return wait


def decrypted(count: int) -> None:
    work = _current.get()
    if work is not None:
        work.decrypted += count


def query_lock() -> asyncio.Lock | None:
    """Held around a read query: this request's queries take turns (outside a request: None)."""
    work = _current.get()
    return None if work is None else work.one_query
