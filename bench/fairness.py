"""Benchmark: does one business's expensive traffic starve another's cheap one?

    .venv/bin/python bench/fairness.py [--customers 100000] [--seconds 10]
                                       [--concurrency 4] [--workers 1] [--rate-limit default|off]
                                       [--attack searches|pages|small]

In a scratch database (on the server of DATABASE_URL, default the local
PostgreSQL; dropped at the end) it creates business A with `--customers`
customers (`finora seed-demo`, COPY) and business B with 200, then starts
`finora serve` as in production, with the default limits.

B, the victim, sends `customers(limit: 20)` one request at a time with a short
pause (a person paging through a list), alone (idle: half before, half after)
and while A, the attacker, keeps `--concurrency` requests in flight: its most expensive document
the limits admit, as many aliased `searchCustomers` of a character no customer
has (each walks the whole business) as the list-cost limit lets through; or,
with `--attack pages`, a flood of `customers(limit: 100)` with every field, or
`--attack small`, of `customers(limit: 1)` (with `--rate-limit off` and many
connections: what admission alone leaves B).
It prints B's median, p99 and max in both phases, the ratio of the medians, and
what A got (status counts).  `--rate-limit off` runs the server with no per-key
rate limit, to show what the admission control and the event-loop pacing alone
do.  Target (DESIGN.md section 6, issue 10): attacked median within 3x of idle,
slowest attacked request under 250 ms.

The measuring code (`measure`) is shared with tests/test_fairness.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen import HOST, read_response  # noqa: E402
from bench.rawhttp import graphql_request  # noqa: E402
from bench.scenarios import FIELDS  # noqa: E402
from bench.servers import (  # noqa: E402
    Server,
    command_line,
    finora,
    free_port,
    production_env,
    scratch_database,
)

VICTIM_QUERY = "query($b: ID!) { customers(businessId: $b, limit: 20) { id name email } }"
#: Characters no seeded customer has in name or email (the tokens rule every row out).
ABSENT = "qx!#~^&*()=+:;?"
#: The costliest searches of the bounded search (bench/bounded.py at 100,000 seeded
#: customers): grams that many hold, matches that sort late, prefixes as typed.
COSTLIEST = ("za", "danjum", "ade", "bank", "zai", "q")
#: Pause of the victim between its requests (a person, or a page of a frontend):
#: at most 40 requests a second, inside its own key's rate limit (50/s).
VICTIM_PAUSE_S = 0.025
REQUEST_TIMEOUT_S = 60.0


def attack_query(searches: int) -> str:
    """A's most expensive admitted document: `searches` aliased searches of the kinds
    that cost the bounded search most."""
    fields = " ".join(
        f's{n}: searchCustomers(businessId: $b, q: "{COSTLIEST[n % len(COSTLIEST)]}") {{ count }}'
        for n in range(searches)
    )
    return f"query($b: ID!) {{ {fields} }}"


#: A flood of the largest plain page, every field: cheap each, but many at once
#: (rate limit off) they would hold the pool and the loop without admission.
PAGES_QUERY = f"query($b: ID!) {{ customers(businessId: $b, limit: 100) {{ {' '.join(FIELDS)} }} }}"
#: A flood of the smallest reads (a frontend's `customer(id)`-sized requests): the
#: attack a larger per-business admission for small requests would have let through.
SMALL_QUERY = PAGES_QUERY.replace("limit: 100", "limit: 1")
ATTACKS = {"searches": "", "pages": PAGES_QUERY, "small": SMALL_QUERY}


def admitted_searches() -> int:
    """As many searches as the list-cost limit lets into one document (at most 15 aliases)."""
    from schema.limits import MAX_LIST_COST, SEARCH_COST

    return max(1, min(15, MAX_LIST_COST // SEARCH_COST))


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def ms(self, q: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def max_ms(self) -> float:
        return 1000 * max(self.seconds) if self.seconds else float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio sockets (little client overhead)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(HOST, self.port)
        reader, writer = self.streams
        writer.write(request)
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status, body, keep_alive = await read_response(reader)
        if not keep_alive:
            self.close()
        return status, body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def victim(port: int, request: bytes, seconds: float) -> Latencies:
    """B: one request at a time, for `seconds`; each answer checked (200, 20 customers)."""
    found = Latencies()
    conn = Connection(port)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            status, body = await conn.send(request)
            elapsed = time.perf_counter() - start
            found.statuses[status] += 1
            if status == 200 and len(json.loads(body)["data"]["customers"]) == 20:
                found.seconds.append(elapsed)
            await asyncio.sleep(VICTIM_PAUSE_S)
    finally:
        conn.close()
    return found


async def attacker(port: int, request: bytes, stop: asyncio.Event) -> Counter[int]:
    """A: one connection sending its request again as soon as it is answered.

    A refusal (429) comes with Retry-After; a real client would wait, this one
    only pauses briefly, to keep the pressure on.
    """
    statuses: Counter[int] = Counter()
    conn = Connection(port)
    try:
        while not stop.is_set():
            status, _ = await conn.send(request)
            statuses[status] += 1
            if status != 200:
                await asyncio.sleep(0.05)
    finally:
        conn.close()
    return statuses


@dataclass
class Result:
    idle: Latencies
    attacked: Latencies
    attack: Counter[int]

    @property
    def ratio(self) -> float:
        return self.attacked.median_ms / self.idle.median_ms


async def measure(
    port: int,
    victim_request: bytes,
    attack_request: bytes,
    *,
    seconds: float,
    concurrency: int,
    warmup: float = 1.0,
) -> Result:
    """B for `seconds` while A keeps `concurrency` requests in flight, between two idle phases.

    The idle figures pool both idle phases, so a drift of the machine's load
    during the run is not taken for an effect of the attack.
    """
    await victim(port, victim_request, warmup)
    idle = await victim(port, victim_request, seconds / 2)
    stop = asyncio.Event()
    attackers = [
        asyncio.create_task(attacker(port, attack_request, stop)) for _ in range(concurrency)
    ]
    await asyncio.sleep(warmup)  # A's requests are in flight before B is measured
    try:
        attacked = await victim(port, victim_request, seconds)
    finally:
        stop.set()
        counts = await asyncio.gather(*attackers)
    after = await victim(port, victim_request, seconds / 2)
    idle.seconds += after.seconds
    idle.statuses += after.statuses
    return Result(idle, attacked, sum(counts, Counter()))


def report(result: Result) -> str:
    lines = [f"{'B customers(limit: 20)':<24}{'median ms':>11}{'p99 ms':>10}{'max ms':>10}{'n':>7}"]
    for name, lat in (("idle", result.idle), ("attacked", result.attacked)):
        lines.append(
            f"{name:<24}{lat.median_ms:>11.2f}{lat.ms(0.99):>10.2f}{lat.max_ms:>10.2f}"
            f"{len(lat.seconds):>7}"
        )
    lines.append(f"attacked/idle median: {result.ratio:.2f}x (target 3x); max target 250 ms")
    lines.append(f"A's answers by status: {dict(sorted(result.attack.items()))}")
    lines.append(f"B's answers by status: {dict(sorted(result.attacked.statuses.items()))}")
    return "\n".join(lines)


def histogram(text: str, name: str, labels: str = "") -> str:
    """How many observations of a Prometheus histogram were above each bound."""
    buckets = [
        line.split('le="', 1)[1].split('"', 1)[0:1] + line.rsplit(" ", 1)[1:]
        for line in text.splitlines()
        if line.startswith(f"{name}_bucket{{") and labels in line
    ]
    if not buckets:
        return "none"
    total = float(buckets[-1][1])
    over = ", ".join(
        f">{float(le) * 1000:g} ms: {total - float(n):.0f}"
        for le, n in buckets
        if le != "+Inf" and float(le) >= 0.005
    )
    return f"{total:.0f} in all; {over}"


async def server_view(port: int) -> str:
    """From the server's /metrics: its event-loop lag (app/http/looplag.py, a probe
    every 5 ms) and its own time over B's requests, both phases together."""
    from bench.rawhttp import fetch, get_request

    status, body = await fetch(port, get_request(port, "/metrics"))
    if status != 200:
        return f"/metrics answered {status}"
    text = body.decode()
    lag = histogram(text, "finora_event_loop_lag_seconds")
    lists = histogram(
        text, "finora_request_duration_seconds", 'operation="graphql.query.customers"'
    )
    return f"server loop lag: {lag}\nserver time over B's requests: {lists}"


async def prepare(env: dict[str, str], customers: int) -> dict[str, tuple[str, str]]:
    """Businesses A (`customers`) and B (200), their keys, through the real CLI."""
    tenants = {}
    for label, count in (("A", customers), ("B", 200)):
        business = json.loads(finora(env, "business", "create", f"Bench {label}", "--json"))
        key = json.loads(finora(env, "apikey", "create", "--business", business["id"], "--json"))
        finora(env, "seed-demo", "--business", business["id"], "--count", str(count))
        tenants[label] = (business["id"], key["key"])
    return tenants


async def run(args: argparse.Namespace) -> None:
    print("command:", command_line([sys.executable, *sys.argv]))
    print("load:", Path("/proc/loadavg").read_text().strip())
    port = free_port()
    async with scratch_database() as db:
        env = await production_env(db, rate_limited=True)  # the default limits
        if args.rate_limit == "off":
            env["FINORA_RATE_LIMIT_PER_SECOND"] = "0"
        tenants = await prepare(env, args.customers)
        with TemporaryDirectory(prefix="finora-bench-") as scratch:
            server = Server(
                "service",
                [str(ROOT / ".venv" / "bin" / "finora"), "serve", "--host", HOST,
                 "--port", str(port), "--workers", str(args.workers)],
                port,
                "finora",
                Path(scratch) / "service.log",
            )  # fmt: skip
            try:
                server.start(env)
                await server.wait_ready()
                print(
                    f"PostgreSQL {await db.admin.fetchval('SHOW server_version')}; "
                    f"{os.cpu_count()} cores; A: {args.customers} customers, "
                    f"{args.concurrency} requests in flight of {attack_title(args.attack)}; "
                    f"B: 200 customers; {args.workers} worker(s); "
                    f"rate limit {args.rate_limit}; {args.seconds:g} s attacked"
                )
                print("service: " + command_line(server.argv))
                (a_id, a_key), (b_id, b_key) = tenants["A"], tenants["B"]
                result = await measure(
                    port,
                    graphql_request(port, b_key, VICTIM_QUERY, {"b": b_id}),
                    graphql_request(port, a_key, attack_document(args.attack), {"b": a_id}),
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                )
                print(report(result))
                print(await server_view(port))
            finally:
                server.stop()


def attack_document(kind: str) -> str:
    return ATTACKS[kind] or attack_query(admitted_searches())


def attack_title(kind: str) -> str:
    if kind == "searches":
        return f"{admitted_searches()} aliased no-match searches"
    return f"customers(limit: {100 if kind == 'pages' else 1}), every field"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate-limit", choices=("default", "off"), default="default")
    parser.add_argument("--attack", choices=tuple(ATTACKS), default="searches")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
