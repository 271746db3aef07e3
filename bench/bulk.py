"""Benchmark: bulk find-or-create against single calls, on the same server, in one run.

    .venv/bin/python bench/bulk.py [--customers 10000] [--batch 500] [--single 2000]
                                   [--connections 8] [--bulk-connections 2]
                                   [--rounds 2] [--workers 1]

In a scratch database (on the server of DATABASE_URL, default the local
PostgreSQL; dropped at the end) it creates a business and an API key with the
real CLI and starts `finora serve` (production settings, a rate limit it cannot
reach).  Each round then creates new customers two ways, one after the other:

  single  `findOrCreateCustomer`, one customer per request, over `--connections`
          keep-alive connections in parallel (8: a sync job with a worker pool)
  bulk    `findOrCreateCustomers`, `--batch` customers per request, over
          `--bulk-connections` connections (2: one call is encrypted while the
          database writes the other)

Every customer is new (realistic people from app.jobs.seed: name, email, phone),
so every row is an insert with its encryption, blind index, search tokens and
GIN index entries.  Every answer is checked (200, no errors, `created: true`),
and the database must hold exactly the customers sent.  The driver is this
process (raw HTTP/1.1 on asyncio sockets), sharing the machine with the server
and PostgreSQL; `uptime` before and after says what else was running.

Prints customers per second of each way, summed over the rounds, and the ratio
bulk / single (the target is at least 10x).

With `--together N`, it then sends N more single calls over `--connections`
connections twice: alone, then while bulk calls run over `--bulk-connections`
(new customers, 500 a call, until the single calls are done), and prints the
single calls' latency both ways: what a shop's bulk sync costs the other
callers (their share of the database, and any index maintenance they are left
to do, such as merging a GIN pending list that a bulk insert filled).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import HOST, read_response  # noqa: E402
from bench.procstats import cpu_seconds_between, cpu_ticks  # noqa: E402
from bench.rawhttp import graphql_request  # noqa: E402
from bench.servers import BIN, Server, command_line, finora, free_port  # noqa: E402

UNREACHABLE_RATE = 1_000_000_000
REQUEST_TIMEOUT_S = 120.0
SINGLE = (
    "mutation One($b: ID!, $input: FindOrCreateCustomerInput!) { findOrCreateCustomer("
    "businessId: $b, input: $input) { customer { id } created userErrors { code } } }"
)
BULK = (
    "mutation Many($b: ID!, $inputs: [FindOrCreateCustomerInput!]!) { findOrCreateCustomers("
    "businessId: $b, inputs: $inputs) { results { index created customer { id } "
    "userErrors { code } } createdCount failedCount } }"
)


@dataclass
class Way:
    """One way of creating customers, summed over rounds."""

    customers: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def per_customer_ms(self, cpu_seconds: float) -> float:
        return 1000 * cpu_seconds / self.customers if self.customers else 0.0

    @property
    def rate(self) -> float:
        return self.customers / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def people(seed: int, start: int, stop: int) -> list[dict[str, Any]]:
    from app.jobs.seed import people as seeded

    return [
        {"email": p["email"], "name": p["name"], **({"phone": p["phone"]} if p["phone"] else {})}
        for p in seeded(seed, start, stop)
    ]


def check_single(body: dict[str, Any]) -> int:
    payload = body["data"]["findOrCreateCustomer"]
    if payload["userErrors"] or not payload["created"]:
        raise SystemExit(f"single call did not create: {payload}")
    return 1


def check_bulk(body: dict[str, Any], rows: int) -> int:
    payload = body["data"]["findOrCreateCustomers"]
    if payload["createdCount"] != rows or payload["failedCount"]:
        raise SystemExit(f"bulk call created {payload['createdCount']} of {rows}")
    return rows


async def send_all(
    port: int,
    requests: list[tuple[bytes, Any]],
    connections: int,
    way: Way,
    pids: Any,
    until: asyncio.Event | None = None,
) -> None:
    """Send every request once over `connections` keep-alive connections; check each answer.

    `pids` gives (server processes, PostgreSQL backends) whose CPU is counted.
    With `until`, requests stop being sent once it is set."""
    queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while not queue.empty() and not (until is not None and until.is_set()):
                request, check = queue.get_nowait()
                started = time.perf_counter()
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    writer.write(request)
                    status, body, _ = await read_response(reader)
                way.latencies_ms.append((time.perf_counter() - started) * 1000)
                parsed = json.loads(body)
                if status != 200 or "errors" in parsed:
                    raise SystemExit(f"HTTP {status}: {body[:300]!r}")
                way.customers += check(parsed)
        finally:
            writer.close()

    server_pids, db_pids = await pids()
    server_before, db_before = cpu_ticks(server_pids), cpu_ticks(db_pids)
    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    way.seconds += time.perf_counter() - began
    server_pids, db_pids = await pids()  # backends opened meanwhile count whole
    way.server_cpu += cpu_seconds_between(server_before, cpu_ticks(server_pids))
    way.db_cpu += cpu_seconds_between(db_before, cpu_ticks(db_pids))


async def together(
    port: int, token: str, business: str, offset: int, args: argparse.Namespace, pids: Any
) -> int:
    """Single calls alone, then beside bulk calls; prints their latency.  Returns the new offset."""

    def singles(start: int) -> list[tuple[bytes, Any]]:
        return [
            (graphql_request(port, token, SINGLE, {"b": business, "input": p}), check_single)
            for p in people(7, start, start + args.together)
        ]

    alone, beside, bulk = Way(), Way(), Way()
    lock = asyncio.Lock()

    async def one_at_a_time() -> Any:  # both sides read pids over one admin connection
        async with lock:
            return await pids()

    await send_all(port, singles(offset), args.connections, alone, one_at_a_time)
    offset += args.together
    calls = singles(offset)
    offset += args.together
    batches = []
    for start in range(offset, offset + 40 * args.batch, args.batch):
        rows = people(7, start, start + args.batch)
        request = graphql_request(port, token, BULK, {"b": business, "inputs": rows})
        batches.append((request, functools.partial(check_bulk, rows=len(rows))))
    done = asyncio.Event()

    async def single_side() -> None:
        try:
            await send_all(port, calls, args.connections, beside, one_at_a_time)
        finally:
            done.set()

    await asyncio.gather(
        single_side(),
        send_all(port, batches, args.bulk_connections, bulk, one_at_a_time, until=done),
    )
    print(
        f"\nsingle calls alone and beside bulk calls ({args.together} each, "
        f"{args.connections} connections; bulk: {bulk.customers} customers meanwhile, "
        f"{bulk.rate:.0f}/s)\n{'':<14}{'per s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}"
    )
    for label, way in (("alone", alone), ("beside bulk", beside)):
        print(
            f"{label:<14}{way.rate:>9.0f}{way.p(0.5):>9.1f}{way.p(0.9):>9.1f}"
            f"{way.p(0.99):>9.1f}{max(way.latencies_ms):>9.1f}"
        )
    return offset + bulk.customers


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    from app.crypto.keys import generate_env_lines
    from app.db.migrate import migrate
    from app.db.orm import with_database
    from app.settings import parse_database_url

    async def connect(url: str) -> asyncpg.Connection:
        return await asyncpg.connect(**parse_database_url(url))  # type: ignore[arg-type]

    print("command:", command_line([sys.executable, *sys.argv]))
    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"finora_bench_{uuid.uuid4().hex[:8]}"
    url = with_database(server_url, name)
    keys = dict(line.split("=", 1) for line in generate_env_lines())
    env = {
        **os.environ,
        **keys,
        "DATABASE_URL": url,
        "FINORA_ENV": "production",
        "FINORA_RATE_LIMIT_PER_SECOND": str(UNREACHABLE_RATE),
        "FINORA_RATE_LIMIT_BURST": str(UNREACHABLE_RATE),
    }
    env.pop("FINORA_GRAPHIQL", None)
    scratch = TemporaryDirectory(prefix="finora-bench-")
    port = free_port()
    service = Server(
        "service",
        [str(BIN / "finora"), "serve", "--host", HOST, "--port", str(port),
         "--workers", str(args.workers)],
        port,
        "finora",
        Path(scratch.name) / "service.log",
    )  # fmt: skip
    admin = await connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await migrate(url)
        business = json.loads(finora(env, "business", "create", "Bench bulk", "--json"))["id"]
        token = json.loads(finora(env, "apikey", "create", "--business", business, "--json"))["key"]
        service.start(env)
        await service.wait_ready()

        async def pids() -> tuple[list[int], list[int]]:
            rows = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
                name,
                service.application_name,
            )
            return service.tree(), [r["pid"] for r in rows]

        print(
            f"PostgreSQL {await admin.fetchval('SHOW server_version')}; {os.cpu_count()} cores; "
            f"{args.workers} worker(s); {args.rounds} round(s), each: {args.single} single "
            f"calls over {args.connections} connections, then {args.customers} customers in "
            f"calls of {args.batch} over {args.bulk_connections} connection(s)"
        )
        print("service:", command_line(service.argv))
        print("before:", uptime())
        single, bulk = Way(), Way()
        offset = 0
        for _ in range(args.rounds):
            singles = [
                (graphql_request(port, token, SINGLE, {"b": business, "input": p}), check_single)
                for p in people(7, offset, offset + args.single)
            ]
            offset += args.single
            await send_all(port, singles, args.connections, single, pids)
            batches = []
            for start in range(offset, offset + args.customers, args.batch):
                rows = people(7, start, min(start + args.batch, offset + args.customers))
                request = graphql_request(port, token, BULK, {"b": business, "inputs": rows})
                batches.append((request, functools.partial(check_bulk, rows=len(rows))))
            offset += args.customers
            await send_all(port, batches, args.bulk_connections, bulk, pids)
        sent = offset
        if args.together:
            offset = await together(port, token, business, offset, args, pids)
        print("after: ", uptime())
        stored = await (await connect(url)).fetchval("SELECT count(*) FROM customer")
        if stored != offset or single.customers + bulk.customers != sent:
            raise SystemExit(f"the database holds {stored} customers; {offset} were sent")
        print(f"checked: every answer created its customers; the database holds {stored}")
        print(
            f"\n{'':<8}{'customers':>10}{'seconds':>9}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'server CPU':>12}{'db CPU':>9}  (ms per customer)"
        )
        for label, way in (("single", single), ("bulk", bulk)):
            print(
                f"{label:<8}{way.customers:>10}{way.seconds:>9.2f}{way.rate:>9.0f}"
                f"{way.p(0.5):>9.1f}{way.p(0.99):>9.1f}"
                f"{way.per_customer_ms(way.server_cpu):>12.2f}{way.per_customer_ms(way.db_cpu):>9.2f}"
            )
        print(f"\nbulk / single: {bulk.rate / single.rate:.1f}x customers per second (target 10x)")
    finally:
        service.stop()
        scratch.cleanup()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=10_000, help="bulk customers per round")
    parser.add_argument("--batch", type=int, default=500, help="customers per bulk call")
    parser.add_argument("--single", type=int, default=2_000, help="single calls per round")
    parser.add_argument("--connections", type=int, default=8, help="for single calls")
    parser.add_argument("--bulk-connections", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--together", type=int, default=0, help="then N single calls alone and beside bulk calls"
    )
    args = parser.parse_args()
    if not 1 <= args.batch <= 500 or min(args.customers, args.single, args.rounds) < 1:
        parser.error("--batch must be 1 to 500; counts at least 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
