"""Benchmark: a Shopify `customers/update` delivery costs at most 2x the server CPU
of an `updateCustomer` call making the same change.

    .venv/bin/python bench/shops.py

Why: a shop sends a delivery for every change made in its admin, so a shop's
customers cost the server what its deliveries cost.  A delivery does more than
the GraphQL call: one read of the connection (its secret opened), an HMAC over
the raw body, the origin check, a row remembering the delivery id (repeats),
an advisory lock, the link lookup and a comparison of every field the shop
sends.  That should stay within twice what `updateCustomer` costs for the
same change.

In a scratch database (on the server of DATABASE_URL, default the local
PostgreSQL; migrated with fresh keys, dropped at the end) it creates a business
and a write key with the real CLI and starts `finora serve` as in production,
with rate limits it cannot reach (the per-key one and the per-connection one of
shops: one key and one shop send everything).  Over GraphQL it creates a
Shopify connection (createShopConnection), then `FINORA_BENCH_CUSTOMERS`
customers, each by a first signed `customers/create` delivery (so each is
linked to its shop customer id).  Payloads and headers are the tests' (the
Shopify sample of tests/shops.py: a default address, a note, 27 keys).

Then rounds alternate between the two kinds on the same server (inbound first
in odd rounds, update first in even ones, so a drift of the machine is shared):

  inbound  POST /v1/shops/<connection id>/webhooks, `customers/update`, signed
           (X-Shopify-Hmac-Sha256 over the raw body), a fresh X-Shopify-Webhook-Id
           for each request
  update   `updateCustomer(id, input: {name, phone})` with the write key

Both change the same two fields (last name, so the name, and the phone) of
the same customers, in turn, flipping each customer between two sets of
values, so every request really changes something: after each round the
database must hold exactly one more UPDATED event with changedFields [name,
phone] per request, or the run stops.  Each round sends `FINORA_BENCH_REQUESTS`
requests over `FINORA_BENCH_CONCURRENCY` keep-alive connections (the
requests are built, and signed, before the round).  One round of each kind
comes first as a warm-up, not counted.

Measured for each round: the CPU time (user + system, from /proc) of the
server's processes and of its PostgreSQL backends (application_name finora)
over the round, divided by its requests; the requests per second and the
p50, p99 and max latency seen by the driver (this process, raw HTTP/1.1 on
asyncio sockets, sharing the machine's cores with the server and PostgreSQL;
`uptime` before and after says what else was running).  The summary sums the
rounds of each kind and prints the ratios, inbound / update, of p99 latency,
PostgreSQL CPU and server plus PostgreSQL CPU per request, then of server CPU
per request (the target is at most 2x); it exits 1 above that.

Knobs (environment): FINORA_BENCH_CUSTOMERS (200), FINORA_BENCH_REQUESTS (1000
a round), FINORA_BENCH_ROUNDS (4 of each kind), FINORA_BENCH_CONCURRENCY (8),
FINORA_BENCH_WARMUP (100 requests of each kind), FINORA_BENCH_WORKERS (1
Uvicorn worker).  A run takes about half a minute on two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bulk import Way, send_all, uptime  # noqa: E402
from bench.loadgen import HOST  # noqa: E402
from bench.rawhttp import fetch, graphql_request  # noqa: E402
from bench.servers import (  # noqa: E402
    BIN,
    UNREACHABLE_RATE,
    Server,
    command_line,
    finora,
    free_port,
    production_env,
    scratch_database,
)

# The tests' Shopify, as it sends (tests.shops imports nothing of the tests' set-up).
from tests.shops import (  # noqa: E402
    CREATE_CONNECTION,
    SHOPIFY_SECRET,
    shopify_customer,
    shopify_headers,
    shopify_json,
)

TARGET = 2.0
DOMAIN = "bench.myshopify.com"
#: Shopify's customer ids are past 2^53; these are too.
FIRST_SHOP_ID = 7_210_448_301_122
#: The two sets of (last name, phone) each customer flips between; the first is the
#: one `customers/create` gives (the sample's last name, its address's phone).
VALUES = (("Biller", "+2348031234567"), ("Biller-Okoro", "+2348039876543"))
UPDATE = (
    "mutation Update($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, "
    "input: $input) { customer { id } userErrors { code } } }"
)
KINDS = ("inbound", "update")
COLUMNS = (
    f"{'':<18}{'requests':>9}{'per s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    f"{'server CPU':>12}{'pg CPU':>8}  (ms per request)"
)


def knob(name: str, default: int, low: int = 1, high: int = 1_000_000) -> int:
    value = int(os.environ.get(name, default))
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low} and {high}")
    return value


def post_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def email_of(n: int) -> str:
    return f"shopper{n}@bench.example.ng"


def check_inbound(body: dict[str, Any]) -> int:
    if body != {"status": "applied"}:
        raise SystemExit(f"delivery answered {body}")
    return 1


def check_update(body: dict[str, Any]) -> int:
    payload = body["data"]["updateCustomer"]
    if payload["userErrors"] or payload["customer"] is None:
        raise SystemExit(f"updateCustomer answered {payload}")
    return 1


@dataclass
class Shop:
    """The connection, its customers (shop id -> directory id) and their current values."""

    port: int
    token: str
    connection_id: str
    customer_ids: dict[int, str]
    state: dict[int, int]
    cursor: int = 0

    @property
    def path(self) -> str:
        return f"/v1/shops/{self.connection_id}/webhooks"

    def delivery(self, topic: str, n: int, values: tuple[str, str]) -> bytes:
        last_name, phone = values
        body = shopify_json(
            shopify_customer(
                id=FIRST_SHOP_ID + n, email=email_of(n), last_name=last_name, phone=phone
            )
        )
        headers = shopify_headers(
            topic, body, secret=SHOPIFY_SECRET, domain=DOMAIN, webhook_id=str(uuid.uuid4())
        )
        return post_request(self.port, self.path, headers, body)

    def next_requests(self, kind: str, count: int) -> list[tuple[bytes, Any]]:
        """`count` requests of one kind, each flipping the next customer's values."""
        requests = []
        for i in range(self.cursor, self.cursor + count):
            n = i % len(self.customer_ids)
            self.state[n] ^= 1
            values = VALUES[self.state[n]]
            if kind == "inbound":
                requests.append((self.delivery("customers/update", n, values), check_inbound))
            else:
                last_name, phone = values
                variables = {
                    "id": self.customer_ids[n],
                    "input": {"name": f"Bob {last_name}", "phone": phone},
                }
                request = graphql_request(self.port, self.token, UPDATE, variables)
                requests.append((request, check_update))
        self.cursor += count
        return requests


async def graphql(port: int, token: str, query: str, variables: dict[str, Any]) -> Any:
    status, body = await fetch(port, graphql_request(port, token, query, variables))
    document = json.loads(body)
    if status != 200 or "errors" in document:
        raise SystemExit(f"GraphQL answered {status}: {body[:300]!r}")
    return document["data"]


async def prepare(
    port: int, token: str, business: str, customers: int, concurrency: int, db: asyncpg.Connection
) -> Shop:
    """The Shopify connection and its customers, each made by a `customers/create` delivery."""
    variables = {"b": business, "p": "SHOPIFY", "d": DOMAIN, "s": SHOPIFY_SECRET}
    payload = (await graphql(port, token, CREATE_CONNECTION, variables))["createShopConnection"]
    if payload["userErrors"]:
        raise SystemExit(f"createShopConnection: {payload['userErrors']}")
    shop = Shop(port, token, payload["connection"]["id"], {}, dict.fromkeys(range(customers), 0))
    creates = [
        (shop.delivery("customers/create", n, VALUES[0]), check_inbound) for n in range(customers)
    ]

    async def nothing() -> tuple[list[int], list[int]]:
        return [], []

    await send_all(port, creates, concurrency, Way(), nothing)
    rows = await db.fetch(
        "SELECT external_id, customer_id FROM customer_external_id WHERE connection_id = $1",
        shop.connection_id,
    )
    shop.customer_ids = {int(r["external_id"]) - FIRST_SHOP_ID: r["customer_id"] for r in rows}
    if sorted(shop.customer_ids) != list(range(customers)):
        raise SystemExit(f"{len(rows)} shop customers linked; {customers} were sent")
    return shop


_UPDATED = (
    "SELECT count(*) FILTER (WHERE changed_fields = ARRAY['name', 'phone']::text[]) AS both_, "
    "count(*) AS all_ FROM customer_event WHERE type = 'UPDATED'"
)


async def updated_events(db: asyncpg.Connection) -> tuple[int, int]:
    row = await db.fetchrow(_UPDATED)
    return row["both_"], row["all_"]


def add(total: Way, way: Way) -> None:
    total.customers += way.customers
    total.seconds += way.seconds
    total.server_cpu += way.server_cpu
    total.db_cpu += way.db_cpu
    total.latencies_ms += way.latencies_ms


def row(label: str, way: Way) -> str:
    return (
        f"{label:<18}{way.customers:>9}{way.rate:>8.0f}{way.p(0.5):>8.1f}{way.p(0.99):>8.1f}"
        f"{max(way.latencies_ms):>8.1f}{way.per_customer_ms(way.server_cpu):>12.2f}"
        f"{way.per_customer_ms(way.db_cpu):>8.2f}"
    )


async def run() -> None:
    import asyncpg

    from app.settings import parse_database_url

    customers = knob("FINORA_BENCH_CUSTOMERS", 200, 1, 100_000)
    requests = knob("FINORA_BENCH_REQUESTS", 1000)
    rounds = knob("FINORA_BENCH_ROUNDS", 4, 1, 100)
    concurrency = knob("FINORA_BENCH_CONCURRENCY", 8, 1, 256)
    warmup = knob("FINORA_BENCH_WARMUP", 100, 0)
    workers = knob("FINORA_BENCH_WORKERS", 1, 1, 16)
    knobs = " ".join(
        f"{name}={os.environ[name]}"
        for name in sorted(os.environ)
        if name.startswith("FINORA_BENCH_")
    )
    print("command:", (knobs + " " if knobs else "") + command_line([sys.executable, *sys.argv]))
    scratch = TemporaryDirectory(prefix="finora-bench-")
    port = free_port()
    service = Server(
        "service",
        [str(BIN / "finora"), "serve", "--host", HOST, "--port", str(port),
         "--workers", str(workers)],
        port,
        "finora",
        Path(scratch.name) / "service.log",
    )  # fmt: skip
    async with scratch_database() as scratch_db:
        env = await production_env(scratch_db)
        env["FINORA_SHOP_RATE"] = env["FINORA_SHOP_BURST"] = str(UNREACHABLE_RATE)
        db = await asyncpg.connect(**parse_database_url(scratch_db.url))  # type: ignore[arg-type]
        try:
            business = json.loads(finora(env, "business", "create", "Bench shops", "--json"))["id"]
            issued = json.loads(finora(env, "apikey", "create", "--business", business, "--json"))
            service.start(env)
            await service.wait_ready()
            shop = await prepare(port, issued["key"], business, customers, concurrency, db)

            async def pids() -> tuple[list[int], list[int]]:
                rows = await scratch_db.admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
                    scratch_db.name,
                    service.application_name,
                )
                return service.tree(), [r["pid"] for r in rows]

            print(
                f"PostgreSQL {await db.fetchval('SHOW server_version')}; {os.cpu_count()} cores; "
                f"{workers} worker(s); {customers} customers, each created and linked by a "
                f"customers/create delivery; {rounds} round(s) of each kind, alternating, "
                f"each {requests} requests over {concurrency} connections; warm-up {warmup} "
                "of each kind"
            )
            print("service:", command_line(service.argv))
            print("before:", uptime())
            for kind in KINDS:
                if warmup:
                    await send_all(port, shop.next_requests(kind, warmup), concurrency, Way(), pids)
            totals = {kind: Way() for kind in KINDS}
            print(COLUMNS)
            for number in range(1, rounds + 1):
                for kind in KINDS if number % 2 else reversed(KINDS):
                    batch = shop.next_requests(kind, requests)
                    before = await updated_events(db)
                    way = Way()
                    await send_all(port, batch, concurrency, way, pids)
                    after = await updated_events(db)
                    if after != (before[0] + requests, before[1] + requests):
                        raise SystemExit(
                            f"{kind}: {after[1] - before[1]} UPDATED events "
                            f"({after[0] - before[0]} of name and phone) for {requests} requests"
                        )
                    add(totals[kind], way)
                    print(row(f"round {number} {kind}", way), flush=True)
            print("after: ", uptime())
            print("checked: every request changed name and phone (one UPDATED event each)")
        finally:
            service.stop()
            await db.close()
            scratch.cleanup()
    print(f"\nall rounds\n{COLUMNS}")
    for kind in KINDS:
        print(row(kind, totals[kind]))
    inbound, update = totals["inbound"], totals["update"]
    server = inbound.per_customer_ms(inbound.server_cpu) / update.per_customer_ms(update.server_cpu)
    pg = inbound.per_customer_ms(inbound.db_cpu) / update.per_customer_ms(update.db_cpu)
    both = (inbound.server_cpu + inbound.db_cpu) / inbound.customers
    both /= (update.server_cpu + update.db_cpu) / update.customers
    print(
        f"\ninbound/updateCustomer p99: {inbound.p(0.99) / update.p(0.99):.2f}x; "
        f"PostgreSQL CPU per request: {pg:.2f}x; server + PostgreSQL: {both:.2f}x"
    )
    print(f"inbound/updateCustomer CPU per request: {server:.2f}x (target <= {TARGET:g}x)")
    if server > TARGET:
        raise SystemExit(
            f"FAIL: an inbound update costs {server:.2f}x the server CPU of updateCustomer"
        )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
