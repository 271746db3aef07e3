"""The door every request passes: its bucket's token, then a slot of its business.

A request of the API pays a token of its key's bucket (app.http.ratelimit) and
takes one of its business's admission slots (app.http.slots); a shop's
delivery pays its connection's bucket and takes its business's slot the same
way.  Both happen in one call, ``enter``, so that when the limits live in Redis
(app.shared) a request crosses the door in one round trip, and so that the
one or the other refusal is answered the same way wherever the limits live.

``LocalDoor`` keeps everything in this process: the default, and what a shared
door falls back to while Redis does not answer.  A request that got in holds a
``Pass``: work whose size is known before it starts is paid with it (``pay``),
and it is given back with the work done (``leave``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.http.ratelimit import TokenBuckets
from app.http.slots import BusinessSlots


@dataclass(frozen=True)
class Limit:
    """A kind of bucket: its name in shared keys, and its rate and burst."""

    kind: str
    rate: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.rate > 0


@dataclass(frozen=True)
class Refused:
    """Not let in: ``rate`` (the bucket is empty) or ``busy`` (the business's slots
    and line are full, or its wait ran out), and the seconds to wait before trying again."""

    reason: str
    wait: float


class Pass(Protocol):
    """A request's way through the door, until it leaves."""

    def pay(self, cost: float) -> float:
        """Spend `cost` tokens for work about to start; 0, else the seconds to wait."""
        ...

    def leave(self, cost: float) -> None:
        """Give the slot back and charge `cost` tokens for the work done."""
        ...


class Door(Protocol):
    async def enter(self, limit: Limit, name: str, business_id: str) -> Pass | Refused: ...

    async def take(self, limit: Limit, name: str) -> float:
        """One token of `name`'s bucket, without a slot; 0, else seconds to wait."""
        ...

    async def exhausted(self, limit: Limit, name: str) -> bool:
        """Whether `name`'s bucket has no whole token left (nothing is spent)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalPass:
    __slots__ = ("buckets", "business_id", "name", "slots")

    def __init__(
        self, slots: BusinessSlots, buckets: TokenBuckets, name: str, business_id: str
    ) -> None:
        self.slots = slots
        self.buckets = buckets
        self.name = name
        self.business_id = business_id

    def pay(self, cost: float) -> float:
        return self.buckets.pay(self.name, cost)

    def leave(self, cost: float) -> None:
        self.slots.leave(self.business_id)
        self.buckets.charge(self.name, cost)


class LocalDoor:
    """This process's buckets (one set per kind of limit) and business slots."""

    def __init__(self, slots: BusinessSlots) -> None:
        self.slots = slots
        self._buckets: dict[Limit, TokenBuckets] = {}

    def buckets(self, limit: Limit) -> TokenBuckets:
        buckets = self._buckets.get(limit)
        if buckets is None:
            buckets = self._buckets[limit] = TokenBuckets(limit.rate, limit.burst)
        return buckets

    async def enter(self, limit: Limit, name: str, business_id: str) -> LocalPass | Refused:
        buckets = self.buckets(limit)
        wait = buckets.take(name)
        if wait:
            return Refused("rate", wait)
        if not await self.slots.enter(business_id):
            return Refused("busy", 1.0)
        return LocalPass(self.slots, buckets, name, business_id)

    async def take(self, limit: Limit, name: str) -> float:
        return self.buckets(limit).take(name)

    async def exhausted(self, limit: Limit, name: str) -> bool:
        return self.buckets(limit).exhausted(name)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
