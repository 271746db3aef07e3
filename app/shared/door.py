"""The shared door: one set of buckets and business slots for every worker and host.

The same rules as the process's own door (app.http.door, app.http.ratelimit,
app.http.slots), held in Redis (app.shared.lua) so that with N workers a
key's 50 requests a second stay 50, and a business's 4 in flight stay 4:

- the door is one operation: the key's token, then the business's slot;
- the work a request did is charged when it leaves, with its slot (``post``:
  it rides in the next call);
- work paid ahead (a bulk call's rows) is decided here, against the tokens the
  key had at the door less what this process has paid since, and charged at
  once; a bulk call starting at the same moment in another process may start
  too, and both are charged (the debt is never lost, only its timing);
- a slot is a lease of LEASE_S, renewed every RENEW_S while its request runs,
  so the slots of a process that died free themselves within LEASE_S;
- a request that leaves hands its slot to the head of the line (in Redis, in the
  same call that gives it back); a request in line here learns it from that
  call's reply, one in line elsewhere when it asks again, every POLL_S.  The line
  is first come, first served across every process.

When Redis does not answer, each operation falls back to the process's own
door (fail open, app.shared.link): a request is never refused or failed because
Redis is away, and a request let in by one keeps it until it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from typing import Any

from app.http.door import Limit, LocalDoor, Pass, Refused
from app.shared.courier import LEASE_S, Courier
from app.shared.link import Unavailable, fell_back

#: Seconds between two renewals of the leases of running requests.
RENEW_S = LEASE_S / 3
#: Seconds between two asks of a request in line.
POLL_S = 0.005


class SharedPass:
    __slots__ = ("business_id", "door", "lease", "limit", "name", "tokens")

    def __init__(
        self, door: SharedDoor, limit: Limit, name: str, business_id: str, lease: str, tokens: float
    ) -> None:
        self.door = door
        self.limit = limit
        self.name = name
        self.business_id = business_id
        self.lease = lease
        #: The key's tokens as this request knows them: at the door, less what it paid since.
        self.tokens = tokens

    def pay(self, cost: float) -> float:
        if not self.limit.enabled or cost <= 0:
            return 0.0
        if self.tokens < 0:
            return -self.tokens / self.limit.rate
        self.tokens -= cost
        self.door.charge(self.limit, self.name, cost)
        return 0.0

    def leave(self, cost: float) -> None:
        self.door.left(self)
        self.door.charge(self.limit, self.name, cost)


class SharedDoor:
    """The shared buckets and slots; `local`, what it falls back to, also holds the
    slots' settings (in flight, alone, line, wait), one set for both."""

    def __init__(self, courier: Courier, local: LocalDoor) -> None:
        self.courier = courier
        self.local = local
        slots = local.slots
        self.in_flight = slots.in_flight
        self.lone_in_flight = slots.lone_in_flight
        self.queue = slots.queue
        self.wait_s = slots.wait_s
        self._process = secrets.token_hex(6)
        self._numbers = itertools.count()
        #: The leases this process holds (renewed), by lease.
        self._held: dict[str, str] = {}
        #: The requests in line here, by ticket: set to 1 when a leave hands them a slot.
        self._waiting: dict[str, asyncio.Future[int]] = {}
        #: Tickets whose requests fell back to this process's own door: forgotten in
        #: Redis as soon as it answers again (a post during the outage is dropped).
        self._forget: list[tuple[str, str]] = []
        self._renewer: asyncio.Task[None] | None = None

    async def enter(self, limit: Limit, name: str, business_id: str) -> Pass | Refused:
        lease = f"{self._process}:{next(self._numbers)}"
        if self._forget and self.courier.link.up:  # tickets of an outage, gone now
            for business, ticket in self._forget:
                self.courier.post("F", business, ticket)
            self._forget.clear()
        try:
            wait, tokens, slot = await self.courier.ask(
                "D", name_of(limit, name), limit.rate, limit.burst, business_id, lease,
                self.in_flight, self.lone_in_flight, self.queue, self.wait_s,
            )  # fmt: skip
        except Unavailable:
            fell_back("door")
            return await self.local.enter(limit, name, business_id)
        if float(wait):
            return Refused("rate", float(wait))
        if slot == 0:
            slot = await self._wait_in_line(business_id, lease)
            if slot is None:  # Redis went away while in line: the process decides
                fell_back("door")
                return await self.local.enter(limit, name, business_id)
        if slot == -1:
            return Refused("busy", 1.0)
        self._held[lease] = business_id
        return SharedPass(self, limit, name, business_id, lease, float(tokens))

    async def _wait_in_line(self, business_id: str, ticket: str) -> int | None:
        """1 once let in, -1 when the wait ran out (or the line lost the ticket), None
        when Redis stopped answering."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        handed = self._waiting[ticket] = loop.create_future()
        try:
            while True:
                await asyncio.wait((handed,), timeout=min(POLL_S, max(0.0, deadline - loop.time())))
                if handed.done():
                    return 1
                try:
                    (slot,) = await self.courier.ask(
                        "W", business_id, ticket, self.in_flight, self.lone_in_flight, self.wait_s
                    )
                except Unavailable:
                    slot = None
                # A leave may have let it in meanwhile: by an earlier call, or this one.
                if handed.done():
                    return 1
                if slot is None:
                    # Its place in line (or a slot a leave hands it later) must go once
                    # Redis is back, or it would hold a slot nobody uses for LEASE_S.
                    self._forget.append((business_id, ticket))
                    return None
                if slot != 0:
                    return int(slot)
                if loop.time() >= deadline:
                    self.courier.post("F", business_id, ticket)
                    return -1
        except BaseException:
            self.courier.post("F", business_id, ticket)
            raise
        finally:
            del self._waiting[ticket]

    def left(self, held: SharedPass) -> None:
        self._held.pop(held.lease, None)
        self.courier.post(
            "L", held.business_id, held.lease, self.in_flight, self.lone_in_flight, self.wait_s,
            then=self._handed_over,
        )  # fmt: skip

    def _handed_over(self, replies: list[Any]) -> None:
        """Wake the requests in line here that a leave let in (elsewhere's poll)."""
        for ticket in replies[0]:
            waiting = self._waiting.get(ticket.decode() if isinstance(ticket, bytes) else ticket)
            if waiting is not None and not waiting.done():
                waiting.set_result(1)

    def charge(self, limit: Limit, name: str, cost: float) -> None:
        if limit.enabled and cost > 0:
            self.courier.post("C", name_of(limit, name), limit.rate, limit.burst, cost)

    async def take(self, limit: Limit, name: str) -> float:
        try:
            wait, _ = await self.courier.ask("T", name_of(limit, name), limit.rate, limit.burst)
        except Unavailable:
            fell_back(limit.kind)
            return await self.local.take(limit, name)
        return float(wait)

    async def exhausted(self, limit: Limit, name: str) -> bool:
        if not limit.enabled:
            return False
        try:
            (tokens,) = await self.courier.ask("P", name_of(limit, name), limit.rate, limit.burst)
        except Unavailable:
            fell_back(limit.kind)
            return await self.local.exhausted(limit, name)
        return float(tokens) < 1

    async def start(self) -> None:
        self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_S)
            for lease, business_id in list(self._held.items()):
                self.courier.post("R", business_id, lease)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self.courier.close()


def name_of(limit: Limit, name: str) -> str:
    """A bucket's name in Redis: its kind, then the key prefix, connection or address."""
    return f"{limit.kind}:{name}"
