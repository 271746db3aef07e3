"""CPU-heavy loops take turns on the event loop, a millisecond's slice at a time.

One process is one event loop: a loop that decrypts 100,000 emails without
awaiting holds every other request of every business for its whole length.  A
heavy section (confirming search candidates, opening many values) runs inside
``heavy()``, which holds the process's single *heavy turn*, and gives it up
every SLICE_S seconds (``if turn.due(): await turn.pause()``).  Giving it up
lets everything that is ready run (other requests' small steps first), then the
next heavy section in line (FIFO) takes its slice.  So however many heavy
sections are in flight, at most one slice runs between two steps of a cheap
request.  And while light requests are in flight (app.meter counts them), a
pause lasts a slice too: heavy work then gets at most half of the loop, and the
light requests' database answers are read as they arrive instead of waiting
behind the next slice.  Alone, heavy work runs at full speed.

A business also runs one heavy operation at a time per process (``one_at_a_time``):
aliased searches in a document, or several requests of one business, queue
behind each other instead of all holding batches of rows at once.  Besides
sharing the loop fairly between businesses, this keeps the heap small: a full
garbage collection walks every live object and holds the loop while it does.

The turn and the queues are per process and per event loop (tests run several loops).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app import meter

#: Longest run of heavy work between two chances for others to run.
SLICE_S = 0.001
#: Items between two looks at the clock (a look costs about as much as an item).
_CHECK_EVERY = 16


class _Queue:
    """The heavy operations of one business: the one running and those in line."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Queue]] = (
    weakref.WeakKeyDictionary()
)


def _turn() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _turns.get(loop)
    if lock is None:
        lock = _turns[loop] = asyncio.Lock()
    return lock


class Turn:
    """A heavy section's hold on the turn; `due()` in its loop, `pause()` when due."""

    __slots__ = ("_count", "_every", "_lock", "_since", "held")

    def __init__(self, lock: asyncio.Lock, every: int = _CHECK_EVERY) -> None:
        self._lock = lock
        self._every = every
        self._count = 0
        self._since = time.perf_counter()
        self.held = False

    def due(self) -> bool:
        self._count += 1
        if self._count % self._every:
            return False
        return time.perf_counter() - self._since >= SLICE_S

    async def take(self) -> None:
        await self._lock.acquire()
        self.held = True
        self._since = time.perf_counter()

    def give(self) -> None:
        if self.held:
            self.held = False
            self._lock.release()

    async def pause(self) -> None:
        """Let everything ready run, then wait for the next turn."""
        self.give()
        await asyncio.sleep(SLICE_S if meter.light_requests() > 0 else 0)
        await self.take()


@asynccontextmanager
async def heavy(every: int = _CHECK_EVERY) -> AsyncIterator[Turn]:
    """The heavy turn, for one loop's worth of work, given up between slices.

    `every`: items between two looks at the clock; 1 for items that cost far more
    than a look (a bulk row: a third of a millisecond)."""
    turn = Turn(_turn(), every)
    with meter.heavy_work():
        await turn.take()
        try:
            yield turn
        finally:
            turn.give()


@asynccontextmanager
async def one_at_a_time(business_id: str) -> AsyncIterator[None]:
    """One heavy operation of this business at a time (per process), first come first served."""
    queues = _queues.setdefault(asyncio.get_running_loop(), {})
    queue = queues.get(business_id)
    if queue is None:
        queue = queues[business_id] = _Queue()
    queue.users += 1
    try:
        with meter.heavy_work():
            async with queue.lock:
                yield
    finally:
        queue.users -= 1
        if not queue.users:
            del queues[business_id]
