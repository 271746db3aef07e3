"""Benchmark: a business with its own data key against one under the single master key.

    .venv/bin/python bench/datakeys.py [--kinds list,one,find,create] [--seconds 3]
                                       [--rounds 3] [--warmup 1] [--concurrency 16]
                                       [--customers 5000] [--sample 1000]

DESIGN.md section 6: per-business keys must cost reads and writes at most 5 %
against a single master key.  In a scratch database (as bench/list.py makes one,
dropped at the end) it creates two businesses with the real CLI:

  legacy    made legacy before it has any row, as a business from before
            per-business keys is (values sealed under the master key, indexes under
            FINORA_INDEX_KEY alone): its business_key row deleted, write_key NULL,
            legacy_values true
  data key  as every new business: its own data key, wrapped under the master key

and seeds both alike (`finora seed-demo`, the same seed: the same people), then
starts one `finora serve` (production, one worker) after that, so no process has
either business's keys cached from before.  Before any timing it checks that both
answer the same people (ids and timestamps aside) and that each business's rows
are stored in its own scheme (key_id and the sealed values' version byte); after
the timing it checks the rows the writes made too.

Kinds (the reads of bench/list.py, the writes of bench/writes.py):

  list    customers(limit: 100), every field
  one     customer(id), every field (100 ids in turn)
  find    findOrCreateCustomer of an existing email (`--sample` customers in turn)
  create  createCustomer with a new email each time

Each kind runs `--rounds` rounds per business on the same server, alternating
legacy, data key, then data key, legacy, and so on, so that drift of the machine
is shared and a trend (the customer table grows under the creates, some 10,000
rows a round) does not always fall on the same business.  A round is `--warmup` s
not counted, then `--seconds` s counted, at `--concurrency` keep-alive
connections from bench/loadgen.py's process; a write round starts after a VACUUM
of the customer table, as in bench/writes.py.  The summary gives, per
kind and business, the median over rounds of requests/s and of the server's CPU
per answered request (steadier than requests/s on a shared machine), p99 over all
rounds, and the ratios data key / legacy, with the goal: requests/s at least
1/1.05 of legacy's and CPU per request at most 1.05x (p99 is shown, not judged:
it moves by more than 5 % between rounds of one business).  It ends with the same
figures as a markdown table.

Before the server starts, the service's ASGI app is run in this process once, to
count `app.models.keyring.unwraps` around the first requests of each business:
the first request of the data key business after start unwraps its key once,
however many values it opens (a page of 100 customers opens some 300), and no
later request unwraps again; a legacy business unwraps nothing.  It also times a
page with no keys in the process (`keyring.clear`, as at start: the data key is
unwrapped again, checked), one with the business's keys expired (`keyring.forget`,
as every FINORA_DATA_KEY_CACHE_S: read again, not unwrapped, checked) and one with
them cached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list import LOADGEN_ARGV, Totals, add_round, bounded, measure_round  # noqa: E402
from bench.procstats import machine_ticks  # noqa: E402
from bench.rawhttp import fetch  # noqa: E402
from bench.scenarios import BY_ID_COUNT, FIELDS, LIST_QUERY  # noqa: E402
from bench.scenarios import SCENARIOS as READS  # noqa: E402
from bench.scenarios import Target as ReadTarget  # noqa: E402
from bench.servers import (  # noqa: E402
    Scratch,
    Server,
    command_line,
    finora,
    finora_serve,
    production_env,
    scratch_database,
)
from bench.writes import SCENARIOS as WRITES  # noqa: E402
from bench.writes import USER_ERROR_MARK, Side, load_customers, per_request_ms, ratio  # noqa: E402
from bench.writes import Scenario as WriteScenario  # noqa: E402
from bench.writes import Target as WriteTarget  # noqa: E402

#: DESIGN.md section 6: within 5 % of a single master key.
GOAL = 1.05
#: The SQL that makes a fresh business legacy (before it has any row).
MAKE_LEGACY = (
    "DELETE FROM business_key WHERE business_id = $1",
    "UPDATE business SET write_key = NULL, legacy_values = true WHERE id = $1",
)

# The two businesses ---------------------------------------------------------


@dataclass
class Tenant:
    """One business of the comparison: how the read and the write kinds name it."""

    label: str
    #: under the master key directly (no data key)
    legacy: bool
    writes: WriteTarget
    #: customer(id) asks for these (the first of the list, as bench/list.py's (b)).
    ids: list[str] = field(default_factory=list)

    @property
    def business_id(self) -> str:
        return self.writes.business_id

    @property
    def reads(self) -> ReadTarget:
        return ReadTarget(self.business_id, self.writes.token, self.ids)


async def make_tenant(
    env: dict[str, str], db: asyncpg.Connection, label: str, customers: int, *, legacy: bool
) -> Tenant:
    """A business through the real CLI (legacy: switched before its first row), its
    API key, and `customers` customers of seed-demo's default seed."""
    business_id = json.loads(finora(env, "business", "create", f"Bench {label}", "--json"))["id"]
    if legacy:
        for sql in MAKE_LEGACY:
            await db.execute(sql, business_id)
    issued = json.loads(finora(env, "apikey", "create", "--business", business_id, "--json"))
    finora(env, "seed-demo", "--business", business_id, "--count", str(customers))
    return Tenant(label, legacy, WriteTarget(business_id, issued["key"], issued["prefix"]))


async def check_schemes(db: asyncpg.Connection, legacy: Tenant, keyed: Tenant) -> str:
    """Stop unless every row of each business is in its own scheme: the legacy one's
    without a key id, each of its four values sealed under the master key (version
    byte 1), the other's under its data key (2), named in key_id; a summary."""
    alike = " AND ".join(
        f"coalesce(get_byte(c.{column}, 0), get_byte(c.email, 0)) = get_byte(c.email, 0)"
        for column in ("phone", "address", "tin")
    )
    rows = await db.fetch(
        "SELECT c.business_id, c.key_id, b.write_key, get_byte(c.email, 0) AS version, "
        f"count(*) AS n, bool_and({alike}) AS alike "
        "FROM customer c JOIN business b ON b.id = c.business_id GROUP BY 1, 2, 3, 4"
    )
    seen: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        if not row["alike"]:
            raise SystemExit("a row has values sealed under two schemes")
        seen.setdefault(row["business_id"], []).append(
            (row["key_id"], row["write_key"], row["version"], row["n"])
        )
    summary = []
    for tenant, version in ((legacy, 1), (keyed, 2)):
        groups = seen.get(tenant.business_id, [])
        if len(groups) != 1:
            raise SystemExit(f"{tenant.label}: rows under several schemes: {groups}")
        key_id, write_key, got, count = groups[0]
        if key_id != write_key or got != version or (key_id is None) != (version == 1):
            raise SystemExit(
                f"{tenant.label}: rows under key {key_id} (version {got}), "
                f"the business writes under {write_key}"
            )
        summary.append(f"{tenant.label} {count} rows, key_id {key_id}, version {got}")
    return "; ".join(summary)


async def check_same_people(server: Server, legacy: Tenant, keyed: Tenant) -> None:
    """Both businesses list the same people (their ids, business and times aside), so
    both sides of each kind do the same work; and the ids customer(id) asks for."""
    pages = []
    for tenant in (legacy, keyed):
        request = READS["a"].service_requests(server.port, tenant.reads)[0]
        status, body = await fetch(server.port, request)
        document = json.loads(body)
        if status != 200 or "errors" in document:
            raise SystemExit(f"{tenant.label} answered {status}: {body[:300]!r}")
        page = document["data"]["customers"]
        tenant.ids = [c["id"] for c in page[:BY_ID_COUNT]]
        apart = ("id", "businessId", "createdAt", "updatedAt")
        pages.append([{k: v for k, v in c.items() if k not in apart} for c in page])
    # People of one name are in id order, and ids differ: the same names in the same
    # order, and the same people of each name but the last (the page may cut it).
    names = [[c["name"] for c in p] for p in pages]
    whole = [
        sorted((c for c in p if c["name"] != names[0][-1]), key=lambda c: c["email"]) for p in pages
    ]
    if names[0] != names[1] or whole[0] != whole[1] or len(pages[0]) != 100:
        raise SystemExit("the two businesses do not list the same 100 people")


# The first request of a business -------------------------------------------


async def first_requests(env: dict[str, str], tenants: tuple[Tenant, ...], repeat: int) -> None:
    """The service's ASGI app in this process: keyring.unwraps around each business's
    first two pages after start, then pages with its keys cleared, expired, cached."""
    import httpx
    from asgi_lifespan import LifespanManager

    from app.models import keyring
    from app.settings import Settings
    from schema.asgi import create_app

    os.environ.update(env)
    app = create_app(Settings.from_env())
    body = {"query": LIST_QUERY % " ".join(FIELDS)}
    async with LifespanManager(app):
        for noisy in ("finora", "httpx"):  # no request lines here
            logging.getLogger(noisy).setLevel(logging.WARNING)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def page(tenant: Tenant) -> tuple[int, int, float]:
                """(unwraps, values opened, milliseconds) of one customers(limit: 100)."""
                before, started = keyring.unwraps, time.perf_counter()
                answer = await client.post(
                    "/graphql",
                    json={**body, "variables": {"businessId": tenant.business_id, "limit": 100}},
                    headers={"Authorization": f"Bearer {tenant.writes.token}"},
                )
                took = (time.perf_counter() - started) * 1000
                document = answer.json()
                if answer.status_code != 200 or "errors" in document:
                    raise SystemExit(f"{tenant.label}: {answer.status_code} {answer.text[:300]}")
                opened = sum(
                    c[k] is not None
                    for c in document["data"]["customers"]
                    for k in ("email", "phone", "address", "tin")
                )
                return keyring.unwraps - before, opened, took

            print("\nfirst requests after start (in this process, keyring.unwraps counted):")
            for n in (1, 2):
                for tenant in tenants:
                    unwraps, opened, took = await page(tenant)
                    print(
                        f"  {tenant.label:<9} page {n}: {unwraps} unwrap(s), "
                        f"{opened} values opened, {took:6.1f} ms"
                    )
                    want = 1 if n == 1 and not tenant.legacy else 0
                    if unwraps != want:
                        raise SystemExit(f"{tenant.label}: {unwraps} unwraps, not {want}")
            print(
                f"  a page with no keys in the process (keyring.clear, as at start), with its "
                f"keys expired (keyring.forget: read again) or cached, median ms of {repeat}:"
            )
            for tenant in tenants:
                cleared, expired, cached = [], [], []
                for _ in range(repeat):
                    keyring.clear()
                    unwraps, _, took = await page(tenant)
                    if unwraps != (0 if tenant.legacy else 1):
                        raise SystemExit(f"{tenant.label}: {unwraps} unwraps after a clear")
                    cleared.append(took)
                    keyring.forget(tenant.business_id)
                    unwraps, _, took = await page(tenant)
                    if unwraps:
                        raise SystemExit(f"{tenant.label}: expired keys unwrapped again")
                    expired.append(took)
                    cached.append((await page(tenant))[2])
                base = statistics.median(cached)
                start, later = statistics.median(cleared), statistics.median(expired)
                print(
                    f"  {tenant.label:<9} cleared {start:5.2f} ({start - base:+.2f}), "
                    f"expired {later:5.2f} ({later - base:+.2f}), cached {base:5.2f}"
                )


# Rounds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    key: str
    title: str
    #: The requests of one round for one business (the port, the business, a tag
    #: unique to the round).
    requests: Callable[[int, Tenant, str], list[bytes]]
    #: The load generator's options (bench/loadgen.py) for a write.
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return bool(self.options)


def read_kind(key: str, scenario: str) -> Kind:
    s = READS[scenario]
    return Kind(key, s.title, lambda port, t, tag: s.service_requests(port, t.reads))


def write_kind(key: str, s: WriteScenario) -> Kind:
    """One of bench/writes.py's scenarios, sent to the service only."""
    options = {
        "placeholder": s.placeholder,
        "failure_marks": [USER_ERROR_MARK],
        "partition": s.partition,
    }
    return Kind(
        key, s.title, lambda port, t, tag: s.requests(Side("service", port), t.writes, tag), options
    )


KINDS = {
    k.key: k
    for k in (
        read_kind("list", "a"),
        read_kind("one", "b"),
        write_kind("find", WRITES["a"]),
        write_kind("create", WRITES["b"]),
    )
}


@dataclass
class Measured:
    """One business in one kind: each round as measured, and all rounds together."""

    rounds: list[Totals] = field(default_factory=list)
    total: Totals = field(default_factory=Totals)
    #: per round, the CPU of other work on the machine (% of one core)
    others: list[float] = field(default_factory=list)

    def median_rps(self) -> float:
        return statistics.median(t.rps for t in self.rounds)

    def median_cpu_us(self) -> float:
        return statistics.median(1000 * per_request_ms(t, t.server_cpu) for t in self.rounds)

    def median_pg_us(self) -> float:
        return statistics.median(1000 * per_request_ms(t, t.db_cpu) for t in self.rounds)


def other_share(this: Totals, busy: float) -> float:
    """The CPU of everything but the server, its backends and the load generator
    in a round (other people's work, PostgreSQL's own processes), % of one core."""
    every = busy * (os.cpu_count() or 1) * this.seconds
    return this.share(max(0.0, every - this.server_cpu - this.db_cpu - this.loadgen_cpu))


def round_line(this: Totals, other: float) -> str:
    return (
        f"{this.rps:8.0f} req/s  p50 {this.percentile_ms(0.5):6.2f} ms  "
        f"p99 {this.percentile_ms(0.99):6.2f} ms  errors {this.errors}  "
        f"cpu/req: server {1000 * per_request_ms(this, this.server_cpu):5.0f} us, "
        f"postgres {1000 * per_request_ms(this, this.db_cpu):5.0f} us; other work {other:3.0f}%"
    )


#: The machine counts as quiet below this busy share (of all its cores) ...
QUIET = 0.15
#: ... and a round waits for it at most this long.
QUIET_WAIT_S = 60.0


async def quiet() -> float:
    """Wait (at most QUIET_WAIT_S) until the machine is quiet over one second, so that
    a round does not start in the middle of other work; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < QUIET_WAIT_S:
        before = machine_ticks()
        await asyncio.sleep(1.0)
        after = machine_ticks()
        if (after[0] - before[0]) / max(1, after[1] - before[1]) < QUIET:
            break
    return time.monotonic() - started - 1.0


async def run_kind(
    kind: Kind,
    server: Server,
    tenants: tuple[Tenant, ...],
    args: argparse.Namespace,
    db: Scratch,
    conn: asyncpg.Connection,
) -> dict[str, Measured]:
    sides = {t.label: Measured() for t in tenants}
    print(f"\n({kind.key}) {kind.title}")
    for round_no in range(1, args.rounds + 1):
        # A B, then B A: a trend (the table grows under the creates) falls on both.
        for tenant in tenants if round_no % 2 else tenants[::-1]:
            requests = kind.requests(server.port, tenant, f"r{round_no}{tenant.label[0]}")
            if kind.writes:
                await conn.execute("VACUUM customer")  # as bench/writes.py: no inherited dead rows
            if (waited := await quiet()) >= 1:
                print(f"  (waited {waited:.0f} s for other work on the machine to end)")
            this, busy = await measure_round(
                server, requests, args, db.admin, db.name, kind.options or None
            )
            side = sides[tenant.label]
            side.rounds.append(this)
            side.others.append(other := other_share(this, busy))
            add_round(side.total, this, busy)
            print(f"  round {round_no} {tenant.label:<9}{round_line(this, other)}", flush=True)
    for tenant in tenants:
        if sides[tenant.label].total.errors:
            print(
                f"WARNING: {tenant.label} had failed requests "
                f"({sides[tenant.label].total.first_error}): the ratios are not comparable"
            )
    return sides


@dataclass(frozen=True)
class Figures:
    """A kind's medians and ratios, data key / legacy."""

    rps: tuple[float, float, float]
    cpu: tuple[float, float, float]
    p99: tuple[float, float, float]
    pg: tuple[float, float, float]
    #: the CPU ratio of each round's pair, to see the noise
    pairs: list[float]

    @classmethod
    def of(cls, legacy: Measured, keyed: Measured) -> Figures:
        def trio(a: float, b: float) -> tuple[float, float, float]:
            return a, b, ratio(b, a)

        pairs = [
            ratio(per_request_ms(k, k.server_cpu), per_request_ms(lg, lg.server_cpu))
            for lg, k in zip(legacy.rounds, keyed.rounds, strict=True)
        ]
        return cls(
            rps=trio(legacy.median_rps(), keyed.median_rps()),
            cpu=trio(legacy.median_cpu_us(), keyed.median_cpu_us()),
            p99=trio(legacy.total.percentile_ms(0.99), keyed.total.percentile_ms(0.99)),
            pg=trio(legacy.median_pg_us(), keyed.median_pg_us()),
            pairs=pairs,
        )

    @property
    def met(self) -> bool:
        """The goal is on throughput and cost; p99 (a few slow requests of a round)
        moves by more than 5 % between rounds of one business, so it is shown only."""
        return self.rps[2] >= 1 / GOAL and self.cpu[2] <= GOAL


def print_summary(results: dict[str, Figures], args: argparse.Namespace) -> None:
    trio = f"{'legacy':>8}{'data key':>9}{'ratio':>8}"
    print(
        f"\nmedians of {args.rounds} round(s) per business (p99: of all rounds); ratio = "
        f"data key / legacy; goal: req/s >= {1 / GOAL:.3f}x and CPU/req <= {GOAL}x"
    )
    print(
        f"{'':<8}{'req/s':^25}{'server CPU us/req':^25}{'p99 ms':^25}{'PG CPU us/req':^25}"
        f"  CPU ratio per round\n{'':<8}{trio * 4}"
    )
    for key, f in results.items():
        print(
            f"({key:<6})"
            f"{f.rps[0]:>8.0f}{f.rps[1]:>9.0f}{f.rps[2]:>7.3f}x"
            f"{f.cpu[0]:>8.0f}{f.cpu[1]:>9.0f}{f.cpu[2]:>7.3f}x"
            f"{f.p99[0]:>8.2f}{f.p99[1]:>9.2f}{f.p99[2]:>7.3f}x"
            f"{f.pg[0]:>8.0f}{f.pg[1]:>9.0f}{f.pg[2]:>7.3f}x"
            f"  {' '.join(f'{p:.2f}' for p in f.pairs)}  {'met' if f.met else 'NOT met'}"
        )
    print("\nmarkdown:\n")
    print(
        "| kind | req/s legacy | req/s data key | ratio | server CPU us/req legacy "
        "| data key | ratio | p99 ms legacy | data key | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, f in results.items():
        print(
            f"| {KINDS[key].title} | {f.rps[0]:.0f} | {f.rps[1]:.0f} | {f.rps[2]:.3f}x "
            f"| {f.cpu[0]:.0f} | {f.cpu[1]:.0f} | {f.cpu[2]:.3f}x "
            f"| {f.p99[0]:.2f} | {f.p99[1]:.2f} | {f.p99[2]:.3f}x |"
        )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    from app.settings import parse_database_url

    print("command:", command_line([sys.executable, *sys.argv]))
    print(f"load average before: {load_average()}")
    scratch = TemporaryDirectory(prefix="finora-bench-")
    server = finora_serve("service", 1, Path(scratch.name))
    async with scratch_database() as db:
        env = await production_env(db)
        conn = await asyncpg.connect(**parse_database_url(db.url))  # type: ignore[arg-type]
        try:
            legacy = await make_tenant(env, conn, "legacy", args.customers, legacy=True)
            keyed = await make_tenant(env, conn, "data key", args.customers, legacy=False)
            tenants = (legacy, keyed)
            print("checked:", await check_schemes(conn, legacy, keyed))
            await first_requests(env, tenants, args.repeat_first)
            for tenant in tenants:
                await load_customers(conn, tenant.writes, args.sample)
            server.start(env)  # after both businesses are what they are: nothing cached
            await server.wait_ready()
            await check_same_people(server, legacy, keyed)
            print(
                f"\nPostgreSQL {await db.admin.fetchval('SHOW server_version')}; "
                f"{os.cpu_count()} cores; {args.customers} customers per business (the same "
                f"people); {len(legacy.writes.customers)} found in turn; one worker; "
                f"{args.concurrency} connections; {args.rounds} round(s) per business of "
                f"{args.warmup:g} s warm-up + {args.seconds:g} s counted, alternating"
            )
            print("service: " + command_line(server.argv))
            print("loadgen: " + command_line(LOADGEN_ARGV) + "  (a new process per round)")
            print("checked: both businesses list the same 100 people, field for field")
            results, others = {}, []
            for key in args.kinds:
                sides = await run_kind(KINDS[key], server, tenants, args, db, conn)
                results[key] = Figures.of(sides[legacy.label], sides[keyed.label])
                others += [o for side in sides.values() for o in side.others]
            print("\nchecked after the rounds:", await check_schemes(conn, legacy, keyed))
            print(f"load average after: {load_average()}")
            print_summary(results, args)
            print(
                f"\nother work on the machine during the rounds: median "
                f"{statistics.median(others):.0f}%, most {max(others):.0f}% of one core"
            )
        finally:
            server.stop()
            await conn.close()
            scratch.cleanup()


def kind_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys or any(k not in KINDS for k in keys):
        raise argparse.ArgumentTypeError(f"choose among {','.join(KINDS)}")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--kinds", type=kind_keys, default=list(KINDS))
    parser.add_argument("--seconds", type=bounded(0.5, 600, float), default=3.0)
    parser.add_argument("--rounds", type=bounded(1, 20), default=3, help="rounds per business")
    parser.add_argument("--warmup", type=bounded(0, 60, float), default=1.0)
    parser.add_argument("--concurrency", type=bounded(1, 1024), default=16)
    parser.add_argument("--customers", type=bounded(100, 1_000_000), default=5000)
    parser.add_argument(
        "--sample", type=bounded(16, 100_000), default=1000, help="customers found in turn"
    )
    parser.add_argument(
        "--repeat-first", type=bounded(1, 1000), default=20, help="pages with keys cleared"
    )
    args = parser.parse_args()
    if min(args.sample, args.customers) < args.concurrency:
        parser.error("--sample and --customers must be at least --concurrency")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
