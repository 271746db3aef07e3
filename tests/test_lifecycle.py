"""A real server's life: two worker processes racing, and a graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.conftest import _admin, running_server
from tests.test_api import FIND_OR_CREATE, LIST
from tests.test_cli import production_env

LIMITS = httpx.Limits(max_connections=300, max_keepalive_connections=300)


async def test_find_or_create_across_two_worker_processes(settings, app, tenant, raw_db):
    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0", FINORA_BUSINESS_IN_FLIGHT="0")
    variables = {"b": tenant.business_id, "input": {"email": "two.workers@race.ng"}}
    async with (
        running_server(env, "--workers", "2") as server,
        httpx.AsyncClient(base_url=server.url, headers=tenant.headers, limits=LIMITS) as http,
    ):
        # Both workers must be up: distinct process ids answer.
        responses = await asyncio.gather(
            *(
                http.post(
                    "/graphql", json={"query": FIND_OR_CREATE, "variables": variables}, timeout=30
                )
                for _ in range(100)
            )
        )
    payloads = [r.json()["data"]["findOrCreateCustomer"] for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert sum(p["created"] for p in payloads) == 1
    assert len({p["customer"]["id"] for p in payloads}) == 1
    rows = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1", tenant.business_id
    )
    assert rows == 1
    assert server.log.count("Started server process") >= 2  # two workers served


async def test_sigterm_drains_in_flight_requests(settings, app, database_url, tenant, gql):
    from tests.test_api import create

    for n in range(5):
        await create(gql, tenant, name=f"Drain {n}", email=f"drain{n}@x.ng")
    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0", FINORA_BUSINESS_IN_FLIGHT="0")
    body = {"query": LIST, "variables": {"b": tenant.business_id, "n": 100}}
    blocker = await _admin(database_url)
    async with (
        running_server(env) as server,
        httpx.AsyncClient(
            base_url=server.url, headers=tenant.headers, limits=LIMITS, timeout=60
        ) as http,
    ):
        transaction = blocker.transaction()
        await transaction.start()
        # Every request now waits in the database (or for a pooled connection).
        await blocker.execute("LOCK TABLE customer IN ACCESS EXCLUSIVE MODE")
        requests = [asyncio.create_task(http.post("/graphql", json=body)) for _ in range(200)]
        await asyncio.sleep(1.5)  # all 200 read by the server, none answered
        assert not any(r.done() for r in requests)
        server.process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        await asyncio.sleep(0.5)
        await transaction.rollback()  # let them finish
        responses = await asyncio.gather(*requests, return_exceptions=True)
        exited = await asyncio.to_thread(server.process.wait, 30)
        elapsed = time.monotonic() - stopping
    await blocker.close()
    failed = [r for r in responses if isinstance(r, Exception) or r.status_code != 200]
    assert failed == []  # 0 failed in-flight requests
    assert all(len(r.json()["data"]["customers"]) == 5 for r in responses)
    assert exited in (0, -signal.SIGTERM) and elapsed < 25  # within the configured 20 s
