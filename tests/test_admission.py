"""Per-business admission and work-based rate charging (app/http/slots.py, app/http/admission.py,
app/http/ratelimit.py), through real HTTP into the ASGI middleware."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app import meter
from app.http import slots as admission_slots
from app.http.admission import Admit
from app.http.auth import CALLER
from app.http.door import Limit, LocalDoor
from app.http.ratelimit import TokenBuckets
from app.http.slots import BusinessSlots
from app.services.access import Caller


async def test_a_lone_business_borrows_until_another_business_arrives(monkeypatch):
    monkeypatch.setattr(admission_slots, "LONE_S", 0.05)
    slots = BusinessSlots(in_flight=2, queue=50, wait_s=5, lone_times=4)
    for _ in range(8):
        assert await slots.enter("a")  # alone: up to 8
    ninth = asyncio.create_task(slots.enter("a"))
    await asyncio.sleep(0)
    assert not ninth.done() and slots.waiting("a") == 1
    assert await slots.enter("b")  # another business: admitted at once
    for _ in range(6):
        slots.leave("a")  # a is back to 2: what it frees goes to nobody...
    await asyncio.sleep(0)
    assert not ninth.done() and slots.running("a") == 2
    slots.leave("a")  # ...until it runs fewer than 2
    assert await ninth is True and slots.running("a") == 2
    slots.leave("b")
    tenth = asyncio.create_task(slots.enter("a"))
    await asyncio.sleep(0)
    assert not tenth.done()  # b is gone, but was seen less than LONE_S ago
    await asyncio.sleep(0.06)
    slots.leave("a")  # alone again: the line gets slots up to 8
    assert await tenth is True and slots.running("a") == 2
    more = [asyncio.create_task(slots.enter("a")) for _ in range(7)]
    await asyncio.sleep(0)
    assert sum(t.done() for t in more) == 6 and slots.running("a") == 8
    while slots.running("a"):
        slots.leave("a")
        await asyncio.sleep(0)
    assert all(t.done() for t in more)
    assert slots._running == {} and slots._waiting == {}


def test_who_counts_as_alone():
    slots = BusinessSlots(in_flight=4, queue=10, wait_s=5)
    lone = 4 * admission_slots.LONE_TIMES
    slots._arrived("a", 100.0)
    assert slots.allowed("a", now=100.1) == lone  # nobody else ever came
    slots._arrived("b", 101.0)
    assert slots.allowed("a", now=101.5) == 4 and slots.allowed("b", now=101.5) == 4
    assert slots.allowed("b", now=102.5) == lone  # a's last request was 2.5 s ago
    assert slots.allowed("a", now=103.5) == lone  # and b's, 2.5 s ago
    slots._arrived("b", 104.0)
    slots._arrived("b", 104.5)
    assert slots.allowed("b", now=104.6) == lone  # only b since 101
    slots._running["a"] = 1  # a request of a started long ago and still running
    assert slots.allowed("b", now=110.0) == 4


async def test_slots_cap_queue_and_refuse():
    slots = BusinessSlots(in_flight=2, queue=2, wait_s=5, lone_times=1)
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
    slots = BusinessSlots(in_flight=1, queue=4, wait_s=0.05, lone_times=1)
    assert await slots.enter("a")
    assert await slots.enter("a") is False  # waited 50 ms, gave up
    assert slots.waiting("a") == 0
    slots.leave("a")
    assert slots._running == {} and slots._waiting == {}


async def test_each_waiter_gets_its_own_full_wait_from_one_timer_per_line():
    """Deadlines follow arrival: the line's one timer refuses each waiter at its own
    deadline, not all of them at the first one's, and a slot handed over in time wins."""
    loop = asyncio.get_running_loop()
    slots = BusinessSlots(in_flight=1, queue=4, wait_s=0.2, lone_times=1)
    assert await slots.enter("a")
    started = loop.time()
    early = asyncio.create_task(slots.enter("a"))
    await asyncio.sleep(0.1)
    late = asyncio.create_task(slots.enter("a"))
    cancelled = asyncio.create_task(slots.enter("a"))
    await asyncio.sleep(0)
    cancelled.cancel()  # leaves the line without taking anything
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert slots.waiting("a") == 2
    assert await early is False
    refused_early = loop.time() - started
    assert 0.19 <= refused_early < 0.29, refused_early  # its own 200 ms
    assert not late.done()  # still inside its own wait
    slots.leave("a")  # the slot reaches `late` before its deadline
    assert await late is True
    assert slots.running("a") == 1 and slots.waiting("a") == 0
    slots.leave("a")
    assert slots._running == {} and slots._waiting == {}


async def test_a_cancelled_waiter_gives_its_slot_on():
    slots = BusinessSlots(in_flight=1, queue=4, wait_s=5, lone_times=1)
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


def test_work_is_charged_in_full():
    buckets = TokenBuckets(rate=10, burst=20)
    assert buckets.take("k") == 0
    buckets.charge("k", 1000)  # a request that walked a whole business
    wait = buckets.take("k")
    assert 98.1 <= wait <= 98.3  # the debt is not capped: (1 - (19 - 1000)) / 10 s
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
    limit = Limit("key", rate=1, burst=30)
    slots = BusinessSlots(in_flight=1, queue=1, wait_s=5, lone_times=1)
    door = LocalDoor(slots)
    limits = door.buckets(limit)
    admit = Admit(inner, door=door, limit=limit, work_per_token=1000)
    transport = httpx.ASGITransport(app=with_caller(admit, "biz_a", "fin_a"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/")).status_code == 200
        after = limits._buckets["fin_a"][0]
        assert 30 - after == pytest.approx(
            11, abs=0.1
        )  # the door's token + 5,000 rows + 5,000 decrypts

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


async def test_a_flood_of_made_up_keys_is_cut_off_per_address_before_the_database(
    app, tenant, monkeypatch
):
    """Made-up keys never repeat, so no cache absorbs them: each address has a small
    budget of failed lookups, then 429 without a lookup; others are untouched."""
    import secrets

    import httpx

    from app.services import businesses

    lookups = 0
    real = businesses.ApiKey.filter

    def counted(*args, **kwargs):
        nonlocal lookups
        lookups += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(businesses.ApiKey, "filter", counted)

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    body = {"query": "{ __typename }"}
    async with client("203.0.113.7") as attacker, client("198.51.100.9") as victim:
        statuses = []
        for _ in range(200):
            made_up = {"Authorization": f"Bearer fin_live_{secrets.token_urlsafe(24)}"}
            statuses.append(
                (await attacker.post("/graphql", json=body, headers=made_up)).status_code
            )
        assert statuses[:20] == [401] * 20  # the burst: looked up, unknown
        assert statuses.count(429) >= 170  # then refused at the door
        assert lookups <= 30  # the burst and what refilled meanwhile, not 200
        # A valid key from another address, and the tenant's key from the flooding
        # one once known, still get in.
        assert (await victim.post("/graphql", json=body, headers=tenant.headers)).status_code == 200
        assert (
            await attacker.post("/graphql", json=body, headers=tenant.headers)
        ).status_code == 200
        # An unknown key from another address is still looked up and answered 401.
        stranger = {"Authorization": "Bearer fin_live_" + "x" * 33}
        assert (await victim.post("/graphql", json=body, headers=stranger)).status_code == 401
