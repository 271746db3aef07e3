"""Benchmark: what the shared limits in Redis cost per request, against the process's own.

    .venv/bin/python bench/shared.py [--scenarios b,c] [--workers 1] [--concurrency 32]
                                     [--seconds 10] [--rounds 2] [--warmup 1]
                                     [--customers 1000] [--redis redis://127.0.0.1:6379/0]

Two `finora serve` on the same scratch database, keys and settings (bench/list.py's
set-up and rounds), the one difference being FINORA_REDIS_URL:

  local    each process keeps its own buckets and slots
  shared   the door (token and slot), the charges and the slots given back go to Redis

The per-key limit stays on but out of reach (bench/servers.py), so both sides do
all of its bookkeeping and refuse nothing.  Rounds alternate local, shared, local,
shared.  The summary gives, per scenario, requests/s, p99 and the server's CPU per
answered request on both sides and the shared/local ratios; the goal is at most
1.10x CPU per request.  It also prints how many operations each Redis call carried.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list import Totals, prepare, round_options, run_round  # noqa: E402
from bench.loadgen import HOST  # noqa: E402
from bench.scenarios import BY_ID_COUNT, LIST_QUERY, SCENARIOS, Target  # noqa: E402
from bench.servers import (  # noqa: E402
    Server,
    command_line,
    free_port,
    production_env,
    scratch_database,
)

BIN = ROOT / ".venv" / "bin"
CPU_GOAL = 1.10


def serve(name: str, workers: int, log_dir: Path) -> Server:
    port = free_port()
    argv = [str(BIN / "finora"), "serve", "--host", HOST, "--port", str(port),
            "--workers", str(workers)]  # fmt: skip
    return Server(name, argv, port, "finora", log_dir / f"{name}.log")


async def pick_ids(local: Server, shared: Server, target: Target) -> None:
    """The ids scenario (b) asks for; both sides must list the same customers."""
    lists = []
    for server in (local, shared):
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}") as http:
            answer = await http.post(
                "/graphql",
                json={
                    "query": LIST_QUERY % "id email",
                    "variables": {"businessId": target.business_id, "limit": BY_ID_COUNT},
                },
                headers={"Authorization": f"Bearer {target.token}"},
            )
        lists.append(answer.json()["data"]["customers"])
    if lists[0] != lists[1] or len(lists[0]) != BY_ID_COUNT:
        raise SystemExit("the local and shared servers do not list the same customers")
    target.ids = [c["id"] for c in lists[0]]


async def run(args: argparse.Namespace) -> None:
    print("command:", command_line([sys.executable, *sys.argv]))
    scratch = TemporaryDirectory(prefix="finora-bench-")
    local = serve("local", args.workers, Path(scratch.name))
    shared = serve("shared", args.workers, Path(scratch.name))
    async with scratch_database() as db:
        env = await production_env(db)
        shared_env = {
            **env,
            "FINORA_REDIS_URL": args.redis,
            "FINORA_REDIS_PREFIX": f"bench:{secrets.token_hex(4)}:",
        }
        try:
            target = prepare(env, args.customers)
            local.start(env)
            shared.start(shared_env)
            for server in (local, shared):
                await server.wait_ready()
            await pick_ids(local, shared, target)
            print(
                f"{os.cpu_count()} cores; {args.customers} customers; {args.workers} worker(s) "
                f"per server; {args.concurrency} connections; {args.rounds} round(s) per side "
                f"of {args.warmup:g} s warm-up + {args.seconds:g} s counted; Redis {args.redis}"
            )
            results: dict[str, tuple[Totals, Totals]] = {}
            for key in args.scenarios:
                scenario = SCENARIOS[key]
                print(f"\n({key}) {scenario.title}")
                totals = {"local": Totals(), "shared": Totals()}
                for round_no in range(1, args.rounds + 1):
                    for server in (local, shared):
                        requests = scenario.service_requests(server.port, target)
                        line = await run_round(
                            server, requests, args, db.admin, db.name, totals[server.name],
                            {"rate": args.rate} if args.rate else None,
                        )  # fmt: skip
                        print(f"  round {round_no} {server.name:<8}{line}", flush=True)
                results[key] = (totals["local"], totals["shared"])
            print(f"\n{'':<5}{'req/s local':>12}{'shared':>9}{'p99 ms local':>14}{'shared':>9}"
                  f"{'CPU us/req local':>18}{'shared':>9}{'ratio':>8}")  # fmt: skip
            for key, (mine, theirs) in results.items():
                ratio = theirs.cpu_us_per_request / mine.cpu_us_per_request
                verdict = "met" if ratio <= CPU_GOAL else "NOT met"
                print(
                    f"({key}) {mine.rps:>12.0f}{theirs.rps:>9.0f}"
                    f"{mine.percentile_ms(0.99):>14.2f}{theirs.percentile_ms(0.99):>9.2f}"
                    f"{mine.cpu_us_per_request:>18.0f}{theirs.cpu_us_per_request:>9.0f}"
                    f"{ratio:>7.2f}x  goal {CPU_GOAL}x: {verdict}"
                )
        finally:
            for server in (local, shared):
                server.stop()
            scratch.cleanup()


def main() -> None:
    parser = round_options(__doc__, scenarios=["b", "c"])
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="requests/s in all, the same on both sides (0: as fast as each goes)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
