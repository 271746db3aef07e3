"""Benchmark: read performance of the service against the floor (bench/floor.py).

    .venv/bin/python bench/list.py [--scenarios a,b,c,d] [--workers 1] [--concurrency 32]
                                   [--seconds 10] [--rounds 2] [--warmup 1] [--customers 1000]

In a scratch database (created on the server of DATABASE_URL, default the local
PostgreSQL, and dropped at the end) it creates a business, an API key and
`--customers` customers with the real CLI, then starts two servers on 127.0.0.1
with the same number of Uvicorn workers and the same keys:

  service   `finora serve` (FINORA_ENV=production): auth, GraphQL, ORM, logs, metrics
  floor     `uvicorn bench.floor:create_app`: the same SQL rows, decryption and
            JSON shape on a bare Starlette app and a plain asyncpg pool

The gap between the two is what the service's layers cost.  Before any timing it
checks that both answer every scenario with the same data, and stops if not.

Scenarios (service request, floor request):

  a  customers(limit: 100), every field      GET /customers?limit=100
  b  customer(id), every field               GET /customer?id=  (100 ids in turn)
  c  customers(limit: 10), every field       GET /customers?limit=10
  d  customers(limit: 100) { id name }       GET /customers?limit=100

Each scenario runs `--rounds` rounds per side, alternating service, floor,
service, floor, so that a drift of the machine (other work, thermal) is shared.
A round is `--warmup` seconds not counted, then `--seconds` seconds counted, at
`--concurrency` keep-alive connections.  The load comes from a separate process
(bench/loadgen.py: asyncio on raw HTTP/1.1 sockets, uvloop when
installed), so the driver's own work is not on the clock.  Both servers, the load
generator and PostgreSQL share the machine's cores: the CPU columns say who used
what, to tell a CPU-bound server from a starved one.

Columns: requests/s (successful answers only) and their p50 and p99 latency;
failed requests (not 200, or GraphQL errors: a rate limit would show here); CPU
of the server's processes, of its PostgreSQL backends and of the load generator
(100 % is one core); the whole machine's busy share (100 % is every core); and
the peak resident memory (VmHWM) of the server's processes, reset per scenario.
The service runs with a per-key rate limit it cannot reach, since one key sends
everything.  The summary at the end puts the scenarios side by side with the
server's CPU time per answered request (steadier than requests per second when
other work shares the machine) and says whether each goal of DESIGN.md is met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import NamedTemporaryFile, TemporaryDirectory
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))

from bench.loadgen import REQUEST_TIMEOUT_S  # noqa: E402
from bench.procstats import (  # noqa: E402
    cpu_seconds_between,
    cpu_ticks,
    machine_ticks,
    peak_rss_kib,
    reset_peak_rss,
)
from bench.scenarios import SCENARIOS, Scenario, Target, verify  # noqa: E402
from bench.servers import (  # noqa: E402
    Server,
    command_line,
    finora,
    make_servers,
    production_env,
    scratch_database,
)

#: Extra time the driver grants the load generator beyond its own deadlines.
LOADGEN_SLACK_S = 30.0

# Rounds and the report ------------------------------------------------------------


@dataclass
class Totals:
    """One side of one scenario, summed over its rounds."""

    latencies_us: list[int] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    loadgen_cpu: float = 0.0
    machine_busy: float = 0.0
    peak_rss_kib: int = 0

    @property
    def rps(self) -> float:
        return len(self.latencies_us) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_us:
            return math.nan
        ordered = sorted(self.latencies_us)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] / 1000

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per answered request: steadier than req/s on a shared machine."""
        return 1e6 * self.server_cpu / len(self.latencies_us) if self.latencies_us else math.nan

    def share(self, cpu_seconds: float) -> float:
        """CPU seconds as a percentage of one core over the counted time."""
        return 100 * cpu_seconds / self.seconds if self.seconds else 0.0


async def backend_pids(
    admin: asyncpg.Connection, database: str, application_name: str
) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
        database,
        application_name,
    )
    return [r["pid"] for r in rows]


async def run_round(
    server: Server,
    requests: list[bytes],
    args: argparse.Namespace,
    admin: asyncpg.Connection,
    database: str,
    totals: Totals,
    options: dict[str, Any] | None = None,
) -> str:
    """One round against one server (the load generator's `options` added to its
    spec); adds to `totals` and returns a one-line summary."""
    this, busy = await measure_round(server, requests, args, admin, database, options)
    add_round(totals, this, busy)
    return (
        f"{this.rps:8.0f} req/s  p50 {this.percentile_ms(0.5):7.2f} ms  "
        f"p99 {this.percentile_ms(0.99):7.2f} ms  errors {this.errors}  "
        f"cpu: server {this.share(this.server_cpu):.0f}%, "
        f"postgres {this.share(this.db_cpu):.0f}%, "
        f"loadgen {this.share(this.loadgen_cpu):.0f}%, machine {100 * busy:.0f}%"
    )


async def measure_round(
    server: Server,
    requests: list[bytes],
    args: argparse.Namespace,
    admin: asyncpg.Connection,
    database: str,
    options: dict[str, Any] | None = None,
) -> tuple[Totals, float]:
    """One round of the load generator (its `options` added to the spec) against one
    server: what it measured with the CPU of the server and of its PostgreSQL
    backends, and the machine's busy share."""
    with NamedTemporaryFile(prefix="finora-loadgen-", suffix=".json", delete=False) as result_file:
        pass  # the load generator writes its result here
    spec = {
        "result_path": result_file.name,
        "port": server.port,
        "requests": [r.decode("latin-1") for r in requests],
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "seconds": args.seconds,
        **(options or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        *LOADGEN_ARGV,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(spec).encode())
        await proc.stdin.drain()
        proc.stdin.close()
        line = await asyncio.wait_for(proc.stdout.readline(), args.warmup + LOADGEN_SLACK_S)
        if line.strip() != b"measuring":
            _, err = await asyncio.wait_for(proc.communicate(), LOADGEN_SLACK_S)
            raise SystemExit(f"load generator did not start:\n{err.decode()[-2000:]}")
        tree = server.tree()
        db = await backend_pids(admin, database, server.application_name)
        before, db_before, busy_before = cpu_ticks(tree), cpu_ticks(db), machine_ticks()
        line = await asyncio.wait_for(proc.stdout.readline(), args.seconds + LOADGEN_SLACK_S)
        after, busy_after = cpu_ticks(server.tree()), machine_ticks()
        db_after = cpu_ticks(await backend_pids(admin, database, server.application_name))
        out, err = await asyncio.wait_for(proc.communicate(), REQUEST_TIMEOUT_S + LOADGEN_SLACK_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if line.strip() != b"done" or proc.returncode != 0:
        raise SystemExit(f"load generator failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    del out
    result_path = Path(result_file.name)
    result = json.loads(result_path.read_text())
    result_path.unlink()
    server_cpu = cpu_seconds_between(before, after)
    db_cpu = cpu_seconds_between(db_before, db_after)
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    this = Totals(
        latencies_us=result["latencies_us"],
        errors=result["errors"],
        first_error=result["first_error"],
        seconds=result["seconds"],
        server_cpu=server_cpu,
        db_cpu=db_cpu,
        loadgen_cpu=result["cpu_seconds"],
    )
    return this, busy


def add_round(totals: Totals, this: Totals, busy: float) -> None:
    totals.latencies_us += this.latencies_us
    totals.errors += this.errors
    totals.first_error = totals.first_error or this.first_error
    totals.server_cpu += this.server_cpu
    totals.db_cpu += this.db_cpu
    totals.loadgen_cpu += this.loadgen_cpu
    totals.machine_busy += busy * this.seconds
    totals.seconds += this.seconds


HEADER = (
    f"{'':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'srv cpu%':>10}"
    f"{'pg cpu%':>9}{'gen cpu%':>10}{'busy%':>7}{'peak RSS MiB':>14}"
)


def table_row(name: str, t: Totals) -> str:
    return (
        f"{name:<9}{t.rps:>9.0f}{t.percentile_ms(0.5):>9.2f}{t.percentile_ms(0.99):>9.2f}"
        f"{t.errors:>8}{t.share(t.server_cpu):>10.0f}{t.share(t.db_cpu):>9.0f}"
        f"{t.share(t.loadgen_cpu):>10.0f}{100 * t.machine_busy / max(t.seconds, 1e-9):>7.0f}"
        f"{t.peak_rss_kib / 1024:>14.1f}"
    )


@dataclass
class Ratios:
    rps: float
    p99: float
    memory: float

    @classmethod
    def of(cls, service: Totals, floor: Totals) -> Ratios:
        def ratio(a: float, b: float) -> float:
            return a / b if b else math.nan

        return cls(
            rps=ratio(service.rps, floor.rps),
            p99=ratio(service.percentile_ms(0.99), floor.percentile_ms(0.99)),
            memory=ratio(service.peak_rss_kib, floor.peak_rss_kib),
        )


async def run_scenario(
    scenario: Scenario,
    servers: tuple[Server, Server],
    target: Target,
    args: argparse.Namespace,
    admin: asyncpg.Connection,
    database: str,
) -> tuple[Totals, Totals]:
    service, floor = servers
    requests = {
        service.name: scenario.service_requests(service.port, target),
        floor.name: scenario.floor_requests(floor.port, target),
    }
    totals = {service.name: Totals(), floor.name: Totals()}
    resets = [reset_peak_rss(pid) for server in servers for pid in server.tree()]
    print(f"\n({scenario.key}) {scenario.title}")
    for round_no in range(1, args.rounds + 1):
        for server in servers:
            line = await run_round(
                server, requests[server.name], args, admin, database, totals[server.name]
            )
            print(f"  round {round_no} {server.name:<8}{line}", flush=True)
    for server in servers:
        totals[server.name].peak_rss_kib = max(peak_rss_kib(pid) for pid in server.tree())
    print(HEADER)
    for server in servers:
        print(table_row(server.name, totals[server.name]))
        if totals[server.name].first_error:
            print(f"{'':<9}first error: {totals[server.name].first_error}")
    ratios = Ratios.of(totals[service.name], totals[floor.name])
    print(
        f"service/floor: req/s {ratios.rps:.2f}x, p99 {ratios.p99:.2f}x, "
        f"peak RSS {ratios.memory:.2f}x"
        + ("" if all(resets) else " (peak RSS not reset: since start-up)")
    )
    failed = [s.name for s in servers if totals[s.name].errors]
    if failed:
        print(f"WARNING: {' and '.join(failed)} had failed requests: the ratios are not comparable")
    return totals[service.name], totals[floor.name]


LOADGEN_ARGV = [sys.executable, str(Path(__file__).resolve().parent / "loadgen.py")]


def prepare(env: dict[str, str], customers: int) -> Target:
    """A business, its API key and its customers, through the real CLI."""
    business_id = json.loads(finora(env, "business", "create", "Bench list", "--json"))["id"]
    issued = json.loads(finora(env, "apikey", "create", "--business", business_id, "--json"))
    finora(env, "seed-demo", "--business", business_id, "--count", str(customers))
    return Target(business_id=business_id, token=issued["key"])


#: The goals of DESIGN.md: req/s ratio per scenario; p99 and memory for all of them.
GOALS = {"a": 0.8, "b": 0.5, "c": 0.75}
P99_GOAL, MEMORY_GOAL = 2.0, 1.5


def print_summary(results: dict[str, tuple[Totals, Totals]]) -> None:
    print(
        f"\n{'':<5}{'req/s':>19}{'':>8}{'p99 ms':>19}{'':>8}{'peak RSS MiB':>19}{'':>8}"
        f"{'server CPU us/req':>22}{'':>5}  goal (req/s, p99, RSS)\n"
        f"{'':<5}" + f"{'service':>9}{'floor':>9}{'ratio':>9}" * 4
    )
    for key, (service, floor) in results.items():
        r = Ratios.of(service, floor)
        cpu = service.cpu_us_per_request / floor.cpu_us_per_request
        goal = GOALS.get(key)
        verdict = ""
        if goal is not None:
            met = r.rps >= goal and r.p99 <= P99_GOAL and r.memory <= MEMORY_GOAL
            verdict = f"  {goal}x, {P99_GOAL}x, {MEMORY_GOAL}x: {'met' if met else 'NOT met'}"
        print(
            f"({key}) "
            f"{service.rps:>9.0f}{floor.rps:>9.0f}{r.rps:>8.2f}x"
            f"{service.percentile_ms(0.99):>9.2f}{floor.percentile_ms(0.99):>9.2f}{r.p99:>8.2f}x"
            f"{service.peak_rss_kib / 1024:>9.1f}{floor.peak_rss_kib / 1024:>9.1f}{r.memory:>8.2f}x"
            f"{service.cpu_us_per_request:>9.0f}{floor.cpu_us_per_request:>9.0f}{cpu:>8.2f}x"
            + verdict
        )


async def run(args: argparse.Namespace) -> None:
    print("command:", command_line([sys.executable, *sys.argv]))
    scratch = TemporaryDirectory(prefix="finora-bench-")
    service, floor = make_servers(args.workers, Path(scratch.name))
    async with scratch_database() as db:
        env = await production_env(db)
        try:
            target = prepare(env, args.customers)
            for server in (service, floor):
                server.start(env)
            for server in (service, floor):
                await server.wait_ready()
            await verify(service, floor, target, args.customers)
            print(
                f"PostgreSQL {await db.admin.fetchval('SHOW server_version')}; "
                f"{os.cpu_count()} cores; "
                f"{args.customers} customers; {args.workers} worker(s) per server; "
                f"{args.concurrency} connections; {args.rounds} round(s) per side of "
                f"{args.warmup:g} s warm-up + {args.seconds:g} s counted"
            )
            print("service: " + command_line(service.argv))
            print("floor:   " + command_line(floor.argv))
            print("loadgen: " + command_line(LOADGEN_ARGV) + "  (a new process per round)")
            print("checked: service and floor return the same data in (a), (b), (c) and (d)")
            results = {}
            for key in args.scenarios:
                results[key] = await run_scenario(
                    SCENARIOS[key], (service, floor), target, args, db.admin, db.name
                )
            print_summary(results)
        finally:
            for server in (service, floor):
                server.stop()
            scratch.cleanup()


def scenario_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"choose among {','.join(SCENARIOS)}")
    return keys


def bounded(low: float, high: float, kind: type = int) -> Any:
    def parse(text: str) -> float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def round_options(doc: str | None, *, scenarios: list[str]) -> argparse.ArgumentParser:
    """The options of a benchmark that runs this module's rounds (bench/shared.py too)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n", 1)[0])
    parser.add_argument("--scenarios", type=scenario_keys, default=scenarios)
    parser.add_argument("--workers", type=bounded(1, 16), default=1, help="Uvicorn workers")
    parser.add_argument("--concurrency", type=bounded(1, 1024), default=32)
    parser.add_argument("--seconds", type=bounded(0.5, 600, float), default=10.0)
    parser.add_argument("--warmup", type=bounded(0, 60, float), default=1.0)
    parser.add_argument("--rounds", type=bounded(1, 20), default=2, help="rounds per side")
    parser.add_argument("--customers", type=bounded(100, 1_000_000), default=1000)
    return parser


def main() -> None:
    parser = round_options(__doc__, scenarios=list(SCENARIOS))
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
