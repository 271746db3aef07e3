"""The shared limits across real processes: two `finora serve` behind HAProxy
(tests/cluster.py, round robin), one Redis (the machine's, a prefix per test).

Each budget is checked by its effect where per-process limits would give twice as
much (a key's rate, the unknown-key guard, a shop connection, a business's in
flight), the persisted-query store by a hash learned on one process and found on
the other, and the fallback by freezing, killing and restarting a Redis of the
test's own under load."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import subprocess
import time
from collections import Counter

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.jobs.seed import seed_demo
from schema.persisted import sha256_hex
from tests.cluster import cluster
from tests.conftest import _admin, free_port, make_tenant
from tests.shops import shopify_customer, shopify_headers, shopify_json
from tests.test_shop_bounds import connect_over_http

REDIS = "redis://127.0.0.1:6379/0"
RATE = 20.0
BURST = 5
SECONDS = 5.0


def shared_env(**extra: str) -> dict[str, str]:
    return {
        "FINORA_REDIS_URL": REDIS,
        "FINORA_REDIS_PREFIX": f"test:{secrets.token_hex(4)}:",
        **extra,
    }


async def test_a_key_at_three_times_its_limit_gets_its_limit_across_processes(app, database_url):
    tenant = await make_tenant("Exact")
    env = shared_env(
        FINORA_RATE_LIMIT_PER_SECOND=str(RATE),
        FINORA_RATE_LIMIT_BURST=str(BURST),
        FINORA_RATE_LIMIT_WORK_PER_TOKEN="0",
    )
    async with cluster(database_url, servers=2, env=env) as c:
        async with httpx.AsyncClient(base_url=c.url, timeout=30) as http:
            statuses: Counter[int] = Counter()

            async def one() -> None:
                answer = await http.post(
                    "/graphql", json={"query": "{ __typename }"}, headers=tenant.headers
                )
                statuses[answer.status_code] += 1

            tasks = []
            started = time.monotonic()
            sent = 0
            while (now := time.monotonic()) - started < SECONDS:
                due = int((now - started) * RATE * 3) + 1
                while sent < due:
                    tasks.append(asyncio.create_task(one()))
                    sent += 1
                await asyncio.sleep(0.005)
            elapsed = time.monotonic() - started
            await asyncio.gather(*tasks)
        assert set(statuses) <= {200, 429}, statuses
        expected = BURST + RATE * elapsed
        assert abs(statuses[200] - expected) <= 0.1 * expected, (statuses, expected)
        served = [s.served() for s in c.servers]
        assert min(served) >= sent // 4, served  # both processes answered


async def test_a_hashed_query_learned_by_one_process_is_found_by_the_other(app, database_url):
    tenant, other = await make_tenant("Learns"), await make_tenant("Probes")
    query = f"query Q{secrets.token_hex(4)} {{ __typename }}"
    ext = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}
    async with cluster(database_url, servers=2, env=shared_env()) as c:
        first, second = (httpx.AsyncClient(base_url=s.url, timeout=30) for s in c.servers)
        async with first, second:
            learned = await first.post(
                "/graphql", json={"query": query, "extensions": ext}, headers=tenant.headers
            )
            assert learned.json() == {"data": {"__typename": "Query"}}, learned.text
            found = await second.post("/graphql", json={"extensions": ext}, headers=tenant.headers)
            assert found.json() == {"data": {"__typename": "Query"}}, found.text
            probe = await second.post("/graphql", json={"extensions": ext}, headers=other.headers)
            codes = [e["extensions"]["code"] for e in probe.json()["errors"]]
            assert codes == ["PERSISTED_QUERY_NOT_FOUND"]  # another business learns nothing


async def test_the_unknown_key_guard_is_one_budget_across_processes(app, database_url):
    env = shared_env(FINORA_UNKNOWN_KEYS_PER_SECOND="0.1", FINORA_UNKNOWN_KEYS_BURST="4")
    async with cluster(database_url, servers=2, env=env) as c:
        async with httpx.AsyncClient(base_url=c.url, timeout=30) as http:
            statuses = []
            for _ in range(12):  # round robin: six on each process
                made_up = {"Authorization": f"Bearer fin_{secrets.token_hex(16)}"}
                answer = await http.post(
                    "/graphql", json={"query": "{ __typename }"}, headers=made_up
                )
                statuses.append(answer.status_code)
        # Per process it would be four 401s each (eight); shared, four in all.
        assert statuses == [401] * 4 + [429] * 8, statuses
        assert min(s.served() for s in c.servers) >= 6


async def test_a_shop_connection_is_one_budget_across_processes(app, database_url):
    tenant = await make_tenant("Shared shop")
    env = shared_env(FINORA_SHOP_RATE="0.1", FINORA_SHOP_BURST="3")
    async with cluster(database_url, servers=2, env=env) as c:
        connection_id = await connect_over_http(c.url, tenant)
        path = f"/v1/shops/{connection_id}/webhooks"
        async with httpx.AsyncClient(base_url=c.url, timeout=30) as http:
            statuses = []
            for n in range(8):
                body = shopify_json(shopify_customer(id=700 + n, email=f"shared{n}@example.ng"))
                answer = await http.post(
                    path, content=body, headers=shopify_headers("customers/create", body)
                )
                statuses.append(answer.status_code)
        assert statuses == [200] * 3 + [429] * 5, statuses
        assert min(s.served(path) for s in c.servers) >= 4


async def test_admission_holds_the_business_in_flight_across_processes(app, database_url):
    """Two in flight for the business, whichever process runs them, while another
    business is about (alone, a business may borrow LONE_TIMES as many: app.http.slots).
    Redis's lease set of the business, what every process admits against, is sampled
    during the load; every request is answered, the rest having waited their turn."""
    tenant, other = await make_tenant("Held"), await make_tenant("About")
    env = shared_env(
        FINORA_BUSINESS_IN_FLIGHT="2",
        FINORA_BUSINESS_QUEUE="200",
        FINORA_RATE_LIMIT_PER_SECOND="10000",
        FINORA_RATE_LIMIT_BURST="10000",
    )
    running_key = f"{env['FINORA_REDIS_PREFIX']}run:{tenant.business_id}"
    conn = await _admin(database_url)
    try:
        await seed_demo(conn, business_id=tenant.business_id, count=100, show_progress=False)
    finally:
        await conn.close()

    def page(t) -> dict:
        return {
            "query": "query($b: ID!) { customers(businessId: $b, limit: 100) { id email } }",
            "variables": {"b": t.business_id},
        }

    redis = Redis.from_url(REDIS)
    limits = httpx.Limits(max_connections=40)
    async with (
        cluster(database_url, servers=2, env=env) as c,
        httpx.AsyncClient(base_url=c.url, timeout=60, limits=limits) as http,
    ):
        done = asyncio.Event()
        samples: list[int] = []

        async def sample() -> None:
            while not done.is_set():
                samples.append(await redis.zcard(running_key))
                await asyncio.sleep(0.001)

        async def about() -> None:  # the other business: a request every 0.3 s
            while not done.is_set():
                answer = await http.post("/graphql", json=page(other), headers=other.headers)
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(0.3)

        await http.post("/graphql", json=page(other), headers=other.headers)
        background = [asyncio.create_task(sample()), asyncio.create_task(about())]
        answers = await asyncio.gather(
            *(http.post("/graphql", json=page(tenant), headers=tenant.headers) for _ in range(120))
        )
        done.set()
        await asyncio.gather(*background)
        served = [s.served() for s in c.servers]
    await redis.aclose()
    assert {a.status_code for a in answers} == {200}, Counter(a.status_code for a in answers)
    assert all(len(a.json()["data"]["customers"]) == 100 for a in answers)
    assert max(samples) == 2, Counter(samples)  # reached, never passed
    assert Counter(samples)[2] >= 10, Counter(samples)  # held at the limit, not by luck
    assert min(served) >= 60, served  # both processes ran them


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop, kill and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        try:
            for _ in range(200):
                with contextlib.suppress(RedisError, OSError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.025)
            raise AssertionError("redis-server never answered")
        finally:
            await client.aclose()

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


async def test_redis_hanging_then_dying_mid_load_answers_every_request(app, database_url):
    """Redis frozen (SIGSTOP: every call times out), then killed (refused), then started
    again, while two processes serve a steady load: nothing fails, nothing waits much
    longer than the timeout, each process says once that it fell back and once that
    Redis is back, and counts its fallbacks."""
    tenant = await make_tenant("Outage")
    redis = OwnRedis()
    await redis.start()
    env = shared_env(
        FINORA_REDIS_URL=redis.url,
        FINORA_METRICS_TOKEN=METRICS_TOKEN,
        FINORA_RATE_LIMIT_PER_SECOND="100000",  # on, out of reach: every request takes a token
        FINORA_RATE_LIMIT_BURST="100000",
    )
    timings: list[tuple[float, int, float]] = []  # (sent at, status, seconds)
    try:
        async with (
            cluster(database_url, servers=2, env=env) as c,
            httpx.AsyncClient(base_url=c.url, timeout=30) as http,
        ):
            started = time.monotonic()

            async def client() -> None:
                while (sent := time.monotonic()) - started < OUTAGE_LOAD_S:
                    answer = await http.post(
                        "/graphql", json={"query": "{ __typename }"}, headers=tenant.headers
                    )
                    timings.append((sent - started, answer.status_code, time.monotonic() - sent))

            async def outage() -> None:
                await asyncio.sleep(1.0)
                redis.signal(signal.SIGSTOP)  # hangs: calls time out
                await asyncio.sleep(1.0)
                redis.kill()  # gone: connections refused
                await asyncio.sleep(1.0)
                await redis.start()  # back on the same port, empty

            await asyncio.gather(outage(), *(client() for _ in range(8)))
            await asyncio.sleep(1.5)  # past the quiet period: the next call finds it
            after = await http.post(
                "/graphql", json={"query": "{ __typename }"}, headers=tenant.headers
            )
            assert after.status_code == 200
            logs = [s.output() for s in c.servers]
            fallbacks = []
            for s in c.servers:
                scraped = await http.get(
                    f"{s.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
                )
                fallbacks.append(fallback_count(scraped.text))
    finally:
        redis.kill()
    statuses = Counter(status for _, status, _ in timings)
    assert set(statuses) == {200}, statuses
    during = sorted(seconds for at, _, seconds in timings if 1.0 <= at < 3.5)
    assert during, "no request during the outage"
    slowest = during[-1]
    p99 = during[int(0.99 * (len(during) - 1))]
    print(f"\noutage: {len(during)} requests, p99 {p99 * 1e3:.0f} ms, max {slowest * 1e3:.0f} ms")
    assert slowest < 1.0, f"a request waited {slowest:.2f} s during the outage"
    for log, count in zip(logs, fallbacks, strict=True):
        assert log.count("shared limits unavailable") == 1, log[-4000:]
        assert log.count("shared limits back") == 1, log[-4000:]
        assert log.index("shared limits unavailable") < log.index("shared limits back")
        assert count > 0


METRICS_TOKEN = "metrics-" + secrets.token_hex(8)
OUTAGE_LOAD_S = 4.5


def fallback_count(exposition: str) -> float:
    """The sum of finora_shared_fallbacks_total over its labels, from /metrics."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("finora_shared_fallbacks_total{")
    )
