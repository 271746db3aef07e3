"""The operations of concurrent requests, sent to Redis together: one call at a time.

A call to Redis costs this process about 70 us of CPU whatever it carries (a round
trip on loopback alone is about 40 us here; redis-py's client adds its connection
pool and retry handling, which is why the courier keeps one connection of its own
and sends EVALSHA on it directly: one call is ever out), as much as a fifth of a
small request. The command is packed here too (RESP, with the numbers of the limits'
settings packed once), at a third of redis-py's cost for the hundred arguments of a
busy call. So operations are not sent one call each: the first goes at once, and
those that arrive while it is out wait for it to come back and go together in the
next call. Alone, a request's door costs one call, as it would anyway; under load, a
call carries the doors, the slots given back and the charges of every request that
reached that point meanwhile, so a request costs less than one call, and waits at
most one call's time more.

Operations nobody waits for (``post``: a slot given back, a charge) ride in the next
call, which they wait for up to POST_DELAY_S: without that, each request of a
moderate load (one at a time in the process) would cost two calls, its door and its
leave, where riding with the next request's door costs none. One whose replies
matter later (a slot given back names the requests in line it let in) passes
``then``, called with them. When a call fails, those waiting get ``Unavailable``
(and fall back); what was posted is lost: a lost charge lets more through, a lost
leave keeps its slot taken until the lease expires (LEASE_S at most), and a
request in line that fell back has its ticket forgotten once Redis answers
(app.shared.door).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoScriptError

from app.shared.link import Link, Unavailable
from app.shared.lua import ARITY, SCRIPT

log = logging.getLogger("finora.shared")

#: Seconds a lease lives unless renewed (app.shared.door renews those still running).
LEASE_S = 10.0
#: Seconds a posted operation waits for a call to ride in before it makes its own.
POST_DELAY_S = 0.005
Reply = list[Any]
Then = Callable[[Reply], None]
#: Packed numbers (the limits' settings repeat in every call), up to MAX_PACKED.
_PACKED: dict[tuple[type, float], bytes] = {}
MAX_PACKED = 4096


def _pack(value: Any) -> bytes:
    """One argument in RESP: ``$<length>\\r\\n<bytes>\\r\\n``."""
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bytes):
        data = value
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"not an argument of the script: {type(value).__name__}")
        key = (type(value), value)  # 1 and 1.0 are equal keys, not equal arguments
        packed = _PACKED.get(key)
        if packed is not None:
            return packed
        data = repr(value).encode()
        packed = b"$%d\r\n%b\r\n" % (len(data), data)
        if len(_PACKED) < MAX_PACKED:
            _PACKED[key] = packed
        return packed
    return b"$%d\r\n%b\r\n" % (len(data), data)


Queued = tuple[tuple[Any, ...], "asyncio.Future[Reply] | Then | None"]


def _fail(batch: list[Queued]) -> None:
    """Those of `batch` who wait for a reply get Unavailable (and fall back)."""
    for _, future in batch:
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_exception(Unavailable())


class Courier:
    def __init__(self, link: Link, *, lone_s: float) -> None:
        self.link = link
        self.lone_s = lone_s
        # No socket timeout of its own: link.call bounds the whole call, and redis-py
        # would otherwise run each write as a task of its own (asyncio.wait_for).
        pool = link.client.connection_pool
        self._connection = pool.connection_class(
            **{**pool.connection_kwargs, "socket_timeout": None}
        )
        self._sha: str | None = None
        #: The script's first arguments, the same in every call.
        self._head = b"".join(map(_pack, (link.prefix, LEASE_S, lone_s)))
        self._queue: list[Queued] = []
        self._flight: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: Whether the queue must go now: a request waits for a reply, or posts waited enough.
        self._due = False
        self._closing = False
        #: Calls made and operations carried, for tests and benchmarks.
        self.calls = 0
        self.operations = 0

    async def ask(self, *operation: Any) -> Reply:
        """Send one operation; its replies (Unavailable when Redis did not answer)."""
        if not self.link.up:
            raise Unavailable
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._queue.append((operation, future))
        self._dispatch()
        return await future

    def post(self, *operation: Any, then: Then | None = None) -> None:
        """Send one operation whose replies nobody waits for (``then`` gets them, if any),
        with the next call, or in POST_DELAY_S."""
        if self.link.up:
            self._queue.append((operation, then))
            if self._flight is None and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(POST_DELAY_S, self._dispatch)

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = True
        if self._flight is None:
            self._flight = asyncio.get_running_loop().create_task(self._fly())

    async def _fly(self) -> None:
        try:
            while self._queue:
                if not self._due and not self._closing:  # only posts: they may wait
                    self._timer = asyncio.get_running_loop().call_later(
                        POST_DELAY_S, self._dispatch
                    )
                    break
                batch, self._queue, self._due = self._queue, [], False
                try:
                    await self._carry(batch)
                except Exception:  # a bug, not Redis: still, nobody may wait for ever
                    log.exception("a call of the shared limits failed")
                    _fail(batch)
        finally:
            self._flight = None

    async def _carry(self, batch: list[Queued]) -> None:
        parts = [self._head]
        count = 3
        for operation, _ in batch:
            parts.extend(map(_pack, operation))
            count += len(operation)
        args = b"".join(parts)
        self.calls += 1
        self.operations += len(batch)
        try:
            replies = await self.link.call(lambda: self._evalsha(count, args))
        except Unavailable:
            # A reply may still be on its way: the next call must not read it.
            await self._connection.disconnect(nowait=True)
            _fail(batch)
            return
        at = 0
        for operation, future in batch:
            count = ARITY[operation[0]][1]
            if isinstance(future, asyncio.Future):
                if not future.done():
                    future.set_result(replies[at : at + count])
            elif future is not None:
                try:
                    future(replies[at : at + count])
                except Exception:  # one callback must not leave the others' requests waiting
                    log.exception("a shared-limit reply could not be handled")
            at += count

    async def _evalsha(self, count: int, args: bytes) -> Reply:
        """The script with ``count`` packed ``args`` (loaded first, and again after a
        Redis restart)."""
        connection = self._connection
        for attempt in (1, 2):
            if self._sha is None:
                self._sha = await self.link.client.script_load(SCRIPT)
            command = b"*%d\r\n%b%b$1\r\n0\r\n%b" % (
                count + 3,
                _pack(b"EVALSHA"),
                _pack(self._sha),
                args,
            )
            await connection.send_packed_command(command, check_health=False)
            try:
                return await connection.read_response()
            except NoScriptError:
                if attempt == 2:
                    raise
                self._sha = None
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Send what is posted, let the call out come back, then stop."""
        self._closing = True
        if self._queue:
            self._dispatch()
        flight = self._flight
        if flight is not None:
            await asyncio.gather(flight, return_exceptions=True)
        await self._connection.disconnect()
