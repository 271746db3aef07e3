"""Benchmark: instructions per request of the service and the floor, counted, not timed.

    .venv/bin/python bench/instructions.py [--requests 300] [--customers 200]
                                           [--redis redis://127.0.0.1:6379/0]

Requests per second move by 10-20 % from run to run on a shared machine; the
number of instructions a request executes does not. This runs each side in
this process under valgrind's callgrind (Debian's `valgrind`), with counting
switched on only around the measured requests (`callgrind_control`), and prints
user-space instructions per request of ``customer(id)`` and
``customers(limit: 10)`` (every field) for the service's whole ASGI stack and for
the floor (bench/floor.py), and their ratio.  Both sides answer from one scratch
database, after 100 warm-up requests each (plans compiled, caches filled).

What it does not count: the kernel (sockets, the log's writes), Uvicorn's
protocol (not in-process here: both sides would pay it alike), and waiting.
The loop here is asyncio's own, not uvloop, for both sides.  The seeded data
differs per run (realistic random people), which moves the counts by 1-2 %.
It takes about a minute: valgrind runs the interpreter some 50 times slower.

With ``--redis``, the service is counted against itself with the shared limits
(FINORA_REDIS_URL) instead of against the floor: what the shared door adds to a
request in this process, one request at a time (so each request's door is a call
of its own, the worst case: under load, a call carries several).  Redis's own
work and the kernel's part of the round trip are not counted (bench/shared.py
times both).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.layers import asgi_call, http_scope  # noqa: E402
from bench.list import prepare  # noqa: E402
from bench.scenarios import FIELDS, LIST_QUERY, ONE_QUERY  # noqa: E402
from bench.servers import production_env, scratch_database  # noqa: E402

SHAPES = ("customer(id)", "customers(limit: 10)")
WARM_UP = 100


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def scopes(token: str, business_id: str, customer_id: str) -> dict[str, dict[str, Any]]:
    """The service's POST and the floor's GET for each shape, as bench/list.py sends them."""
    from urllib.parse import urlencode

    import orjson

    selection = " ".join(FIELDS)
    bodies = [
        orjson.dumps({"query": ONE_QUERY % selection, "variables": {"id": customer_id}}),
        orjson.dumps(
            {
                "query": LIST_QUERY % selection,
                "variables": {"businessId": business_id, "limit": 10},
            }
        ),
    ]
    floor_paths = [
        ("/customer", urlencode({"id": customer_id})),
        ("/customers", urlencode({"businessId": business_id, "limit": 10})),
    ]
    out: dict[str, dict[str, Any]] = {}
    for shape, body, (path, query) in zip(SHAPES, bodies, floor_paths, strict=True):
        service = http_scope("POST", "/graphql", token=token, body=body)
        floor = http_scope("GET", path, query=query)
        out[shape] = {"service": (service, body), "floor": (floor, b"")}
    return out


async def measure(side: str, requests: int, customers: int, redis_url: str | None) -> None:
    """In the process valgrind runs: one side's requests, one dump per shape."""
    from asgi_lifespan import LifespanManager

    from app.services import customers as service_api
    from app.services.businesses import authenticate
    from app.settings import Settings
    from schema.asgi import create_app

    async with scratch_database() as db:
        env = await production_env(db)
        if side == "shared":
            assert redis_url
            env |= {"FINORA_REDIS_URL": redis_url, "FINORA_REDIS_PREFIX": f"bench:{os.getpid()}:"}
        os.environ.update(env)
        target = prepare(env, customers)
        app = create_app(Settings.from_env())
        async with LifespanManager(app):
            caller = await authenticate(target.token)
            first = await service_api.list_customers(
                caller, business_id=target.business_id, limit=1
            )
            requests_of = scopes(target.token, target.business_id, first[0].id)
            if side == "floor":
                from bench.floor import create_app as floor_app

                app = floor_app()
                manager = LifespanManager(app)
                await manager.__aenter__()
            for n, shape in enumerate(SHAPES):
                scope, body = requests_of[shape]["floor" if side == "floor" else "service"]
                call = asgi_call(app, scope, body)
                for _ in range(WARM_UP):
                    await call()
                control("-z")
                control("-i", "on")
                for _ in range(requests):
                    await call()
                control("-i", "off")
                control("-d", f"shape{n}")
            if side == "floor":
                await manager.__aexit__(None, None, None)


def count(side: str, args: argparse.Namespace, out: Path) -> list[float]:
    """Run one side under callgrind; instructions per request of each shape."""
    pattern = out / f"{side}.%p"
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={pattern}",
         sys.executable, __file__, "--side", side, "--requests", str(args.requests),
         "--customers", str(args.customers), *(["--redis", args.redis] if args.redis else [])],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    per_request = []
    for n in range(len(SHAPES)):
        (dump,) = glob.glob(str(out / f"{side}.*.{n + 1}"))
        totals = [
            line for line in Path(dump).read_text().splitlines() if line.startswith("totals:")
        ]
        per_request.append(int(totals[-1].split()[1]) / args.requests)
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--redis", help="count the service with shared limits instead of the floor")
    parser.add_argument("--side", choices=("service", "floor", "shared"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # inside valgrind
        asyncio.run(measure(args.side, args.requests, args.customers, args.redis))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: sudo apt-get install -y valgrind")
    other = "shared" if args.redis else "floor"
    with TemporaryDirectory(prefix="finora-callgrind-") as tmp:
        mine, theirs = count("service", args, Path(tmp)), count(other, args, Path(tmp))
    print(f"instructions per request (user space, in-process), {args.requests} requests each")
    if args.redis:
        print(f"{'':<24}{'local':>12}{'shared':>12}{'ratio':>8}")
        for shape, local, shared in zip(SHAPES, mine, theirs, strict=True):
            ratio = shared / local
            print(f"{shape:<24}{local / 1000:>11.0f}k{shared / 1000:>11.0f}k{ratio:>7.2f}x")
        return
    service, floor = mine, theirs
    print(f"{'':<24}{'service':>12}{'floor':>12}{'ratio':>8}")
    for shape, mine, theirs in zip(SHAPES, service, floor, strict=True):
        print(f"{shape:<24}{mine / 1000:>11.0f}k{theirs / 1000:>11.0f}k{mine / theirs:>7.2f}x")


if __name__ == "__main__":
    main()
