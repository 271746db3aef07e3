"""The service through a real PgBouncer (Debian's 1.18) in transaction pooling mode.

First what breaks without app.db.connect, shown on PgBouncer itself: the direct
connection's startup parameter is refused, a named prepared statement goes
missing once the pooler hands out another server connection, a session advisory
lock is "held" by two clients at once, and asyncpg's type lookup leaves a server
connection with jit off.  Then the service: unnamed statements stay right under
concurrency, `finora serve` gives one customer to a race of find-or-create over
two processes, two `finora worker` processes send each delivery once, and the
commands that need a session refuse to start without a direct URL.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.db import connect
from app.settings import ConfigError, Settings, parse_database_url
from tests.conftest import GraphQL, make_tenant, running_server
from tests.pgbouncer import PgBouncer, environment, start_pgbouncer
from tests.receiver import Receiver
from tests.test_api import FIND_OR_CREATE
from tests.test_cli import arun, assert_one_clear_line, production_env
from tests.test_webhook_delivery import (
    each_sent_once,
    hooked,  # noqa: F401 - a fixture
    register,
)
from tests.workers import running_worker

#: What every statement test sends: answers that depend on the values, in
#: statements of different shapes (parameter counts and types, arrays).
STATEMENTS = [
    ("SELECT $1::int + $2::int, pg_backend_pid()", lambda r: (r.randrange(10**6), r.randrange(9))),
    ("SELECT $1::text || '!', pg_backend_pid()", lambda r: (str(r.random()),)),
    ("SELECT cardinality($1::int[]), pg_backend_pid()", lambda r: ([7] * r.randrange(1, 9),)),
    ("SELECT $1::bigint * 2, $2::bool, pg_backend_pid()", lambda r: (r.randrange(10**12), True)),
]
EXPECTED = [
    lambda a: a[0] + a[1],
    lambda a: a[0] + "!",
    lambda a: len(a[0]),
    lambda a: a[0] * 2,
]


@pytest.fixture
def small_pgbouncer(server_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer of two server connections: clients must share and switch them."""
    with start_pgbouncer(server_url, pool_size=2) as bouncer:
        yield bouncer


def pooled(bouncer: PgBouncer, database_url: str) -> str:
    """The URL through `bouncer`, declared pooled (as FINORA_DATABASE_POOLER does)."""
    url = bouncer.url(database_url)
    connect.declare_pooled(url)
    return url


def direct_arguments(url: str, **server_settings: str) -> dict[str, Any]:
    """asyncpg's arguments as for a direct URL (named statements, cached), whatever
    was declared of `url` before."""
    settings = server_settings or connect.DIRECT_SERVER_SETTINGS
    return {**parse_database_url(url), "server_settings": settings}


async def test_the_direct_connection_is_refused_at_login(small_pgbouncer, database_url):
    url = small_pgbouncer.url(database_url)
    with pytest.raises(asyncpg.ProtocolViolationError, match="plan_cache_mode") as refused:
        await asyncpg.connect(**direct_arguments(url))
    assert connect.refused_by_pooler(refused.value)


async def test_named_statements_break_unnamed_ones_hold(small_pgbouncer, database_url):
    """A runs a statement (asyncpg names and caches it on server X), B takes X in a
    transaction (PgBouncer hands out the server used last), A runs it again on Y."""
    # Without plan_cache_mode, which PgBouncer would refuse at login.
    plain = direct_arguments(small_pgbouncer.url(database_url), application_name="finora")
    fixed = connect.arguments(pooled(small_pgbouncer, database_url))
    for arguments, breaks in ((plain, True), (fixed, False)):
        a = await asyncpg.connect(**arguments)
        b = await asyncpg.connect(**arguments)
        try:
            first = await a.fetchval("SELECT pg_backend_pid() + $1", 0)
            async with b.transaction():
                assert await b.fetchval("SELECT pg_backend_pid()") == first
                if breaks:
                    with pytest.raises(
                        asyncpg.InvalidSQLStatementNameError, match="does not exist"
                    ):
                        await a.fetchval("SELECT pg_backend_pid() + $1", 0)
                else:
                    assert await a.fetchval("SELECT pg_backend_pid() + $1", 0) != first
        finally:
            await a.close()
            await b.close()


async def test_unnamed_statements_are_right_under_concurrency(small_pgbouncer, database_url):
    """40 clients on 2 server connections, 100 statements each outside transactions:
    every answer is the client's own, though each client switched servers."""
    url = pooled(small_pgbouncer, database_url)

    async def client(seed: int) -> set[int]:
        rng = random.Random(seed)
        conn = await asyncpg.connect(**connect.arguments(url))
        servers: set[int] = set()
        try:
            for _ in range(100):
                index = rng.randrange(len(STATEMENTS))
                sql, make = STATEMENTS[index]
                values = make(rng)
                row = await conn.fetchrow(sql, *values)
                assert row[0] == EXPECTED[index](values), (sql, values, row)
                servers.add(row[-1])
        finally:
            await conn.close()
        return servers

    seen = await asyncio.gather(*(client(seed) for seed in range(40)))
    assert sum(len(servers) == 2 for servers in seen) >= 30  # the pooler did switch them


async def test_a_session_lock_through_the_pooler_is_held_twice(server_url, database_url):
    """Why the worker's endpoint locks need the direct URL: two clients handed the
    same server connection both "take" the one lock."""
    with start_pgbouncer(server_url, pool_size=1) as bouncer:
        url = pooled(bouncer, database_url)
        a = await asyncpg.connect(**connect.arguments(url))
        b = await asyncpg.connect(**connect.arguments(url))
        try:
            assert await a.fetchval("SELECT pg_try_advisory_lock(4242)")
            assert await b.fetchval("SELECT pg_try_advisory_lock(4242)")  # not exclusive
        finally:
            await a.fetchval("SELECT pg_advisory_unlock_all()")
            await a.close()
            await b.close()


async def _jit_of_every_server(url: str, servers: int) -> list[str]:
    """`jit` on each of the pooler's `servers` server connections: as many clients in
    a transaction at once, each holding one."""
    conns = [await asyncpg.connect(**connect.arguments(url)) for _ in range(servers)]
    try:
        values, transactions = [], []
        for conn in conns:
            transactions.append(conn.transaction())
            await transactions[-1].start()
            values.append(await conn.fetchval("SELECT current_setting('jit')"))
        for transaction in transactions:
            await transaction.rollback()
        return values
    finally:
        for conn in conns:
            await conn.close()


async def test_type_lookups_leave_no_server_with_jit_off(small_pgbouncer, database_url):
    """Each new connection looks up int4[] (asyncpg turns jit off around the lookup);
    done in a transaction (connect.PooledConnection), it stays on one server."""
    url = pooled(small_pgbouncer, database_url)
    assert await _jit_of_every_server(url, 2) == ["on", "on"]

    async def newcomer(n: int) -> None:
        conn = await asyncpg.connect(**connect.arguments(url))
        try:
            assert await conn.fetchval("SELECT cardinality($1::int4[])", [n] * 3) == 3
            await conn.fetchval("SELECT pg_sleep(0.002)")
        finally:
            await conn.close()

    await asyncio.gather(*(newcomer(n) for n in range(30)))
    assert await _jit_of_every_server(url, 2) == ["on", "on"]


async def test_a_notify_through_the_pooler_reaches_a_direct_listener(pgbouncer, database_url):
    """A customer's transaction notifies the workers through PgBouncer; they listen
    on the direct URL."""
    heard = asyncio.Event()
    listener = await asyncpg.connect(**connect.arguments(database_url))
    sender = await asyncpg.connect(**connect.arguments(pooled(pgbouncer, database_url)))
    try:
        await listener.add_listener("finora_pgbouncer_test", lambda *_: heard.set())
        async with sender.transaction():
            await sender.execute("SELECT pg_notify('finora_pgbouncer_test', '')")
        await asyncio.wait_for(heard.wait(), 5)
    finally:
        await listener.close()
        await sender.close()


async def test_find_or_create_race_gives_one_customer(
    settings, app, pgbouncer, database_url, raw_db
):
    """100 concurrent findOrCreateCustomer of one new email, two `finora serve`
    processes on PgBouncer: one customer, created once."""
    tenant = await make_tenant("Pooled race")
    env = production_env(
        FINORA_RATE_LIMIT_PER_SECOND="0",
        FINORA_BUSINESS_IN_FLIGHT="0",
        **environment(pgbouncer, database_url),
    )
    variables = {"b": tenant.business_id, "input": {"email": "pooled@race.ng"}}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    body = {"query": FIND_OR_CREATE, "variables": variables}
    async with (
        running_server(env, "--workers", "2") as server,
        httpx.AsyncClient(base_url=server.url, headers=tenant.headers, limits=limits) as http,
    ):
        responses = await asyncio.gather(
            *(http.post("/graphql", json=body, timeout=60) for _ in range(100))
        )
    assert [r.status_code for r in responses] == [200] * 100, responses[0].text
    payloads = [r.json()["data"]["findOrCreateCustomer"] for r in responses]
    assert sum(p["created"] for p in payloads) == 1
    assert len({p["customer"]["id"] for p in payloads}) == 1
    count = "SELECT count(*) FROM customer WHERE business_id = $1"
    assert await raw_db.fetchval(count, tenant.business_id) == 1


async def test_two_workers_on_pgbouncer_send_each_delivery_once(
    pgbouncer,
    database_url,
    hooked,  # noqa: F811 - the fixture
):
    """Two `finora worker` processes with DATABASE_URL at PgBouncer and the direct URL
    for their sessions; the changes come through `finora serve` on PgBouncer too, so
    their notifications are sent through it."""
    tenant, receiver = hooked
    second = await make_tenant("Pooled hooks")
    other = Receiver().start()
    pooled_env = environment(pgbouncer, database_url)
    env = production_env(
        FINORA_RATE_LIMIT_PER_SECOND="0", FINORA_WEBHOOK_ALLOW_PRIVATE="1", **pooled_env
    )
    try:
        async with (
            running_server(env) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
            running_worker(database_url, **pooled_env),
            running_worker(database_url, **pooled_env),
        ):
            gql = GraphQL(http)
            await register(gql, tenant, receiver)
            await register(gql, second, other)
            await each_sent_once(gql, ((tenant, receiver), (second, other)))
    finally:
        other.stop()


@pytest.mark.parametrize("command", ["worker", "migrate"])
async def test_session_commands_refuse_a_pooler_without_a_direct_url(
    settings, pgbouncer, database_url, command
):
    env = production_env(
        **{**environment(pgbouncer, database_url), "FINORA_DATABASE_DIRECT_URL": ""}
    )
    result = await arun(command, env=env)
    assert_one_clear_line(result, f"finora {command}", "FINORA_DATABASE_DIRECT_URL")
    assert result.returncode == 2


async def test_serve_on_pgbouncer_without_the_setting_says_so(settings, pgbouncer, database_url):
    env = production_env(
        DATABASE_URL=pgbouncer.url(database_url),
        FINORA_DATABASE_POOLER="",
        FINORA_DATABASE_DIRECT_URL="",
    )
    result = await arun("serve", "--port", "1", env=env)
    assert_one_clear_line(result, "FINORA_DATABASE_POOLER=pgbouncer")


async def test_migrate_works_with_the_direct_url(settings, pgbouncer, database_url):
    result = await arun("migrate", env=production_env(**environment(pgbouncer, database_url)))
    assert result.returncode == 0, result.stderr
    assert "applied 0 migration(s)" in result.stdout


async def test_a_direct_url_of_another_database_is_refused(settings, pgbouncer, database_url):
    """The worker would read another database's deliveries: it does not start."""
    from app.db.orm import with_database

    env = environment(pgbouncer, database_url)
    env["FINORA_DATABASE_DIRECT_URL"] = with_database(database_url, "postgres")
    result = await arun("worker", env=production_env(**env))
    assert_one_clear_line(result, "different databases")


def test_the_pooler_setting():
    base = {"FINORA_ENV": "development"}
    assert Settings.from_env(base).database_pooler == "none"
    assert Settings.from_env({**base, "FINORA_DATABASE_POOLER": "PgBouncer"}).database_pooler == (
        "pgbouncer"
    )
    with pytest.raises(ConfigError, match="FINORA_DATABASE_POOLER must be one of none, pgbouncer"):
        Settings.from_env({**base, "FINORA_DATABASE_POOLER": "pgpool"})
