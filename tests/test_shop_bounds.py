"""Shop deliveries under pressure, on real `finora serve` processes: races over two
workers, the per-connection rate limit, forged floods, bodies over the limit, and
another business's reads while a shop bursts (the victim is what is measured)."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest

from app.shops import deliveries
from bench.fairness import VICTIM_QUERY, Connection, victim
from bench.rawhttp import graphql_request
from tests.conftest import _admin, make_tenant, running_server
from tests.shops import (
    BIG_ID,
    CREATE_CONNECTION,
    SHOP_DOMAIN,
    SHOPIFY_SECRET,
    connect,
    shopify_customer,
    shopify_headers,
    shopify_json,
    sign,
)
from tests.test_cli import production_env
from tests.test_fairness import ATTEMPTS

#: Seconds the victim is measured during the burst (and idle before it).
SECONDS = float(os.environ.get("FINORA_SHOP_BURST_SECONDS", "2"))


async def connect_over_http(url: str, tenant) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(
            "/graphql",
            json={
                "query": CREATE_CONNECTION,
                "variables": {
                    "b": tenant.business_id,
                    "p": "SHOPIFY",
                    "d": SHOP_DOMAIN,
                    "s": SHOPIFY_SECRET,
                },
            },
            headers=tenant.headers,
        )
    payload = answer.json()["data"]["createShopConnection"]
    assert payload["userErrors"] == [], payload
    return payload["connection"]["id"]


def _raw_delivery(port: int, connection_id: str, topic: str, body: bytes, **kw) -> bytes:
    headers = shopify_headers(topic, body, **kw)
    lines = [f"POST /v1/shops/{connection_id}/webhooks HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_one_new_shopper_racing_over_two_workers_is_one_customer(app, database_url):
    tenant = await make_tenant("Race over workers")
    env = production_env(DATABASE_URL=database_url, FINORA_SHOP_RATE="0")
    async with running_server(env, "--workers", "2") as server:
        connection_id = await connect_over_http(server.url, tenant)
        slowest = 0.0
        async with httpx.AsyncClient(
            base_url=server.url, limits=httpx.Limits(max_connections=16)
        ) as http:
            for round_ in range(4):
                shopper = BIG_ID + 1000 + round_
                email = f"racer{round_}@example.ng"

                async def deliver(n: int, shopper: int = shopper, email: str = email) -> int:
                    nonlocal slowest
                    if n % 2:
                        topic, payload = "customers/create", shopify_customer(shopper, email)
                    else:
                        topic = "orders/create"
                        payload = {
                            "id": 5000 + n,
                            "email": email,
                            "customer": shopify_customer(shopper, email),
                        }
                    body = shopify_json(payload)
                    started = time.monotonic()
                    answer = await http.post(
                        f"/v1/shops/{connection_id}/webhooks",
                        content=body,
                        headers=shopify_headers(topic, body),
                    )
                    slowest = max(slowest, time.monotonic() - started)
                    return answer.status_code

                assert set(await asyncio.gather(*(deliver(n) for n in range(16)))) == {200}
        # Well within Shopify's 5 s, even sixteen at once on a 2-core machine.
        assert slowest < 2.0, f"slowest delivery answered in {slowest:.2f} s"
    conn = await _admin(database_url)
    try:
        rows = await conn.fetch(
            "SELECT l.external_id, count(DISTINCT c.id) AS customers, count(*) AS links "
            "FROM customer c JOIN customer_external_id l ON l.customer_id = c.id "
            "WHERE c.business_id = $1 GROUP BY l.external_id",
            tenant.business_id,
        )
        total = await conn.fetchval(
            "SELECT count(*) FROM customer WHERE business_id = $1", tenant.business_id
        )
    finally:
        await conn.close()
    assert total == 4
    assert sorted((r["customers"], r["links"]) for r in rows) == [(1, 1)] * 4


async def test_the_connection_rate_limit_and_a_forged_flood_that_cannot_spend_it(app, database_url):
    tenant = await make_tenant("Rate limited shop")
    env = production_env(DATABASE_URL=database_url, FINORA_SHOP_RATE="1", FINORA_SHOP_BURST="3")
    async with running_server(env) as server:
        connection_id = await connect_over_http(server.url, tenant)
        path = f"/v1/shops/{connection_id}/webhooks"
        async with httpx.AsyncClient(base_url=server.url) as http:
            # A forged flood first: 401s, none of them charged to the connection.
            forged = shopify_json(shopify_customer(email="forged@example.ng"))
            headers = shopify_headers("customers/create", forged, secret="guessed-secret")
            statuses = [
                (await http.post(path, content=forged, headers=headers)).status_code
                for _ in range(30)
            ]
            assert set(statuses) == {401}
            answers = []
            for n in range(5):
                body = shopify_json(shopify_customer(id=100 + n, email=f"burst{n}@example.ng"))
                answers.append(
                    await http.post(
                        path, content=body, headers=shopify_headers("customers/create", body)
                    )
                )
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3].headers["Retry-After"] == "1"
        # Another API route is not charged by the shop: the key's budget is its own.
        async with httpx.AsyncClient(base_url=server.url) as http:
            listed = await http.post(
                "/graphql",
                json={
                    "query": "query($b: ID!) { customers(businessId: $b) { email } }",
                    "variables": {"b": tenant.business_id},
                },
                headers=tenant.headers,
            )
    assert sorted(c["email"] for c in listed.json()["data"]["customers"]) == [
        "burst0@example.ng",
        "burst1@example.ng",
        "burst2@example.ng",
    ]


async def test_a_forged_flood_costs_one_hmac_each_and_writes_nothing(
    gql, client, tenant, raw_db, monkeypatch
):
    shop = await connect(gql, client, tenant)
    calls = 0
    real = deliveries.signature_of

    def counted(secret: str, body: bytes) -> str:
        nonlocal calls
        calls += 1
        return real(secret, body)

    monkeypatch.setattr(deliveries, "signature_of", counted)
    body = shopify_json(shopify_customer())
    for n in range(200):
        headers = shopify_headers("customers/create", body, secret=f"guess-{n}")
        assert (await shop.post(body, headers)).status_code == 401
    assert calls == 200
    counts = await raw_db.fetchrow(
        "SELECT (SELECT count(*) FROM customer WHERE business_id = $1) AS customers, "
        "(SELECT count(*) FROM shop_delivery WHERE connection_id = $2) AS deliveries, "
        "(SELECT last_delivery_at FROM shop_connection WHERE id = $2) AS last",
        tenant.business_id,
        shop.id,
    )
    assert dict(counts) == {"customers": 0, "deliveries": 0, "last": None}


async def test_a_body_over_one_megabyte_is_refused_before_it_is_read_whole(gql, client, tenant):
    shop = await connect(gql, client, tenant)
    sent = 0

    async def stream():
        nonlocal sent
        for _ in range(64):  # 4 MiB in 64 KiB chunks, no Content-Length (chunked)
            sent += 1
            yield b"x" * 65536

    answer = await client.post(
        shop.path, content=stream(), headers={"X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, b"")}
    )
    assert answer.status_code == 413
    assert sent < 20  # stopped soon after the first megabyte
    declared = await client.post(shop.path, content=b"{}", headers={"Content-Length": "5000000"})
    assert declared.status_code == 413


@pytest.mark.parametrize("rate", ["", "0"], ids=["default-limit", "no-limit"])
async def test_another_business_is_served_while_a_shop_bursts(app, database_url, rate):
    """The shop sends a burst of new shoppers, 8 at a time, under the default limits
    (and with none: every delivery applied); business B's `customers(limit: 20)` keeps
    its median within 3x of idle and its slowest answer under 250 ms (the fairness
    issue's targets), in one of ATTEMPTS measurements, as tests/test_fairness.py does:
    on 2 shared cores a spike of the machine can hit one of them."""
    shop_owner, b = await make_tenant("Bursting shop"), await make_tenant("Victim B")
    conn = await _admin(database_url)
    try:
        from app.jobs.seed import seed_demo

        await seed_demo(conn, business_id=b.business_id, count=25, seed=3, show_progress=False)
    finally:
        await conn.close()
    env = production_env(DATABASE_URL=database_url, FINORA_SHOP_RATE=rate)
    async with running_server(env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        connection_id = await connect_over_http(server.url, shop_owner)
        victim_request = graphql_request(port, b.key, VICTIM_QUERY, {"b": b.business_id})
        await victim(port, victim_request, 1.0)  # warm up
        numbers = iter(range(10**9))
        summaries = []
        for _ in range(ATTEMPTS):  # a shared 2-core machine: a spike may hit one attempt
            idle = await victim(port, victim_request, SECONDS / 2)
            stop = asyncio.Event()
            statuses: dict[int, int] = {}

            async def burst(stop: asyncio.Event = stop, statuses: dict = statuses) -> None:
                link = Connection(port)
                try:
                    while not stop.is_set():
                        n = next(numbers)
                        body = shopify_json(
                            shopify_customer(id=10**12 + n, email=f"s{n}@example.ng")
                        )
                        status, _ = await link.send(
                            _raw_delivery(port, connection_id, "customers/create", body)
                        )
                        statuses[status] = statuses.get(status, 0) + 1
                finally:
                    link.close()

            tasks = [asyncio.create_task(burst()) for _ in range(8)]
            await asyncio.sleep(0.5)
            try:
                attacked = await victim(port, victim_request, SECONDS)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
            summary = (
                f"idle median {idle.median_ms:.2f} ms, burst median {attacked.median_ms:.2f} ms, "
                f"p99 {attacked.ms(0.99):.2f} ms, max {attacked.max_ms:.2f} ms; shop: {statuses}"
            )
            print(summary)
            summaries.append(summary)
            assert statuses.get(200, 0) >= 200 and set(statuses) <= {200, 429}, summary
            assert set(attacked.statuses) == {200}, summary
            if attacked.median_ms <= 3 * idle.median_ms and attacked.max_ms < 250:
                break
        else:
            raise AssertionError("; ".join(summaries))


@pytest.mark.parametrize("topic", ["customers/create", "orders/create"])
async def test_ids_beyond_2_to_the_53_stay_exact_strings(gql, client, tenant, topic):
    shop = await connect(gql, client, tenant)
    shopper = 2**53 + 1  # a float would read it as 2^53
    customer = shopify_customer(id=shopper, email="exact@example.ng")
    payload = customer if topic == "customers/create" else {"id": 2**60, "customer": customer}
    assert (await shop.shopify(topic, payload)).status_code == 200
    found = await gql.data(
        tenant,
        "query($c: ID!, $x: String!) { customerByExternalId(connectionId: $c, externalId: $x) "
        "{ externalIds { id } } }",
        {"c": shop.id, "x": str(shopper)},
    )
    assert found["customerByExternalId"]["externalIds"] == [{"id": "9007199254740993"}]
