"""Benchmark: the writes one PostgreSQL primary holds on this machine, with N workers.

    .venv/bin/python bench/scaling.py [--workers 1,2,4] [--concurrency 32] [--seconds 8]
                                      [--warmup 2] [--rounds 2] [--customers 2000]

The README's scaling section has to name what one primary holds before it names
the next step (read replicas, then Citus), and that figure only means something
measured: so this runs the production server, `finora serve --workers N`, for
each N of `--workers`, against one PostgreSQL, with the same write mix, and
compares each N with the first (the baseline, 1 worker by default) in the same
run, rounds alternating (1, 2, 4, then 4, 2, 1, ...) so that a shared machine's
drift falls on every N alike.

In a scratch database (bench/servers.py: created on the server of DATABASE_URL,
default the local PostgreSQL, migrated, dropped at the end) it makes a business,
an API key and `--customers` customers with the real CLI (bench/writes.py's
`prepare`).  The mix, half and half, each connection sending both in turn:

  findOrCreateCustomer of a new email   (a new shopper: inserts a customer and its event)
  updateCustomer of the name            (a known one, each connection its own customers,
                                         so no two connections wait on one row lock)

Every request is distinct (the load generator numbers a placeholder in each,
bench/loadgen.py; the round's tag keeps rounds apart), so each find-or-create
creates and each update changes the name and writes an event.  A request counts
only as a 200 with data, no errors and no userErrors.

Each round starts the server (after a VACUUM of the customer table), waits for
/healthz, sends one write of each kind and checks the answers, then runs the load
generator of bench/list.py (`--warmup` seconds, then `--seconds` counted, at
`--concurrency` keep-alive connections, the same for every N) and stops the
server.  Per N: writes per second, p50, p99, the server's CPU per write and its
PostgreSQL backends' (only its own pool's: the WAL writer and checkpointer are
in neither), WAL bytes per write (the cluster's WAL over the round, over the
events the round committed: run it on a quiet server), the machine's busy share.
At the end it checks that no customer is duplicated (one active customer per
email).

Admission per business is set to `--concurrency` (the default, 4 in flight per
process, would cap one business's rate, not the database's), and the per-key
rate limit never refuses (bench/servers.py).  The load generator runs on the
same cores: on a small machine the figures are the machine's limit, and the CPU
split says how much of it the database itself needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list import LOADGEN_ARGV, Totals, add_round, bounded, measure_round  # noqa: E402
from bench.rawhttp import fetch  # noqa: E402
from bench.servers import (  # noqa: E402
    Scratch,
    Server,
    command_line,
    finora_serve,
    production_env,
    scratch_database,
)
from bench.writes import (  # noqa: E402
    EMAIL_NUMBER,
    USER_ERROR_MARK,
    Side,
    Target,
    load_customers,
    per_request_ms,
    prepare,
    ratio,
)

#: A write commits exactly one customer_event row (a create or a change): the
#: round's committed writes, counted in the database, for WAL per write.
EVENTS_OF = "SELECT count(*) FROM customer_event WHERE business_id = $1"
DUPLICATES = (
    "SELECT count(*) - count(DISTINCT email_hash) FROM customer "
    "WHERE business_id = $1 AND is_active"
)


def server_for(workers: int, log_dir: Path) -> Server:
    """`finora serve --workers N` as an operator runs it (bench/servers.py)."""
    return finora_serve(f"{workers} worker{'s' if workers > 1 else ''}", workers, log_dir)


def mixed_requests(side: Side, target: Target, tag: str, concurrency: int) -> list[bytes]:
    """Find-or-creates of new emails and updates of known names, laid out so that
    connection i (which sends requests i, i + c, i + 2c, ...: the load generator's
    `partition`) alternates the two and updates only customers of its own."""
    per_block = concurrency
    blocks = len(target.customers) // per_block
    requests: list[bytes] = []
    for block in range(blocks):
        chosen = range(block * per_block, (block + 1) * per_block)
        for n in chosen:
            person = target.people[n]
            local, domain = person["email"].split("@")
            values = {
                "email": f"{local}.{tag}{EMAIL_NUMBER}@{domain}",
                "name": person["name"],
                "phone": person["phone"],
            }
            requests.append(side.find_or_create(target, {k: v for k, v in values.items() if v}))
        for n in chosen:
            customer_id, name, _, _ = target.customers[n]
            requests.append(
                side.update(target, customer_id, {"name": f"{name} {tag}{EMAIL_NUMBER}"})
            )
    return requests


async def check_answers(side: Side, target: Target, tag: str) -> None:
    """One write of each kind, answered as the mix expects, before any timing:
    a find-or-create of a new email creates, an update renames."""

    async def payload(request: bytes, mutation: str) -> dict[str, Any]:
        status, body = await fetch(side.port, request)
        document = json.loads(body)
        if status != 200 or "errors" in document or USER_ERROR_MARK.encode() in body:
            raise SystemExit(f"{side.name} answered {status}: {body[:300]!r}")
        return document["data"][mutation]

    email = f"check.{tag}@example.com"
    made = await payload(side.find_or_create(target, {"email": email}), "findOrCreateCustomer")
    if not made["created"] or made["customer"]["email"] != email:
        raise SystemExit(f"find-or-create of a new email did not create it: {made}")
    customer_id, name, _, _ = target.customers[0]
    renamed = await payload(
        side.update(target, customer_id, {"name": f"{name} {tag}"}), "updateCustomer"
    )
    if renamed["customer"]["name"] != f"{name} {tag}":
        raise SystemExit(f"update did not rename: {renamed}")
    # Back, so that the timed updates of this customer start from its own name.
    await payload(side.update(target, customer_id, {"name": name}), "updateCustomer")


async def wal_lsn(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


class Figures:
    """One N over its rounds: the load generator's totals, WAL and committed writes."""

    def __init__(self) -> None:
        self.totals = Totals()
        self.wal_bytes = 0
        self.committed = 0

    @property
    def wal_per_write(self) -> float:
        return self.wal_bytes / self.committed if self.committed else math.nan


async def run_round(
    server: Server,
    env: dict[str, str],
    target: Target,
    args: argparse.Namespace,
    db: Scratch,
    conn: asyncpg.Connection,
    tag: str,
    figures: Figures,
) -> str:
    """Start the server, check it, measure one round, stop it; a one-line summary."""
    # This PostgreSQL may run without autovacuum: each round starts from a vacuumed
    # table and empty GIN pending lists, not the previous round's leftovers.
    await conn.execute("VACUUM customer")
    server.start(env)
    try:
        await server.wait_ready()
        side = Side("service", server.port)
        await check_answers(side, target, tag)
        requests = mixed_requests(side, target, tag, args.concurrency)
        options = {
            "placeholder": EMAIL_NUMBER,
            "failure_marks": [USER_ERROR_MARK],
            "partition": True,
        }
        events_before = await conn.fetchval(EVENTS_OF, target.business_id)
        wal_before = await wal_lsn(conn)
        this, busy = await measure_round(server, requests, args, db.admin, db.name, options)
        figures.wal_bytes += await wal_lsn(conn) - wal_before
        figures.committed += await conn.fetchval(EVENTS_OF, target.business_id) - events_before
    finally:
        server.stop()
    add_round(figures.totals, this, busy)
    return (
        f"{this.rps:7.0f} writes/s  p50 {this.percentile_ms(0.5):6.2f} ms  "
        f"p99 {this.percentile_ms(0.99):6.2f} ms  errors {this.errors}  "
        f"cpu/write: server {per_request_ms(this, this.server_cpu):.3f} ms, "
        f"postgres {per_request_ms(this, this.db_cpu):.3f} ms; machine {100 * busy:.0f}%"
    )


def print_summary(results: dict[int, Figures], baseline: int) -> None:
    """The table of every N against the baseline N, and what PostgreSQL itself needed."""
    base = results[baseline].totals
    print(
        f"\n{'workers':<9}{'writes/s':>9}{'vs ' + str(baseline):>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p99 vs':>8}{'errors':>8}{'srv ms/w':>10}{'pg ms/w':>9}{'WAL B/w':>9}{'busy%':>7}"
    )
    for workers, figures in results.items():
        t = figures.totals
        print(
            f"{workers:<9}{t.rps:>9.0f}{ratio(t.rps, base.rps):>7.2f}x"
            f"{t.percentile_ms(0.5):>9.2f}{t.percentile_ms(0.99):>9.2f}"
            f"{ratio(t.percentile_ms(0.99), base.percentile_ms(0.99)):>7.2f}x{t.errors:>8}"
            f"{per_request_ms(t, t.server_cpu):>10.3f}{per_request_ms(t, t.db_cpu):>9.3f}"
            f"{figures.wal_per_write:>9.0f}{100 * t.machine_busy / t.seconds:>7.0f}"
        )
    best = max(results, key=lambda n: results[n].totals.rps)
    t = results[best].totals
    pg_ms = per_request_ms(t, t.db_cpu)
    print(
        f"most: {t.rps:.0f} writes/s with {best} worker(s) on {os.cpu_count()} cores shared "
        f"by the service, PostgreSQL and the load generator.  PostgreSQL's backends "
        f"needed {pg_ms:.3f} ms of CPU per write: with the service on other hosts, about "
        f"{1000 / pg_ms:.0f} writes/s per core of the primary (backends only; WAL writer, "
        "checkpointer and fsync come on top)"
    )
    failed = [n for n, f in results.items() if f.totals.errors]
    if failed:
        print(f"WARNING: failed writes with {failed} worker(s): those figures are not comparable")


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    from app.settings import parse_database_url

    print("command:", command_line([sys.executable, *sys.argv]))
    scratch = TemporaryDirectory(prefix="finora-bench-")
    servers = {n: server_for(n, Path(scratch.name)) for n in args.workers}
    async with scratch_database() as db:
        env = await production_env(db)
        # One business sends everything: its admission must not be what is measured.
        env["FINORA_BUSINESS_IN_FLIGHT"] = str(args.concurrency)
        try:
            target = prepare(env, args.customers)
            conn = await asyncpg.connect(**parse_database_url(db.url))  # type: ignore[arg-type]
            try:
                await load_customers(conn, target, args.customers)
                settings = {
                    name: await db.admin.fetchval(f"SHOW {name}")
                    for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers")
                }
                print(
                    f"PostgreSQL {settings['server_version']} (synchronous_commit "
                    f"{settings['synchronous_commit']}, fsync {settings['fsync']}, shared_buffers "
                    f"{settings['shared_buffers']}); {os.cpu_count()} cores; {args.customers} "
                    f"customers; {args.concurrency} connections for every N; {args.rounds} "
                    f"round(s) per N of {args.warmup:g} s warm-up + {args.seconds:g} s counted, "
                    f"each on a fresh server after a VACUUM of the customer table"
                )
                print("mix: findOrCreateCustomer of a new email / updateCustomer of the name, 1:1")
                for server in servers.values():
                    print(f"{server.name + ':':<10} {command_line(server.argv)}")
                print("loadgen:   " + command_line(LOADGEN_ARGV) + "  (a new process per round)")
                results = {n: Figures() for n in args.workers}
                for round_no in range(1, args.rounds + 1):
                    order = args.workers if round_no % 2 else list(reversed(args.workers))
                    for n in order:
                        line = await run_round(
                            servers[n], env, target, args, db, conn, f"r{round_no}w{n}", results[n]
                        )
                        print(f"  round {round_no} {servers[n].name:<10}{line}", flush=True)
                print_summary(results, args.workers[0])
                duplicated = await conn.fetchval(DUPLICATES, target.business_id)
                if duplicated:
                    raise SystemExit(f"{duplicated} customer(s) duplicated")
                print("checked: one active customer per email after every round")
            finally:
                await conn.close()
        finally:
            for server in servers.values():
                server.stop()
            scratch.cleanup()


def worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError("a list of worker counts, e.g. 1,2,4") from error
    if not counts or len(set(counts)) != len(counts) or not all(1 <= n <= 16 for n in counts):
        raise argparse.ArgumentTypeError("distinct worker counts from 1 to 16, e.g. 1,2,4")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--workers", type=worker_counts, default=[1, 2, 4], help="the first is the baseline"
    )
    parser.add_argument("--concurrency", type=bounded(2, 1024), default=32)
    parser.add_argument("--seconds", type=bounded(0.5, 600, float), default=8.0)
    parser.add_argument("--warmup", type=bounded(0, 60, float), default=2.0)
    parser.add_argument("--rounds", type=bounded(1, 20), default=2, help="rounds per N")
    parser.add_argument("--customers", type=bounded(100, 1_000_000), default=2000)
    args = parser.parse_args()
    if args.customers < 2 * args.concurrency:
        parser.error("--customers must be at least twice --concurrency")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
