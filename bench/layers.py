"""What each layer of a ``customer(id)`` or a ``findOrCreateCustomer`` costs, in microseconds.

    .venv/bin/python bench/layers.py [--request read|find-or-create] [--requests 3000]
                                     [--customers 200] [--profile stack|view]

In a scratch database (as bench/list.py makes one, dropped at the end) it builds
the service's ASGI app in this process and sends the same ``customer(id)``
request (every field, a JSON body by POST, as bench/list.py does) to each
layer in turn, from the outermost in ("stack": that layer and all below it), and to
each layer alone, with a stub in place of the rest of the app ("alone"). CPU time
of this process, the least of 10 rounds taken in turns: waiting for PostgreSQL and
other processes do not count.
Below the GraphQL view the parts of the compiled path are timed on their own:
for a read, the key lookup and the business's data keys (cached), the service
call (SQL on the pool), decrypting the four PII fields, building the answer and
orjson; for a find-or-create of an existing email (a repeat buyer), the
variables' coercion, the input checks, the data keys, the blind index, the
service call and the answer.  What Uvicorn and httptools cost (socket, HTTP
parsing, writing) is not in here: bench/list.py's server CPU per request minus
this total.
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

from bench.list import prepare  # noqa: E402
from bench.scenarios import FIELDS, ONE_QUERY  # noqa: E402

#: A repeat buyer's find-or-create, every field of the customer back.
FIND_OR_CREATE = (
    "mutation F($b: ID!, $i: FindOrCreateCustomerInput!) { findOrCreateCustomer("
    "businessId: $b, input: $i) { customer { %s } created userErrors { field code } } }"
)
from bench.servers import production_env, scratch_database  # noqa: E402

Call = Callable[[], Awaitable[Any]]


def http_scope(
    method: str, path: str, *, query: str = "", token: str | None = None, body: bytes = b""
) -> dict[str, Any]:
    """An ASGI HTTP scope as Uvicorn would give it: a JSON body and a Bearer key if given."""
    headers = [(b"host", b"bench")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if body:
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]  # fmt: skip
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }


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
ROUNDS = 10


async def best_us(calls: list[Call], requests: int) -> list[float]:
    """CPU time of this process per call of each (waiting for PostgreSQL is not counted).

    The calls take turns, round by round, so that a change in what else runs on the
    machine weighs on all of them alike; each keeps its least round.
    """
    for call in calls:
        for _ in range(min(200, requests)):  # warm: plans compiled, caches filled
            await call()
    best = [float("inf")] * len(calls)
    per_round = max(1, requests // ROUNDS)
    for _ in range(ROUNDS):
        for n, call in enumerate(calls):
            started = time.process_time()
            for _ in range(per_round):
                await call()
            best[n] = min(best[n], (time.process_time() - started) / per_round)
    return [1e6 * b for b in best]


async def mean_us(call: Call, requests: int) -> float:
    return (await best_us([call], requests))[0]


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
    pstats.Stats(profiler).sort_stats("tottime").print_stats(45)  # by own time


async def _stub(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """What a layer calls instead of the rest of the app, to time the layer alone."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def layers_of(app: Any) -> list[tuple[str, Any, Any]]:
    """(name, layer, (the object, its attribute) holding the next layer) outermost first,
    found by walking the ``app`` attributes; the view has no next layer."""
    observe = app
    first = observe.app  # GraphQLFirst: /graphql straight to its guards
    auth = first.graphql
    admit = auth.app
    bodylimit = admit.app
    view = bodylimit.app
    return [
        ("observe (request id, no-store, log line, metrics)", observe, (observe, "app")),
        ("dispatch (/graphql past Starlette)", first, (first, "graphql")),
        ("auth (cached key) and rate limit", auth, (auth, "app")),
        ("admission (business slot, work meter)", admit, (admit, "app")),
        ("body limit (reads the body)", bodylimit, (bodylimit, "app")),
        ("GraphQL view, compiled plan, SQL, decryption, JSON", view, None),
    ]


async def measure(args: argparse.Namespace, env: dict[str, str]) -> None:
    import orjson

    from app.models import keyring
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
        await keyring.of(caller.business_id)  # auth loads them; the rows open by them
        rows = await service.list_customers(caller, business_id=target.business_id, limit=1)
        customer_id = rows[0].id
        if args.request == "read":
            query = ONE_QUERY % " ".join(FIELDS)
            variables: dict[str, Any] = {"id": customer_id}
        else:
            query = FIND_OR_CREATE % " ".join(FIELDS)
            variables = {"b": target.business_id, "i": {"email": rows[0].email, "name": "X"}}
        body = orjson.dumps({"query": query, "variables": variables})
        scope = http_scope("POST", "/graphql", token=target.token, body=body)
        layers = layers_of(app)
        if args.profile == "stack":
            await profile(asgi_call(layers[0][1], scope, body), args.requests)
            return
        if args.profile == "view":
            view_scope = {**scope, "state": {"caller": caller}}
            await profile(asgi_call(layers[-1][1], view_scope, body), args.requests)
            return
        # Below auth, a layer is given the caller auth would have left in the state.
        below_auth = [n > 2 for n in range(len(layers))]

        def scope_for(n: int) -> dict[str, Any]:
            return {**scope, "state": {"caller": caller}} if below_auth[n] else dict(scope)

        calls = [asgi_call(layer, scope_for(n), body) for n, (_, layer, _) in enumerate(layers)]
        costs = await best_us(calls, args.requests)
        totals = [(name, cost) for (name, _, _), cost in zip(layers, costs, strict=True)]
        # Each layer alone, around a stub: steadier than differences of whole calls.
        alone = []
        for n, (name, layer, (holder, attribute)) in enumerate(layers[:-1]):
            inner = getattr(holder, attribute)
            setattr(holder, attribute, _stub)
            try:
                stubbed = asgi_call(layer, scope_for(n), body)
                alone.append((name, (await best_us([stubbed], args.requests // 2))[0]))
            finally:
                setattr(holder, attribute, inner)
        alone.append((layers[-1][0], totals[-1][1]))

        async def lookup() -> None:
            await authenticate(target.token)
            await keyring.of(caller.business_id)  # as auth does, once a request

        if args.request == "find-or-create":
            parts = await _find_or_create_parts(app, caller, query, variables, lookup, args)
            title = "findOrCreateCustomer of an existing email, every field"
            _print(title, totals, alone, parts, args)
            return

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

        from tortoise import Tortoise

        from app.models import records

        pool = Tortoise.get_connection("default")._pool
        one = f"SELECT {records.SELECT} FROM customer WHERE id = $1 AND business_id = $2"

        async def bare() -> Any:
            return await pool.fetch(one, customer_id, caller.business_id)

        read_us, decrypt_us, lookup_us, json_us, bare_us = await best_us(
            [read, decrypt, lookup, serialize, bare], args.requests
        )
        parts = [
            ("  key lookup and data keys (cache hits)", lookup_us),
            ("  service call: SQL on the pool, a record", read_us),
            ("  decrypting 4 PII fields (AES-GCM)", decrypt_us - read_us),
            ("  orjson of the answer", json_us),
            ("  (the same SELECT by asyncpg's pool.fetch, as the floor reads)", bare_us),
        ]
        del row
    _print("customer(id), every field", totals, alone, parts, args)


def _print(
    title: str,
    totals: list[tuple[str, float]],
    alone: list[tuple[str, float]],
    parts: list[tuple[str, float]],
    args: argparse.Namespace,
) -> None:
    rounds = f"best of {ROUNDS} rounds of {args.requests // ROUNDS}"
    print(f"{title}, CPU per request in-process (us), {rounds}")
    print(f"{'layer':<62}{'alone':>8}{'stack':>8}")
    for (name, total), (_, own) in zip(totals, alone, strict=True):
        print(f"{name:<62}{own:>8.1f}{total:>8.1f}")
    for name, cost in parts:
        print(f"{name:<62}{cost:>8.1f}")


async def _find_or_create_parts(
    app: Any,
    caller: Any,
    query: str,
    variables: dict[str, Any],
    lookup: Call,
    args: argparse.Namespace,
) -> list[tuple[str, float]]:
    """The parts of a repeat buyer's find-or-create on its compiled plan."""
    import orjson

    from app.models import keyring
    from app.services import customers as service
    from schema.context import Context

    view = layers_of(app)[-1][1]
    while not hasattr(view, "plans"):  # the GraphiQL page's wrapper holds the view
        view = view.api
    plan = next(p for p in view.plans._items.values() if p[0] is not None)[0]
    context = Context(request=None, response=None, caller=caller)  # type: ignore[arg-type]
    business_id, email = variables["b"], variables["i"]["email"]

    async def coerce() -> None:
        plan._variables(variables)

    async def plan_run() -> None:
        await plan.run(variables, context)

    async def checks() -> None:
        service.find_or_create_data(email=email, name="X", phone=None)

    keys = await keyring.of(business_id)

    async def data_keys() -> None:
        await keyring.of(business_id)

    async def blind() -> None:
        service.email_hash_of(keys, email)

    async def read() -> Any:
        return await service.active_by_email(keys, email)

    async def call() -> None:
        await service.find_or_create_customer(
            caller, business_id=business_id, email=email, name="X", phone=None
        )

    async def decrypt() -> None:
        row = await read()
        for column in ("email", "phone", "address", "tin"):
            getattr(row, column)

    answer = {"data": {"findOrCreateCustomer": {"customer": dict.fromkeys(FIELDS, email)}}}

    async def serialize() -> None:
        orjson.dumps(answer)

    (
        run_us,
        coerce_us,
        checks_us,
        keys_us,
        blind_us,
        call_us,
        read_us,
        decrypt_us,
        lookup_us,
        json_us,
    ) = await best_us(
        [plan_run, coerce, checks, data_keys, blind, call, read, decrypt, lookup, serialize],
        args.requests,
    )
    return [
        ("  the plan's run: guard, variables, resolver, answer", run_us),
        ("    variables coerced (an input object)", coerce_us),
        ("    service call: checks, blind index, SQL read, record", call_us),
        ("      input checks (email and phone rules, default name)", checks_us),
        ("      the business's data keys (keyring.of, cache hit)", keys_us),
        ("      blind index (HMAC-SHA256 of the email)", blind_us),
        ("      SQL read by blind index on the pool, a record", read_us),
        ("    decrypting 4 PII fields (AES-GCM)", decrypt_us - read_us),
        ("  key lookup and data keys (cache hits)", lookup_us),
        ("  orjson of the answer", json_us),
    ]


async def run(args: argparse.Namespace) -> None:
    async with scratch_database() as db:
        await measure(args, await production_env(db))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--request", choices=("read", "find-or-create"), default="read")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument(
        "--profile", choices=("stack", "view"), help="cProfile the whole stack or the view"
    )
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
