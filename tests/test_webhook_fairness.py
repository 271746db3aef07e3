"""One business's webhooks cannot take the senders from another business.

The worker tests measure the *victim*: a business with one fast endpoint that
creates a customer every VICTIM_EVERY_S while an attacker business does its
worst against a real `finora worker` process with the default limits (4
senders, the default per-business delivery rate).  The attacker has 20
endpoints, the most a business may have, whose receivers either answer 200 just
under the 15 s timeout (they would hold every sender) or answer at once to a big
fan-out (bulk calls x 20 endpoints).  Every victim delivery must arrive within
VICTIM_BOUND_S of the start of the request that committed it; the machine is
shared, so a round that misses is measured once more and the second must pass.

FINORA_TEST_WEBHOOK_FAIRNESS_SECONDS sets how long a round lasts (default 16: longer
than one slow answer, so the attacker's senders are held the whole round).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from app.services.webhooks import MAX_ENDPOINTS
from app.settings import ConfigError, Settings
from app.webhooks import store
from app.webhooks.fairness import Shares
from app.webhooks.sender import TIMEOUT_S
from tests.conftest import GraphQL, Tenant, make_tenant
from tests.receiver import Receiver
from tests.test_bulk_api import BULK
from tests.test_webhook_delivery import (
    CREATE_ENDPOINT,
    committed,
    create,
    mutate,
    register,
    variables,
)
from tests.workers import eventually, running_worker

ROUND_S = float(os.environ.get("FINORA_TEST_WEBHOOK_FAIRNESS_SECONDS", "16"))
VICTIM_EVERY_S = 0.25
VICTIM_BOUND_S = 2.0
#: Just under the timeout: each answer counts as delivered, after holding a sender.
SLOW_S = TIMEOUT_S - 1


@dataclass
class Round:
    latencies: list[float]
    missing: int

    @property
    def worst(self) -> float:
        return float("inf") if self.missing else max(self.latencies)

    def __str__(self) -> str:
        if not self.latencies:
            return f"no victim delivery arrived ({self.missing} sent)"
        ordered = sorted(self.latencies)
        return (
            f"{len(ordered)} victim deliveries: p50 {ordered[len(ordered) // 2]:.3f} s,"
            f" max {ordered[-1]:.3f} s; {self.missing} not arrived"
        )


@pytest.fixture
async def hooked(app, raw_db) -> AsyncIterator[tuple[Tenant, Receiver]]:
    """A business with a receiver (the victim); every other endpoint of the database
    (earlier tests') is switched off, so only this test's are in play."""
    await raw_db.execute("UPDATE webhook_endpoint SET enabled = false")
    tenant = await make_tenant("Victim")
    receiver = Receiver().start()
    yield tenant, receiver
    receiver.stop()


@pytest.fixture
async def attacker(app) -> AsyncIterator[tuple[Tenant, Receiver]]:
    """A business with MAX_ENDPOINTS endpoints, all on one receiver process."""
    tenant = await make_tenant("Attacker")
    receiver = Receiver().start()
    yield tenant, receiver
    receiver.stop()  # first: the worker's requests in flight end at once


async def add_endpoints(gql: GraphQL, tenant: Tenant, port: int, n: int) -> list[str]:
    """`n` endpoints on one receiver process, told apart by their query string."""
    ids = []
    for i in range(n):
        url = f"http://127.0.0.1:{port}/hooks?endpoint={i}"
        data = await gql.data(tenant, CREATE_ENDPOINT, {"b": tenant.business_id, "url": url})
        assert data["createWebhookEndpoint"]["userErrors"] == []
        ids.append(data["createWebhookEndpoint"]["endpoint"]["id"])
    return ids


async def bulk_create(gql: GraphQL, tenant: Tenant, start: int, rows: int) -> None:
    inputs = [variables(tenant, n)["i"] for n in range(start, start + rows)]
    data = await mutate(gql, tenant, BULK, {"b": tenant.business_id, "inputs": inputs})
    assert data["findOrCreateCustomers"]["createdCount"] == rows


async def measure(gql: GraphQL, tenant: Tenant, receiver: Receiver, first: int) -> Round:
    """Create a customer every VICTIM_EVERY_S for ROUND_S; time each one's delivery."""
    sent_at: dict[str, float] = {}
    n, ends = first, time.monotonic() + ROUND_S
    while time.monotonic() < ends:
        started = time.monotonic()  # before the commit: latencies are upper bounds
        sent_at[await create(gql, tenant, n)] = started
        n += 1
        await asyncio.sleep(max(0.0, started + VICTIM_EVERY_S - time.monotonic()))
    arrived: dict[str, float] = {}

    def all_arrived() -> bool:
        for entry in receiver.first_arrivals():
            arrived.setdefault(entry.body["data"]["customerId"], entry.at)
        return sent_at.keys() <= arrived.keys()

    with contextlib.suppress(AssertionError):  # what has not arrived by then is missing
        await eventually(all_arrived, timeout=VICTIM_BOUND_S + 1)
    latencies = [arrived[c] - at for c, at in sent_at.items() if c in arrived]
    return Round(latencies, len(sent_at) - len(latencies))


async def victim_rounds(gql: GraphQL, tenant: Tenant, receiver: Receiver) -> Round:
    """One round, and a second if the first missed the bound; the last is returned."""
    first = await measure(gql, tenant, receiver, 0)
    print(f"\nround 1: {first}")
    if first.worst < VICTIM_BOUND_S:
        return first
    second = await measure(gql, tenant, receiver, 10_000)
    print(f"round 2: {second}")
    return second


async def test_slow_endpoints_of_one_business_do_not_delay_another(
    gql, database_url, hooked, attacker
):
    """20 endpoints answering 200 after 14 s (timeout 15 s), each with 25 deliveries
    (one 25-row bulk call): without a bound they would hold all 4 senders for minutes."""
    (victim_tenant, victim_receiver), (bad, slow) = hooked, attacker
    await register(gql, victim_tenant, victim_receiver)
    await add_endpoints(gql, bad, slow.port, MAX_ENDPOINTS)
    slow.control(delay=SLOW_S)
    await bulk_create(gql, bad, 0, 25)  # 500 slow deliveries, due before the worker starts
    async with running_worker(database_url):
        await eventually(lambda: slow.requests() >= 3, timeout=10)  # senders are held
        result = await victim_rounds(gql, victim_tenant, victim_receiver)
        slow.stop()  # the requests in flight end now, so the worker stops at once
    assert result.missing == 0 and result.worst < VICTIM_BOUND_S, str(result)


async def test_a_big_fan_out_of_one_business_does_not_delay_another(
    gql, database_url, hooked, attacker
):
    """Bulk calls to a business with 20 fast endpoints (100 rows: 2,000 deliveries a
    call), one before and one every quarter round during the victim's rounds; the
    attacker's own deliveries keep to its rate (a burst, then `rate` a second)."""
    (victim_tenant, victim_receiver), (bad, fast) = hooked, attacker
    defaults = Settings.from_env({})
    await register(gql, victim_tenant, victim_receiver)
    await add_endpoints(gql, bad, fast.port, MAX_ENDPOINTS)
    await bulk_create(gql, bad, 0, 100)
    calls = asyncio.Event()

    async def fan_out() -> None:
        start = 100
        while not calls.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(calls.wait(), ROUND_S / 4)
            await bulk_create(gql, bad, start, 100)
            start += 100

    async with running_worker(database_url):
        started = time.monotonic()
        more = asyncio.ensure_future(fan_out())
        try:
            result = await victim_rounds(gql, victim_tenant, victim_receiver)
        finally:
            calls.set()
            await more
        made, elapsed = fast.requests(), time.monotonic() - started
    allowed = defaults.webhook_business_burst + defaults.webhook_business_rate * elapsed
    print(f"attacker: {made} deliveries in {elapsed:.1f} s (its budget: {allowed:.0f})")
    assert result.missing == 0 and result.worst < VICTIM_BOUND_S, str(result)
    assert made <= allowed


async def test_a_business_over_its_rate_is_delayed_never_dropped(gql, database_url, hooked):
    """40 a second with bursts of 10, 120 deliveries: all arrive, once each, in event
    order per endpoint, no more than the budget in any second."""
    tenant, receiver = hooked
    rate, burst, endpoints, rows = 40, 10, 3, 40
    await add_endpoints(gql, tenant, receiver.port, endpoints)
    await bulk_create(gql, tenant, 0, rows)
    env = {"FINORA_WEBHOOK_BUSINESS_RATE": str(rate), "FINORA_WEBHOOK_BUSINESS_BURST": str(burst)}
    async with running_worker(database_url, **env):
        await eventually(lambda: len(receiver.got()) >= endpoints * rows, timeout=30)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    got = receiver.got()
    events = [event["id"] for event in await committed(gql, tenant)]
    per_endpoint: dict[str, list[str]] = {}
    for entry in got:
        per_endpoint.setdefault(entry.path, []).append(entry.id)
    assert len(per_endpoint) == endpoints
    assert all(ids == events for ids in per_endpoint.values())  # once each, in order
    times = [entry.at for entry in got]
    in_a_second = max(sum(1 for t in times if at <= t < at + 1) for at in times)
    assert in_a_second <= burst + rate + 1
    assert times[-1] - times[0] >= (len(times) - burst) / rate * 0.9


def test_a_business_holds_all_senders_but_one():
    shares = Shares(senders=4, rate=0, burst=0)
    with shares.hold("biz_a"), shares.hold("biz_a"):
        assert shares.may_take("biz_a") and shares.barred() == []
        with shares.hold("biz_a"):
            assert not shares.may_take("biz_a") and shares.barred() == ["biz_a"]
            assert shares.may_take("biz_b")
        assert shares.held == {"biz_a": 2}
    assert shares.held == {}
    assert Shares(senders=1, rate=0, burst=0).most == 1  # one sender: none to leave


def test_a_business_out_of_tokens_waits_for_a_chunk_of_them():
    shares = Shares(senders=4, rate=100, burst=5)
    assert [shares.spend("biz_a") for _ in range(6)] == [True] * 5 + [False]
    assert shares.barred() == ["biz_a"] and not shares.may_take("biz_a")
    assert shares.may_take("biz_b") and shares.spend("biz_b")  # its own budget
    wait = shares.resumes_in()
    assert 0.03 < wait <= 0.05  # 5 tokens (min(burst, rate x RESUME_S)) at 100 a second
    time.sleep(wait)
    assert shares.barred() == [] and shares.resumes_in() == float("inf")
    assert [shares.spend("biz_a") for _ in range(4)] == [True] * 4
    assert all(Shares(4, rate=0, burst=0).spend("biz_a") for _ in range(1000))  # 0: off


async def test_due_endpoints_take_turns_by_business(gql, hooked, raw_db):
    """A business with 3 endpoints and one with 1, all due: the business served least
    recently first, one endpoint per business per turn; fewest senders held first."""
    small, _ = hooked
    big = await make_tenant("Big")
    b1, b2, b3 = await add_endpoints(gql, big, 9, 3)  # port 9: no worker runs here
    (s1,) = await add_endpoints(gql, small, 9, 1)
    served_minutes_ago = {b1: 1, b2: 120, b3: 60, s1: 10}
    for endpoint_id, minutes in served_minutes_ago.items():
        await raw_db.execute(
            "UPDATE webhook_endpoint SET served_at = now() - make_interval(mins => $2)"
            " WHERE id = $1",
            endpoint_id,
            minutes,
        )
    await bulk_create(gql, big, 0, 1)
    await bulk_create(gql, small, 0, 1)
    ours = set(served_minutes_ago)

    async def due(**fairness: object) -> list[str]:
        rows = await store.due_endpoints(raw_db, 1000, **fairness)  # type: ignore[arg-type]
        return [endpoint_id for endpoint_id, _ in rows if endpoint_id in ours]

    # big was served a minute ago (b1), small ten: small's turn, then big's one by one
    assert await due() == [s1, b2, b3, b1]
    assert await due(held={small.business_id: 1}) == [b2, b3, b1, s1]
    assert await due(barred=[big.business_id]) == [s1]


def test_the_delivery_rate_comes_from_the_environment():
    defaults = Settings.from_env({})
    assert (defaults.webhook_business_rate, defaults.webhook_business_burst) == (100, 500)
    env = {"FINORA_WEBHOOK_BUSINESS_RATE": "0", "FINORA_WEBHOOK_BUSINESS_BURST": "20"}
    settings = Settings.from_env(env)
    assert (settings.webhook_business_rate, settings.webhook_business_burst) == (0, 20)
    with pytest.raises(ConfigError, match="FINORA_WEBHOOK_BUSINESS_RATE"):
        Settings.from_env({"FINORA_WEBHOOK_BUSINESS_RATE": "-1"})
