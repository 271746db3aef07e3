"""Per-business admission and work-based rate charging (app/http/admission.py,
app/http/ratelimit.py), through real HTTP into the ASGI middleware."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app import meter
from app.http.admission import Admit, BusinessSlots
from app.http.auth import CALLER
from app.http.ratelimit import TokenBuckets
from app.services.access import Caller


async def test_slots_cap_queue_and_refuse():
    slots = BusinessSlots(in_flight=2, queue=2, wait_s=5)
    assert await slots.enter("a") and await slots.enter("a")
    assert slots.running("a") == 2
    waiters = [asyncio.create_task(slots.enter("a")) for _ in range(2)]
    await asyncio.sleep(0)
    assert slots.waiting("a") == 2
    assert await slots.enter("a") is False  # the queue is full: refused at once
    assert await slots.enter("b") is True  # another business is not affected
    slots.leave("a")  # the first in line gets the slot
    assert await waiters[0] is True and not waiters[1].done()
    assert slots.running("a") == 2 and slots.waiting("a") == 1
    slots.leave("a")
    assert await waiters[1] is True
    for business in ("a", "a", "b"):
        slots.leave(business)
    assert (slots.running("a"), slots.waiting("a"), slots.running("b")) == (0, 0, 0)
    assert slots._running == {} and slots._waiting == {}  # nothing kept for idle businesses


async def test_a_wait_too_long_is_refused_and_forgotten():
    slots = BusinessSlots(in_flight=1, queue=4, wait_s=0.05)
    assert await slots.enter("a")
    assert await slots.enter("a") is False  # waited 50 ms, gave up
    assert slots.waiting("a") == 0
    slots.leave("a")
    assert slots._running == {} and slots._waiting == {}


async def test_a_cancelled_waiter_gives_its_slot_on():
    slots = BusinessSlots(in_flight=1, queue=4, wait_s=5)
    assert await slots.enter("a")
    first = asyncio.create_task(slots.enter("a"))
    second = asyncio.create_task(slots.enter("a"))
    await asyncio.sleep(0)
    slots.leave("a")  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs: the slot passes to `second`
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is True
    assert slots.running("a") == 1 and slots.waiting("a") == 0
    slots.leave("a")
    assert slots._running == {}


def test_work_is_charged_with_a_bounded_debt():
    buckets = TokenBuckets(rate=10, burst=20)
    assert buckets.take("k") == 0
    buckets.charge("k", 1000)  # a request that walked a whole business
    wait = buckets.take("k")
    assert 2.0 <= wait <= 2.1  # in debt down to -burst: (1 + 20) / 10 s
    buckets.charge("unknown", 50)  # a key that never came in is not stored
    assert "unknown" not in buckets._buckets
    off = TokenBuckets(rate=0, burst=20)
    off.charge("k", 1000)
    assert off.take("k") == 0


class Worker:
    """An API stand-in that reports work to the meter and can be held open."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.release = asyncio.Event()
        self.release.set()
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started += 1
        meter.rows_read(self.rows)
        meter.decrypted(self.rows)
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def with_caller(app: Any, business_id: str, key: str) -> Any:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})[CALLER] = Caller(business_id, key)
        await app(scope, receive, send)

    return asgi


async def test_middleware_charges_work_and_refuses_beyond_the_queue():
    inner = Worker(rows=5000)
    limits = TokenBuckets(rate=1, burst=30)
    slots = BusinessSlots(in_flight=1, queue=1, wait_s=5)
    admit = Admit(inner, slots=slots, limits=limits, work_per_token=1000)
    transport = httpx.ASGITransport(app=with_caller(admit, "biz_a", "fin_a"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert limits.take("fin_a") == 0  # what RequireApiKey does first
        before = limits._buckets["fin_a"][0]
        assert (await http.get("/")).status_code == 200
        after = limits._buckets["fin_a"][0]
        assert before - after == pytest.approx(10, abs=0.1)  # 5,000 rows + 5,000 decrypts

        inner.release.clear()
        running = asyncio.create_task(http.get("/"))
        queued = asyncio.create_task(http.get("/"))
        while not (inner.started == 2 and slots.waiting("biz_a") == 1):
            await asyncio.sleep(0.01)
        refused = await http.get("/")
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert refused.headers["Retry-After"] == "1"
        rest = await http.get("/v1/customers")  # the REST API's own error shape
        assert rest.status_code == 429 and rest.json()["error"]["code"] == "RATE_LIMITED"
        inner.release.set()
        assert [r.status_code for r in await asyncio.gather(running, queued)] == [200, 200]
    assert slots._running == {} and slots._waiting == {}
