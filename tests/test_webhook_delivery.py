"""Deliveries by a real `finora worker` process to a real receiver on 127.0.0.1,
with faults: volume, a receiver that is down for a while, a worker killed with
SIGKILL mid-delivery, an endpoint that answers 410, retries that run out.

FINORA_TEST_WEBHOOK_EVENTS sets the size of the volume test (default 500; the
task's full size is 2000).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import GraphQL, Tenant, make_tenant
from tests.receiver import Receiver
from tests.workers import eventually, running_worker, start_worker, stop_worker, wait_started

VOLUME = int(os.environ.get("FINORA_TEST_WEBHOOK_EVENTS", "500"))
P95_LIMIT_S = 1.0

CREATE_ENDPOINT = """
mutation($b: ID!, $url: String!, $types: [CustomerEventType!]) {
  createWebhookEndpoint(businessId: $b, url: $url, eventTypes: $types) {
    endpoint { id enabled } secret userErrors { code field }
  }
}"""
CREATE = """
mutation($b: ID!, $i: CreateCustomerInput!) {
  createCustomer(businessId: $b, input: $i) { customer { id } userErrors { code } }
}"""
UPDATE = """
mutation($id: ID!, $i: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $i) { customer { id } userErrors { code } }
}"""
ENDPOINTS = "query($b: ID!) { webhookEndpoints(businessId: $b) { id enabled } }"
EVENTS = """
query($b: ID!, $after: String) {
  customerEvents(businessId: $b, first: 100, after: $after) {
    nodes { id type customerId } pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
async def hooked(app, raw_db) -> AsyncIterator[tuple[Tenant, Receiver]]:
    """A new business with a receiver of its own.

    A worker serves every business of the database: the endpoints other tests
    left (the fuzz test makes some) are switched off so only this receiver is in play.
    """
    await raw_db.execute("UPDATE webhook_endpoint SET enabled = false")
    tenant = await make_tenant("Hooked")
    receiver = Receiver().start()
    yield tenant, receiver
    receiver.stop()


async def register(gql: GraphQL, tenant: Tenant, receiver: Receiver) -> str:
    data = await gql.data(tenant, CREATE_ENDPOINT, {"b": tenant.business_id, "url": receiver.url})
    payload = data["createWebhookEndpoint"]
    assert payload["userErrors"] == []
    receiver.control(secret=payload["secret"])
    return payload["endpoint"]["id"]


async def mutate(gql: GraphQL, tenant: Tenant, query: str, values: dict) -> dict:
    """A mutation, sent again while the per-key rate limit refuses it (nothing was done)."""
    while True:
        response = await gql(tenant, query, values)
        if response.status_code != 429:
            break
        await asyncio.sleep(0.05)
    payload = response.json()
    assert response.status_code == 200 and "errors" not in payload, payload
    return payload["data"]


def variables(tenant: Tenant, n: int) -> dict:
    return {"b": tenant.business_id, "i": {"name": f"C {n}", "email": f"c{n}@x.ng"}}


async def create(gql: GraphQL, tenant: Tenant, n: int) -> str:
    data = await mutate(gql, tenant, CREATE, variables(tenant, n))
    return data["createCustomer"]["customer"]["id"]


async def committed(gql: GraphQL, tenant: Tenant) -> list[dict]:
    """Every event of the business, oldest first (the API's own walk)."""
    found, after = [], None
    while True:
        # Sent again while the key's rate limit refuses it: 2,000 events' worth of writes
        # leave the key owing for a while (its debt is not capped).
        data = await mutate(gql, tenant, EVENTS, {"b": tenant.business_id, "after": after})
        page = data["customerEvents"]
        found += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def assert_exactly_in_order(receiver: Receiver, events: list[dict]) -> None:
    """De-duplicated by webhook-id: exactly the committed events, in order per customer."""
    kept = receiver.first_arrivals()
    assert sorted(e.id for e in kept) == sorted(e["id"] for e in events)
    assert all(e.verified for e in kept)
    per_customer: dict[str, list[str]] = {}
    for entry in kept:
        per_customer.setdefault(entry.body["data"]["customerId"], []).append(entry.id)
    expected: dict[str, list[str]] = {}
    for event in events:
        expected.setdefault(event["customerId"], []).append(event["id"])
    assert per_customer == expected


async def test_volume_all_delivered_with_p95_under_a_second(gql, database_url, hooked):
    tenant, receiver = hooked
    await register(gql, tenant, receiver)
    sent_at: dict[str, float] = {}
    async with running_worker(database_url):
        counter = iter(range(VOLUME))

        async def producer() -> None:
            for n in counter:
                started = time.monotonic()  # before the commit: latencies are upper bounds
                data = await mutate(gql, tenant, CREATE, variables(tenant, n))
                sent_at[data["createCustomer"]["customer"]["id"]] = started

        await asyncio.gather(*(producer() for _ in range(4)))
        await eventually(lambda: len(receiver.first_arrivals()) >= VOLUME, timeout=120)
    arrivals = receiver.first_arrivals()
    latencies = sorted(e.at - sent_at[e.body["data"]["customerId"]] for e in arrivals)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"\n{VOLUME} deliveries: p50 {latencies[len(latencies) // 2]:.3f}s p95 {p95:.3f}s")
    assert len(arrivals) == VOLUME
    assert p95 < P95_LIMIT_S
    assert_exactly_in_order(receiver, await committed(gql, tenant))


async def test_receiver_down_for_a_while_then_back_loses_nothing(gql, database_url, hooked):
    tenant, receiver = hooked
    await register(gql, tenant, receiver)
    receiver.stop()  # down: connections are refused
    async with running_worker(database_url):
        ids = [await create(gql, tenant, n) for n in range(30)]
        for customer_id in ids[:10]:
            await mutate(gql, tenant, UPDATE, {"id": customer_id, "i": {"name": "Renamed"}})
        await asyncio.sleep(2)  # several failed attempts
        assert receiver.got() == []
        receiver.start()  # back, on the same port
        await eventually(lambda: len(receiver.first_arrivals()) >= 40, timeout=60)
    assert_exactly_in_order(receiver, await committed(gql, tenant))


async def test_worker_killed_mid_delivery_then_restarted(gql, database_url, hooked):
    tenant, receiver = hooked
    await register(gql, tenant, receiver)
    receiver.control(delay=0.01)  # slow enough to be caught mid-delivery
    ids = [await create(gql, tenant, n) for n in range(100)]
    for customer_id in ids[::2]:
        await mutate(gql, tenant, UPDATE, {"id": customer_id, "i": {"phone": "08012345678"}})
    worker = start_worker(database_url)
    try:
        await wait_started(worker)
        await eventually(lambda: receiver.requests() >= 50, timeout=60, every=0.005)
        worker.kill()
        stopped_at = len(receiver.first_arrivals())
        assert stopped_at < 150  # it was killed mid-way
    finally:
        await stop_worker(worker)
    async with running_worker(database_url):
        await eventually(lambda: len(receiver.first_arrivals()) >= 150, timeout=60)
    assert_exactly_in_order(receiver, await committed(gql, tenant))


async def test_two_workers_never_send_one_delivery_twice(gql, database_url, hooked):
    tenant, receiver = hooked
    await register(gql, tenant, receiver)
    second = await make_tenant("Hooked too")  # two endpoints: both workers have work
    other = Receiver().start()
    try:
        await register(gql, second, other)
        async with running_worker(database_url), running_worker(database_url):
            await each_sent_once(gql, ((tenant, receiver), (second, other)))
    finally:
        other.stop()


async def each_sent_once(
    gql: GraphQL, hooks: tuple[tuple[Tenant, Receiver], ...], count: int = 40
) -> None:
    """`count` changes of each business, while workers run: each of their deliveries
    arrives once, in the order of its business's events."""
    for n in range(count):
        for business, _ in hooks:
            await create(gql, business, n)
    await eventually(lambda: all(len(got.got()) >= count for _, got in hooks), timeout=60)
    await asyncio.sleep(0.5)  # room for a duplicate to show up
    for business, got in hooks:
        ids = [entry.id for entry in got.got()]
        assert len(ids) == len(set(ids)) == count  # each delivery sent once
        assert_exactly_in_order(got, await committed(gql, business))


async def test_410_disables_the_endpoint(gql, database_url, hooked, raw_db):
    tenant, receiver = hooked
    endpoint_id = await register(gql, tenant, receiver)
    receiver.control(status=410)
    async with running_worker(database_url):
        await create(gql, tenant, 1)
        await eventually(lambda: receiver.requests() >= 1)

        async def disabled() -> bool:
            data = await gql.data(tenant, ENDPOINTS, {"b": tenant.business_id})
            return data["webhookEndpoints"] == [{"id": endpoint_id, "enabled": False}]

        await eventually(disabled, timeout=10)
        await create(gql, tenant, 2)  # held for the disabled endpoint, not sent
        await asyncio.sleep(0.5)
    assert receiver.requests() == 1
    rows = await raw_db.fetch(
        "SELECT status, attempts, last_status FROM webhook_delivery WHERE endpoint_id = $1"
        " ORDER BY id",
        endpoint_id,
    )
    assert [tuple(r) for r in rows] == [("failed", 1, 410), ("pending", 0, None)]


async def test_retries_run_out_then_the_next_delivery_goes(gql, database_url, hooked, raw_db):
    tenant, receiver = hooked
    endpoint_id = await register(gql, tenant, receiver)
    receiver.control(status=500)
    async with running_worker(database_url, FINORA_WEBHOOK_RETRY_SECONDS="0.1,0.1"):
        await create(gql, tenant, 1)
        await eventually(lambda: receiver.requests() >= 3, timeout=10)
        await asyncio.sleep(0.5)
        assert receiver.requests() == 3  # "0.1,0.1": three attempts in all
        receiver.control(status=200)
        await create(gql, tenant, 2)
        await eventually(lambda: len(receiver.got()) == 1, timeout=10)
    rows = await raw_db.fetch(
        "SELECT d.status, d.attempts FROM webhook_delivery d JOIN customer_event e"
        " ON e.seq = d.event_id WHERE d.endpoint_id = $1 ORDER BY e.seq",
        endpoint_id,
    )
    assert [tuple(r) for r in rows] == [("failed", 3), ("delivered", 1)]


async def test_a_worker_started_without_finora_env_never_delivers_to_loopback(
    hooked, gql, database_url
):
    """An endpoint checked while its name was public may later resolve to 127.0.0.1:
    a worker with FINORA_ENV unset applies production's rules at delivery, and the
    local receiver is never called."""
    tenant, receiver = hooked
    await register(gql, tenant, receiver)  # accepted by the development API
    await mutate(
        gql, tenant, CREATE, {"b": tenant.business_id, "i": {"name": "L", "email": "l@x.ng"}}
    )
    async with running_worker(database_url, FINORA_ENV="") as worker:
        await eventually(lambda: "address refused" in worker.output(), timeout=20)
        await asyncio.sleep(0.5)
    assert receiver.requests() == 0
