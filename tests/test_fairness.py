"""One business cannot starve another (DESIGN.md sections 5 and 6, issue 10).

Business A has FINORA_FAIRNESS_CUSTOMERS customers (20,000 by default, loaded
by the seed-demo COPY path) and sends its most expensive admitted document,
aliased searches for a character no customer has (before the bounded search,
each decrypted the whole business), 4 at a time to a real `finora serve` in production mode.
Business B's `customers(limit: 20)` must keep its median within 3x of idle and
its slowest answer under 250 ms.  Before any of that, in-process: such a search
is metered (rows read, values decrypted) and never holds the event loop long.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import pytest

from app import meter
from app.http.looplag import LoopLagProbe
from app.jobs.seed import seed_demo
from app.services import customers, search
from app.services.access import Caller
from bench.fairness import (
    ABSENT,
    PAGES_QUERY,
    SMALL_QUERY,
    VICTIM_QUERY,
    Connection,
    Result,
    admitted_searches,
    attack_query,
    attacker,
    measure,
    report,
)
from bench.rawhttp import graphql_request
from tests.conftest import Tenant, _admin, make_tenant, running_server
from tests.test_api import FIELDS
from tests.test_cli import production_env

CUSTOMERS = int(os.environ.get("FINORA_FAIRNESS_CUSTOMERS", "20000"))
#: Seconds B is measured while attacked (and as long idle, before and after).
SECONDS = float(os.environ.get("FINORA_FAIRNESS_SECONDS", "2"))
#: The longest the probe may find the loop held.  Slices are 2 ms; the rest is
#: room for a busy 2-core machine (this process preempted, a young-generation
#: collection).  Without slicing, one batch of 8,192 candidates holds it 30 ms
#: and more.
LOOP_STALL_LIMIT_S = 0.025
ATTEMPTS = 2


@pytest.fixture(scope="module")
async def tenants(app, database_url):
    """A large business A and a small B, deleted again after the module."""
    a, b = await make_tenant("Fairness A"), await make_tenant("Fairness B")
    conn = await _admin(database_url)
    try:
        await seed_demo(conn, business_id=a.business_id, count=CUSTOMERS, show_progress=False)
        await seed_demo(conn, business_id=b.business_id, count=25, seed=2, show_progress=False)
        yield a, b
    finally:
        await conn.execute(
            "DELETE FROM customer WHERE business_id = ANY($1)", [a.business_id, b.business_id]
        )
        await conn.close()


async def test_absent_searches_are_bounded_and_metered(tenants):
    """The attack's searches: the tokens rule out every row, so none is decrypted."""
    a, _ = tenants
    caller = Caller(a.business_id, "fin_fairness")
    searches = admitted_searches()
    with meter.metered() as work:
        found = await asyncio.gather(
            *(
                search.search_customers(caller, business_id=a.business_id, q=ABSENT[n])
                for n in range(searches)
            )
        )
    assert found == [[]] * searches  # no customer has these characters
    assert work.decrypted == 0
    assert work.rows <= searches * 1_000  # a walk of the first rows, not the business


async def test_confirming_a_whole_business_never_holds_the_loop(
    tenants, database_url, settled_heap
):
    """The heaviest loop there is, every email of A decrypted by the search confirm
    step, runs in slices: the loop is never held long, and the work is metered."""
    a, _ = tenants
    conn = await _admin(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, name_lower, email FROM customer WHERE business_id = $1", a.business_id
        )
    finally:
        await conn.close()
    probe = LoopLagProbe(interval_s=0.002, export=False)
    probe.start()
    try:
        with meter.metered() as work:
            found = await search._confirmed(ABSENT[0], [tuple(r) for r in rows], 50)
    finally:
        await probe.stop()
    assert found == [] and work.decrypted == len(rows) == CUSTOMERS
    assert probe.worst_s < LOOP_STALL_LIMIT_S, f"loop held {probe.worst_s * 1000:.1f} ms"


async def test_the_largest_admitted_lists_never_hold_the_loop(tenants, gql, settled_heap):
    """Five pages of 100 with every field: the most a document may list (cost 500)."""
    a, _ = tenants
    pages = " ".join(
        f"p{n}: customers(businessId: $b, limit: 100) {{ {FIELDS} }}" for n in range(5)
    )
    probe = LoopLagProbe(interval_s=0.002, export=False)
    probe.start()
    try:
        data = await gql.data(a, f"query($b: ID!) {{ {pages} }}", {"b": a.business_id})
    finally:
        await probe.stop()
    assert [len(data[f"p{n}"]) for n in range(5)] == [100] * 5
    assert probe.worst_s < LOOP_STALL_LIMIT_S, f"loop held {probe.worst_s * 1000:.1f} ms"


async def test_a_page_is_metered_by_what_it_reads_and_opens(tenants):
    _, b = tenants
    caller = Caller(b.business_id, "fin_fairness")
    with meter.metered() as work:
        rows = await customers.list_customers(caller, business_id=b.business_id, limit=20)
        emails = [row.email for row in rows]
        again = [row.email for row in rows]  # opened once, then kept
    assert len(emails) == 20 and emails == again
    assert (work.rows, work.decrypted) == (20, 20)


def unharmed(result: Result) -> bool:
    """B's targets: every answer 200, median within 3x of idle, slowest under 250 ms."""
    return (
        set(result.idle.statuses) == set(result.attacked.statuses) == {200}
        and len(result.attacked.seconds) >= 20  # B kept being answered
        and result.attacked.median_ms <= 3 * result.idle.median_ms
        and result.attacked.max_ms < 250
    )


async def attack(
    env: dict[str, str],
    a: Tenant,
    b: Tenant,
    *,
    query: str | None = None,
    variables: dict | None = None,
    concurrency: int = 4,
) -> Result:
    """A attacks B on a fresh server; one more try if B was harmed.

    The machine is shared (other test runs, PostgreSQL, this client): a phase's
    median moves with their load, so a miss is measured once more before it
    counts.  With heavy loops unsliced, B missed here (3.2x at 20,000 customers).
    """
    reports = []
    for _ in range(ATTEMPTS):
        async with running_server(env) as server:
            port = int(server.url.rsplit(":", 1)[1])
            victim = graphql_request(port, b.key, VICTIM_QUERY, {"b": b.business_id})
            document = query or attack_query(admitted_searches())
            attacker = graphql_request(
                port, a.key, document, {"b": a.business_id, **(variables or {})}
            )
            result = await measure(port, victim, attacker, seconds=SECONDS, concurrency=concurrency)
        if unharmed(result):
            return result
        reports.append(report(result))
    pytest.fail("B was harmed on every try:\n" + "\n\n".join(reports))


async def test_b_is_served_while_a_attacks_under_the_default_limits(tenants):
    a, b = tenants
    result = await attack(production_env(), a, b)
    # A is served too (the bounded search made its searches cheap; a key that spends
    # more runs dry: tests/test_admission.py), and only ever refused as rate-limited.
    assert result.attack[200] >= 1 and set(result.attack) <= {200, 429}, report(result)


async def test_b_is_served_while_a_attacks_with_no_rate_limit(tenants):
    """Admission and paced loops alone protect B, however much A may spend."""
    a, b = tenants
    result = await attack(production_env(FINORA_RATE_LIMIT_PER_SECOND="0"), a, b)
    assert set(result.attack) == {200} and result.attack[200] >= 1, report(result)


async def test_b_is_served_while_a_floods_small_requests_with_no_rate_limit(tenants):
    """A floods 32 connections with its smallest reads.  Admission keeps 4 of them
    running while B is about; more for small requests (16, 12 or 8) made A faster and
    failed B here (README, "Where a request's time goes")."""
    a, b = tenants
    result = await attack(
        production_env(FINORA_RATE_LIMIT_PER_SECOND="0"), a, b, query=SMALL_QUERY, concurrency=32
    )
    assert set(result.attack) == {200} and result.attack[200] >= 100, report(result)


async def test_a_newcomer_finds_a_lone_business_s_borrowed_slots_ahead_only_briefly(tenants):
    """A, alone in the process for longer than LONE_S, runs LONE_TIMES its cap of full
    pages (app/http/slots.py); B, arriving each time after LONE_S of silence, finds
    them all ahead of its first request.  That request must stay under B's 250 ms."""
    from app.http.slots import LONE_S

    a, b = tenants
    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0")
    async with running_server(env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        flood = graphql_request(port, a.key, PAGES_QUERY, {"b": a.business_id})
        ask = graphql_request(port, b.key, VICTIM_QUERY, {"b": b.business_id})
        stop = asyncio.Event()
        floods = [asyncio.create_task(attacker(port, flood, stop)) for _ in range(32)]
        firsts = []
        try:
            for _ in range(3):
                await asyncio.sleep(LONE_S + 0.5)  # A alone again
                conn = Connection(port)
                try:
                    started = time.perf_counter()
                    status, body = await conn.send(ask)
                    firsts.append(time.perf_counter() - started)
                finally:
                    conn.close()
                assert status == 200 and len(json.loads(body)["data"]["customers"]) == 20
        finally:
            stop.set()
            statuses = sum(await asyncio.gather(*floods), Counter())
    assert set(statuses) == {200} and statuses[200] >= 100, statuses
    assert max(firsts) < 0.25, [round(1000 * f, 1) for f in firsts]


@pytest.mark.parametrize("scope", ["read_masked", "write"])
async def test_b_is_served_while_a_sends_bulk_variables_of_tens_of_thousands_of_rows(
    tenants, scope
):
    """The review's attack: about 0.9 MB of bulk rows a request, 4 at a time, under the
    default limits.  Coerced before any check, each held the loop 1.3 s and took B's
    slowest answer to 6.3 s; now a read key's mutation, and a list longer than 500,
    are refused before the variables are coerced (schema/guard.py)."""
    from app.services import businesses
    from tests.test_bulk_api import BULK
    from tests.test_guard import FLOOD

    a, b = tenants
    issued = await businesses.create_api_key(a.business_id, scope)
    sender = Tenant(a.business_id, issued.key)
    result = await attack(production_env(), sender, b, query=BULK, variables={"inputs": FLOOD})
    print(report(result))  # the figures, with -s
    assert result.attack[200] + result.attack[429] >= 4, report(result)
    assert set(result.attack) <= {200, 429}, report(result)


async def test_b_is_served_while_a_sends_full_bulk_calls_twenty_at_a_time(tenants):
    """The review's second attack: 20 calls of 500 rows at once, all served (10,000 rows
    where the charge allows about 200).  Now each call pays for its rows when it is
    admitted: while A owes for one, the others are refused, and B is unharmed."""
    from tests.test_bulk_api import BULK

    a, b = tenants
    rows = [{"email": f"bulk.attack.{n}@example.ng", "name": f"Bulk {n}"} for n in range(500)]
    result = await attack(
        production_env(), a, b, query=BULK, variables={"inputs": rows}, concurrency=20
    )
    print(report(result))  # the figures, with -s
    # 2 s of attack at 50 tokens a second, from a full bucket of 100: the first call's
    # 499 rows leave A owing for about 8 s, so no second call can be admitted.
    assert result.attack[200] == 1 and result.attack[429] >= 19, report(result)
    assert set(result.attack) == {200, 429}, report(result)
