"""The operations of concurrent requests, sent to Redis together: one call at a time.

A call to Redis costs this process about 70 us of CPU whatever it carries
(redis-py's command and connection handling), as much as a tenth of a small
request.  So operations are not sent one call each: the first goes at once,
and those that arrive while it is out wait for it to come back and go
together in the next call.  Alone, a request's door costs one call, as it
would anyway; under load, a call carries the doors, the slots given back and
the charges of every request that reached that point meanwhile, so a request
costs less than one call, and waits at most one call's time more.

Operations nobody waits for (``post``: a slot given back, a charge) ride in the
next call.  When a call fails, those waiting get ``Unavailable`` (and fall back);
what was posted is lost, which only ever lets more through: a slot's lease
expires by itself (app.shared.lua).
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.shared.link import Link, Unavailable
from app.shared.lua import ARITY, SCRIPT

#: Seconds a lease lives unless renewed (app.shared.door renews those still running).
LEASE_S = 10.0
Reply = list[Any]
Queued = tuple[tuple[Any, ...], "asyncio.Future[Reply] | None"]


class Courier:
    def __init__(self, link: Link, *, lone_s: float) -> None:
        self.link = link
        self.lone_s = lone_s
        self.script = link.client.register_script(SCRIPT)
        self._queue: list[Queued] = []
        self._flight: asyncio.Task[None] | None = None
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

    def post(self, *operation: Any) -> None:
        """Send one operation whose replies nobody waits for."""
        if self.link.up:
            self._queue.append((operation, None))
            self._dispatch()

    def _dispatch(self) -> None:
        if self._flight is None:
            self._flight = asyncio.get_running_loop().create_task(self._fly())

    async def _fly(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._carry(batch)
        finally:
            self._flight = None

    async def _carry(self, batch: list[Queued]) -> None:
        args: list[Any] = [self.link.prefix, LEASE_S, self.lone_s]
        for operation, _ in batch:
            args.extend(operation)
        self.calls += 1
        self.operations += len(batch)
        try:
            replies = await self.link.call(lambda: self.script(args=args))
        except Unavailable:
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(Unavailable())
            return
        at = 0
        for operation, future in batch:
            count = ARITY[operation[0]][1]
            if future is not None and not future.done():
                future.set_result(replies[at : at + count])
            at += count

    async def close(self) -> None:
        """Let the call out come back (what it carries is sent), then stop."""
        flight = self._flight
        if flight is not None:
            await asyncio.gather(flight, return_exceptions=True)
