"""The shared door (app.shared) on the machine's real Redis: two doors with one
prefix stand for two processes; each test has a prefix of its own."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from app.http.door import Limit, LocalDoor, Refused
from app.http.slots import BusinessSlots
from app.shared import courier as courier_module
from app.shared import link as link_module
from app.shared.courier import Courier
from app.shared.door import SharedDoor
from app.shared.link import Link

REDIS = "redis://127.0.0.1:6379/0"


def door(prefix: str, url: str = REDIS, in_flight: int = 2, queue: int = 10, wait_s: float = 2.0):
    link = Link(url, timeout_s=0.05, prefix=prefix)
    local = LocalDoor(BusinessSlots(in_flight, queue, wait_s, lone_times=1))
    shared = SharedDoor(Courier(link, lone_s=2.0), local)
    return shared, link


@pytest.fixture
async def two() -> AsyncIterator[tuple[SharedDoor, SharedDoor]]:
    prefix = f"test:{secrets.token_hex(4)}:"
    (a, la), (b, lb) = door(prefix), door(prefix)
    yield a, b
    keys = [key async for key in la.client.scan_iter(match=prefix + "*")]
    if keys:
        await la.client.delete(*keys)
    await la.close()
    await lb.close()


async def test_one_burst_for_every_process(two):
    a, b = two
    limit = Limit("key", rate=0.001, burst=20)
    entered = await asyncio.gather(
        *((a, b)[i % 2].enter(limit, "fin_k", f"biz{i}") for i in range(60))
    )
    admitted = [p for p in entered if not isinstance(p, Refused)]
    assert len(admitted) == 20  # not 20 per process
    assert all(p.reason == "rate" for p in entered if isinstance(p, Refused))
    for p in admitted:
        p.leave(0)
    # Many requests at once cross in few calls: one round trip per request at most.
    assert a.courier.calls + b.courier.calls < 60


async def test_in_flight_holds_across_processes_first_come_first_served(two):
    a, b = two
    limit = Limit("key", rate=1000, burst=1000)
    first = [await a.enter(limit, "k", "biz"), await b.enter(limit, "k", "biz")]
    order: list[str] = []

    async def waiter(name: str, d: SharedDoor) -> object:
        entered = await d.enter(limit, "k", "biz")
        order.append(name)
        return entered

    third = asyncio.create_task(waiter("third", b))
    await asyncio.sleep(0.05)
    fourth = asyncio.create_task(waiter("fourth", a))
    await asyncio.sleep(0.05)
    assert not third.done() and not fourth.done()  # 2 running, across both processes
    first[0].leave(0)  # a slot freed in process a: the first in line (in b) gets it
    passed = await asyncio.wait_for(third, 2)
    await asyncio.sleep(0.05)
    assert order == ["third"] and not fourth.done()
    first[1].leave(0)
    await asyncio.wait_for(fourth, 2)
    assert order == ["third", "fourth"]
    passed.leave(0)
    (await fourth).leave(0)


async def test_the_line_is_bounded_and_waits_run_out():
    prefix = f"test:{secrets.token_hex(4)}:"
    (a, la), (b, lb) = door(prefix, queue=1, wait_s=0.3), door(prefix, queue=1, wait_s=0.3)
    limit = Limit("key", rate=1000, burst=1000)
    held = [await a.enter(limit, "k", "biz"), await b.enter(limit, "k", "biz")]
    queued = asyncio.create_task(a.enter(limit, "k", "biz"))
    await asyncio.sleep(0.05)
    refused = await b.enter(limit, "k", "biz")  # the one place in line is taken
    assert isinstance(refused, Refused) and refused.reason == "busy"
    started = time.monotonic()
    timed_out = await queued
    assert isinstance(timed_out, Refused) and timed_out.reason == "busy"
    assert time.monotonic() - started < 1.0
    for p in held:
        p.leave(0)
    await la.close()
    await lb.close()


async def test_a_dead_process_slots_free_themselves_and_live_ones_are_renewed(monkeypatch):
    monkeypatch.setattr(courier_module, "LEASE_S", 0.4)
    from app.shared import door as door_module

    monkeypatch.setattr(door_module, "RENEW_S", 0.1)
    prefix = f"test:{secrets.token_hex(4)}:"
    (dead, ld), (alive, la) = door(prefix, in_flight=2), door(prefix, in_flight=2)
    limit = Limit("key", rate=1000, burst=1000)
    await alive.start()
    kept = await alive.enter(limit, "k", "biz")  # runs for longer than a lease
    await dead.enter(limit, "k", "biz")  # its process dies: never given back
    await ld.close()
    started = time.monotonic()
    later = await alive.enter(limit, "k", "biz")  # waits for the dead lease to expire
    assert not isinstance(later, Refused)
    assert 0.2 < time.monotonic() - started < 1.5
    await asyncio.sleep(0.6)  # the long request's lease was renewed: still one slot held
    another = await asyncio.wait_for(alive.enter(limit, "k", "biz2"), 1)  # other business free
    waiting = asyncio.create_task(alive.enter(limit, "k", "biz"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # kept and later still hold both of biz's slots
    kept.leave(0)
    (await asyncio.wait_for(waiting, 1)).leave(0)
    later.leave(0)
    another.leave(0)
    await alive.close()
    await la.close()


async def test_slots_still_running_come_back_after_redis_loses_them(monkeypatch):
    """Redis restarted empty: the next renewal puts the running requests' slots back."""
    from app.shared import door as door_module

    monkeypatch.setattr(door_module, "RENEW_S", 0.1)
    prefix = f"test:{secrets.token_hex(4)}:"
    (a, la), (b, lb) = door(prefix, in_flight=1), door(prefix, in_flight=1)
    limit = Limit("key", rate=1000, burst=1000)
    await a.start()
    running = await a.enter(limit, "k", "biz")
    keys = [key async for key in la.client.scan_iter(match=prefix + "*")]
    await la.client.delete(*keys)  # what an empty restart leaves
    await asyncio.sleep(0.3)  # a renewal or two
    waiting = asyncio.create_task(b.enter(limit, "k", "biz"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # the slot is held again: the other process waits
    running.leave(0)
    (await asyncio.wait_for(waiting, 1)).leave(0)
    await a.close()
    await la.close()
    await lb.close()


async def test_work_charged_in_one_process_is_owed_in_the_other(two):
    a, b = two
    limit = Limit("key", rate=1, burst=10)
    passed = await a.enter(limit, "k", "biz")
    assert passed.pay(0) == 0
    passed.leave(20)  # a big answer: the key now owes about 11 tokens
    await asyncio.sleep(0.05)
    refused = await b.enter(limit, "k", "biz")
    assert isinstance(refused, Refused) and refused.reason == "rate"
    assert refused.wait == pytest.approx(12, abs=1)
    assert await b.exhausted(limit, "k")


async def test_fails_open_to_the_process_own_limits_when_redis_does_not_answer(caplog):
    """Nothing listens on the port: the door answers from the process's own limits,
    quickly, counts each fallback and logs the outage once."""
    from tests.conftest import free_port

    shared, link = door("test:down:", url=f"redis://127.0.0.1:{free_port()}/0")
    limit = Limit("key", rate=1000, burst=1000)
    before = link_module.FALLBACKS.get("door", 0)
    started = time.monotonic()
    with caplog.at_level("ERROR", logger="finora.shared"):
        entered = [await shared.enter(limit, "k", f"biz{i}") for i in range(50)]
    assert time.monotonic() - started < 1.0  # one timeout, then no call until OUTAGE_S
    assert not any(isinstance(p, Refused) for p in entered)
    assert link_module.FALLBACKS["door"] - before == 50
    assert [r.message for r in caplog.records].count(
        "shared limits unavailable: each process uses its own until Redis answers"
    ) == 1
    for p in entered:
        p.leave(0)
    assert shared.local.slots.running("biz0") == 0
    await link.close()


def test_arguments_are_packed_by_type_and_value():
    """Found in review: the packed-number cache keyed 1, 1.0 and True alike."""
    from app.shared.courier import _pack

    assert _pack(1) == b"$1\r\n1\r\n" and _pack(1.0) == b"$3\r\n1.0\r\n"
    assert _pack(1) == b"$1\r\n1\r\n"  # still, once 1.0 is cached
    with pytest.raises(TypeError):
        _pack(True)
    assert _pack("é") == b"$2\r\n\xc3\xa9\r\n"  # the length in bytes, not characters
