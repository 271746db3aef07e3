"""What each layer of a ``customer(id)`` request costs, in microseconds.

    .venv/bin/python bench/layers.py [--requests 3000] [--customers 200]

In a scratch database (as bench/list.py makes one, dropped at the end) it builds
the service's ASGI app in this process and sends the same ``customer(id)``
request (every field, a JSON body by POST, as bench/list.py does) to each
layer in turn, from the outermost in: the CPU time per request of a layer's whole
call minus that of the next layer down is what the layer itself costs (CPU time,
best of 5 rounds: waiting for PostgreSQL and other processes do not count).
Below the GraphQL view the parts of the compiled path are timed on their own:
the key lookup (cached), the service call (SQL on the pool), decrypting the four
PII fields, building the answer and orjson.  What Uvicorn and httptools cost
(socket, HTTP parsing, writing) is not in here: bench/list.py's server CPU per
request minus this total.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list import prepare, scratch_environment  # noqa: E402
from bench.scenarios import FIELDS, ONE_QUERY  # noqa: E402

Call = Callable[[], Awaitable[Any]]


def asgi_call(app: Any, scope: dict[str, Any], body: bytes) -> Call:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    async def call() -> None:
        fresh = {**scope, "state": dict(scope.get("state", {}))}
        await app(fresh, receive, send)

    return call


#: Rounds per measurement; the least is kept (other work on the machine only adds).
ROUNDS = 5


async def mean_us(call: Call, requests: int) -> float:
    """CPU time of this process per call (waiting for PostgreSQL is not counted)."""
    for _ in range(min(200, requests)):  # warm: plans compiled, caches filled
        await call()
    best = float("inf")
    per_round = max(1, requests // ROUNDS)
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(per_round):
            await call()
        best = min(best, (time.process_time() - started) / per_round)
    return 1e6 * best


async def profile(call: Call, requests: int) -> None:
    """cProfile of whole requests: the functions that cost most, by own time."""
    import cProfile
    import pstats

    for _ in range(200):
        await call()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        await call()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)  # by cumulative time


def layers_of(app: Any) -> list[tuple[str, Any]]:
    """The app's layers, outermost first, found by walking their ``app`` attributes."""
    observe = app
    nostore = observe.app
    bodylimit = nostore.app
    starlette = bodylimit.app
    route = next(r for r in starlette.routes if getattr(r, "path", None) == "/graphql")
    auth = route.app
    view = auth.app
    return [
        ("observe (request id, log line, metrics)", observe),
        ("no-store header", nostore),
        ("body limit (reads the body)", bodylimit),
        ("Starlette (middleware stack, routing)", starlette),
        ("auth (cached key) and rate limit", auth),
        ("GraphQL view, compiled plan, SQL, decryption, JSON", view),
    ]


async def measure(args: argparse.Namespace, env: dict[str, str]) -> None:
    import orjson

    from app.services import customers as service
    from app.services.access import Caller
    from app.services.businesses import authenticate
    from app.settings import Settings
    from schema.asgi import create_app

    os.environ.update(env)
    target = prepare(env, args.customers)
    app = create_app(Settings.from_env())
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app):
        caller = await authenticate(target.token)
        assert isinstance(caller, Caller)
        rows = await service.list_customers(caller, business_id=target.business_id, limit=1)
        customer_id = rows[0].id
        query = ONE_QUERY % " ".join(FIELDS)
        body = orjson.dumps({"query": query, "variables": {"id": customer_id}})
        headers = [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {target.token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "state": {},
        }
        layers = layers_of(app)
        if args.profile:
            await profile(asgi_call(layers[0][1], scope, body), args.requests)
            return
        totals = []
        for name, layer in layers:
            layer_scope = dict(scope)
            if name.startswith("GraphQL view"):
                layer_scope["state"] = {"caller": caller}
            totals.append((name, await mean_us(asgi_call(layer, layer_scope, body), args.requests)))

        async def lookup() -> None:
            await authenticate(target.token)

        async def read() -> Any:
            return await service.read_customer(caller, customer_id)

        row = await read()
        plain = ("email", "phone", "address", "tin")

        async def decrypt() -> None:
            fresh = await read()
            for column in plain:
                getattr(fresh, column)

        answer = {"data": {"customer": {f: customer_id for f in FIELDS}}}

        async def serialize() -> None:
            orjson.dumps(answer)

        parts = [
            ("  key lookup (cache hit)", await mean_us(lookup, args.requests)),
            ("  service call: SQL on the pool, a record", await mean_us(read, args.requests)),
            (
                "  decrypting 4 PII fields (AES-GCM)",
                await mean_us(decrypt, args.requests) - await mean_us(read, args.requests),
            ),
            ("  orjson of the answer", await mean_us(serialize, args.requests)),
        ]
        del row
    rounds = f"best of {ROUNDS} rounds of {args.requests // ROUNDS}"
    print(f"customer(id), every field, CPU per request in-process (us), {rounds}")
    print(f"{'layer':<56}{'own':>8}{'total':>8}")
    for (name, total), below in zip(totals, [*[t for _, t in totals[1:]], 0.0], strict=True):
        print(f"{name:<56}{total - below:>8.1f}{total:>8.1f}")
    for name, cost in parts:
        print(f"{name:<56}{cost:>8.1f}")


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    from app import crypto
    from app.crypto.keys import KeySet
    from app.db.migrate import migrate
    from app.settings import parse_database_url

    server_url, name, keys, env = scratch_environment("finora_layers")
    url = env["DATABASE_URL"]
    admin = await asyncpg.connect(**parse_database_url(server_url))  # type: ignore[arg-type]
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        crypto.install(KeySet.parse(keys["FINORA_ENCRYPTION_KEYS"], keys["FINORA_INDEX_KEY"]))
        await migrate(url)
        await measure(args, env)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile instead of layers")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
