"""Benchmark: a read_masked key's list against a write key's, on one server, one run.

    .venv/bin/python bench/masked.py [--customers 1000] [--seconds 5] [--rounds 3]

Both keys of one business ask for `customers(limit: 100)` with every field.
A masked list decrypts email, phone and TIN to mask them and never the
address, so it must be at least as fast as the clear one (ratio >= 1.0x).
Rounds alternate clear, masked, clear, masked, so drift is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list import HEADER, Totals, bounded, run_round, table_row  # noqa: E402
from bench.rawhttp import fetch, graphql_request  # noqa: E402
from bench.scenarios import FIELDS, LIST_QUERY  # noqa: E402
from bench.servers import (  # noqa: E402
    command_line,
    finora,
    make_servers,
    production_env,
    scratch_database,
)


def _check(body: bytes, masked: bool, expected: int) -> None:
    rows = json.loads(body)["data"]["customers"]
    assert len(rows) == expected, f"{len(rows)} rows, not {expected}"
    for row in rows:
        if masked:
            assert row["address"] is None and "***@" in row["email"], row["id"]
        else:
            assert "***@" not in row["email"], row["id"]


async def run(args: argparse.Namespace) -> None:
    print("command:", command_line([sys.executable, *sys.argv]))
    async with scratch_database() as db:
        env = await production_env(db)
        business = json.loads(finora(env, "business", "create", "Bench masked", "--json"))["id"]
        finora(env, "seed-demo", "--business", business, "--count", str(args.customers))
        tokens = {
            scope: json.loads(
                finora(env, "apikey", "create", "--business", business, "--scope", scope, "--json")
            )["key"]
            for scope in ("write", "read_masked")
        }
        service, _ = make_servers(1, Path(tempfile.mkdtemp(prefix="finora-bench-")))
        service.start(env)
        try:
            await service.wait_ready()
            query = LIST_QUERY % " ".join(FIELDS)
            variables = {"businessId": business, "limit": 100}
            requests = {
                scope: [graphql_request(service.port, token, query, variables)]
                for scope, token in tokens.items()
            }
            for scope, request in requests.items():
                status, body = await fetch(service.port, request[0])
                assert status == 200, body[:200]
                _check(body, scope == "read_masked", min(100, args.customers))
            print(
                f"{args.customers} customers; customers(limit: 100), every field; "
                f"{args.concurrency} connections; {args.rounds} round(s) per key of "
                f"{args.warmup:g} s warm-up + {args.seconds:g} s counted"
            )
            totals = {scope: Totals() for scope in tokens}
            for round_no in range(1, args.rounds + 1):
                for scope in tokens:
                    line = await run_round(
                        service,
                        requests[scope],
                        args,
                        db.admin,
                        db.name,
                        totals[scope],
                    )
                    print(f"  round {round_no} {scope:<12}{line}", flush=True)
        finally:
            service.stop()
    print(HEADER)
    for scope, total in totals.items():
        print(table_row(scope[:8], total))  # peak RSS is not read here: 0.0
    clear, masked = totals["write"], totals["read_masked"]

    def cpu_ms(total: Totals) -> float:
        """Server CPU per answered request: steadier than req/s on a busy machine."""
        return 1000 * total.server_cpu / max(1, len(total.latencies_us))

    print(
        f"server CPU per request: write {cpu_ms(clear):.2f} ms, "
        f"read_masked {cpu_ms(masked):.2f} ms "
        f"({cpu_ms(masked) / cpu_ms(clear):.2f}x, goal <= 1.00x)"
    )
    print(
        f"read_masked/write: req/s {masked.rps / clear.rps:.2f}x (goal >= 1.00x), "
        f"p50 {masked.percentile_ms(0.5) / clear.percentile_ms(0.5):.2f}x, "
        f"p99 {masked.percentile_ms(0.99) / clear.percentile_ms(0.99):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--customers", type=bounded(100, 1_000_000), default=1000)
    parser.add_argument("--concurrency", type=bounded(1, 1024), default=16)
    parser.add_argument("--seconds", type=bounded(0.5, 600, float), default=5.0)
    parser.add_argument("--warmup", type=bounded(0, 60, float), default=1.0)
    parser.add_argument("--rounds", type=bounded(1, 20), default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
