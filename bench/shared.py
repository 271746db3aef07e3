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
answered request on both sides and the shared/local ratio (the goal: at most
1.10x), and what Redis did for the shared side: its calls and its own CPU per
request.  ``--rate`` sends the same load to both sides instead of as much as each
answers: at the most each side can answer, a server that waits on Redis answers
fewer requests per loop turn, so its CPU per request grows for that reason too.

Then the admitted rate (``--limit``, 0 to skip): two more servers of ``--workers
2`` (the kernel spreads connections over both processes), a key limited to
``--limit`` requests/s, sent three times that; in-process limits let each worker
admit the limit, shared ones the limit once.
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
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list import Totals, prepare, round_options, run_round  # noqa: E402
from bench.loadgen import HOST  # noqa: E402
from bench.scenarios import BY_ID_COUNT, LIST_QUERY, SCENARIOS, Target  # noqa: E402
from bench.servers import (  # noqa: E402
    Scratch,
    Server,
    command_line,
    finora_serve,
    production_env,
    scratch_database,
)

CPU_GOAL = 1.10
#: Seconds of the admitted-rate rounds.
ADMITTED_SECONDS = 6.0


class RedisWork:
    """What Redis did between two looks: script calls and its own CPU seconds."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.calls = 0
        self.cpu_s = 0.0

    def _now(self) -> tuple[int, float]:
        calls = self.client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        cpu = self.client.info("cpu")
        return int(calls), float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    def look(self) -> None:
        self._mark = self._now()

    def add_since(self) -> None:
        calls, cpu = self._now()
        self.calls += calls - self._mark[0]
        self.cpu_s += cpu - self._mark[1]


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
    local = finora_serve("local", args.workers, Path(scratch.name))
    shared = finora_serve("shared", args.workers, Path(scratch.name))
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
            work: dict[str, RedisWork] = {}
            for key in args.scenarios:
                scenario = SCENARIOS[key]
                print(f"\n({key}) {scenario.title}")
                totals = {"local": Totals(), "shared": Totals()}
                work[key] = RedisWork(args.redis)
                for round_no in range(1, args.rounds + 1):
                    for server in (local, shared):
                        requests = scenario.service_requests(server.port, target)
                        work[key].look()
                        line = await run_round(
                            server, requests, args, db.admin, db.name, totals[server.name],
                            {"rate": args.rate} if args.rate else None,
                        )  # fmt: skip
                        if server is shared:
                            work[key].add_since()
                        print(f"  round {round_no} {server.name:<8}{line}", flush=True)
                results[key] = (totals["local"], totals["shared"])
            print(f"\n{'':<5}{'req/s local':>12}{'shared':>9}{'p99 ms local':>14}{'shared':>9}"
                  f"{'CPU us/req local':>18}{'shared':>9}{'ratio':>8}"
                  f"{'Redis calls/req':>17}{'Redis us/req':>14}")  # fmt: skip
            for key, (mine, theirs) in results.items():
                ratio = theirs.cpu_us_per_request / mine.cpu_us_per_request
                verdict = "met" if ratio <= CPU_GOAL else "NOT met"
                # Redis's counters run through the warm-up too: per request of the whole round.
                sent = theirs.rps * (args.seconds + args.warmup) * args.rounds
                print(
                    f"({key}) {mine.rps:>12.0f}{theirs.rps:>9.0f}"
                    f"{mine.percentile_ms(0.99):>14.2f}{theirs.percentile_ms(0.99):>9.2f}"
                    f"{mine.cpu_us_per_request:>18.0f}{theirs.cpu_us_per_request:>9.0f}"
                    f"{ratio:>7.2f}x{work[key].calls / sent:>17.2f}"
                    f"{1e6 * work[key].cpu_s / sent:>14.0f}  goal {CPU_GOAL}x: {verdict}"
                )
            if args.limit:
                await admitted_rate(args, env, shared_env, target, db, Path(scratch.name))
        finally:
            for server in (local, shared):
                server.stop()
            scratch.cleanup()


async def admitted_rate(
    args: argparse.Namespace,
    env: dict[str, str],
    shared_env: dict[str, str],
    target: Target,
    db: Scratch,
    log_dir: Path,
) -> None:
    """A key at three times its limit on two workers: what each side lets through."""
    limited = {
        "FINORA_RATE_LIMIT_PER_SECOND": str(args.limit),
        "FINORA_RATE_LIMIT_BURST": str(max(1, int(args.limit / 10))),
        "FINORA_RATE_LIMIT_WORK_PER_TOKEN": "0",  # one token a request, whatever it reads
    }
    sides = [
        (finora_serve("local-2w", 2, log_dir), {**env, **limited}),
        (finora_serve("shared-2w", 2, log_dir), {**shared_env, **limited}),
    ]
    print(
        f"\nadmitted rate: a key limited to {args.limit:g}/s sent {3 * args.limit:g}/s, "
        "customer(id), two workers per server"
    )
    try:
        for server, environment in sides:
            server.start(environment)
        for server, _ in sides:
            await server.wait_ready()
        options = argparse.Namespace(**{**vars(args), "seconds": ADMITTED_SECONDS})
        for server, _ in sides:
            totals = Totals()
            requests = SCENARIOS["b"].service_requests(server.port, target)
            await run_round(server, requests, options, db.admin, db.name, totals,
                            {"rate": 3 * args.limit})  # fmt: skip
            refused = totals.errors / totals.seconds
            print(
                f"  {server.name:<10} admitted {totals.rps:7.1f}/s = "
                f"{totals.rps / args.limit:.2f}x "
                f"the limit, refused {refused:7.1f}/s (429)"
            )
    finally:
        for server, _ in sides:
            server.stop()


def main() -> None:
    parser = round_options(__doc__, scenarios=["b", "c"])
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="requests/s in all, the same on both sides (0: as fast as each goes)",
    )
    parser.add_argument(
        "--limit", type=float, default=200, help="the key's limit of the admitted-rate part"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
