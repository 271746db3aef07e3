"""Scale-out on real processes: `finora serve` processes behind a real HAProxy
(tests/cluster.py), with the database the test suite made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.cluster import Cluster, Server, cluster
from tests.conftest import make_tenant
from tests.receiver import Receiver
from tests.test_webhook_delivery import assert_exactly_in_order, committed, register
from tests.workers import eventually, running_worker

LIST = "query($b: ID!) { customers(businessId: $b, limit: 5) { id } }"


async def test_haproxy_spreads_requests_over_both_servers(app, database_url):
    tenant = await make_tenant("Spread")
    async with cluster(database_url, servers=2, env={"FINORA_RATE_LIMIT_PER_SECOND": "0"}) as c:
        async with httpx.AsyncClient(base_url=c.url, timeout=30) as http:
            for _ in range(20):
                answer = await http.post(
                    "/graphql",
                    json={"query": LIST, "variables": {"b": tenant.business_id}},
                    headers=tenant.headers,
                )
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        assert await c.states() == {"s0": "UP", "s1": "UP"}
        # Round robin: each answered about half, by its own log and by HAProxy's.
        served = [s.served() for s in c.servers]
        assert sum(served) == 20 and min(served) >= 5, served
        for server in c.servers:
            assert f"finora/{server.name} " in c.haproxy_output(), c.haproxy_output()


CREATE = """
mutation($b: ID!, $i: CreateCustomerInput!) {
  createCustomer(businessId: $b, input: $i) { customer { id email } userErrors { code } }
}"""
FIND_OR_CREATE = """
mutation($b: ID!, $i: FindOrCreateCustomerInput!) {
  findOrCreateCustomer(businessId: $b, input: $i) {
    customer { id email } created userErrors { code }
  }
}"""
UPDATE = """
mutation($id: ID!, $i: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $i) { customer { id name } userErrors { code } }
}"""
READ = "query($id: ID!) { customer(id: $id) { id name email isActive } }"
#: Writers at once: more than the two cores, so requests are in flight at the kill.
CLIENTS = 6
#: Find-or-creates race on this many emails at a time, from every client through
#: both servers; every NEXT_EMAILS_EVERY writes a client moves on to new ones, so
#: that races go on all along, at the kill too.
RACED_AT_ONCE = 3
NEXT_EMAILS_EVERY = 12
#: Acknowledged writes before the kill, and again after HAProxy took the server out.
WRITES_EACH_SIDE = 60


@dataclass
class Write:
    """One request and what came of it; ``acked`` = HTTP 200 with data, no error of any kind."""

    op: str
    variables: dict[str, Any]
    started: float
    #: When its answer (or its failure) came back.
    ended: float = 0.0
    acked: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    failure: str = ""


@dataclass
class Load:
    """What the writers did, shared so that the test can steer the kill on it."""

    business_id: str
    writes: list[Write] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def acked(self, since: float = 0.0) -> list[Write]:
        return [w for w in self.writes if w.acked and w.started >= since]


def _next_write(load: Load, client: int, n: int, own: list[str]) -> tuple[str, str, dict]:
    """Creates of the client's own emails, find-or-creates of the shared ones, updates
    of the client's own customers (one writer per customer: the last acknowledged
    name is the one to find)."""
    kind = n % 3
    if kind == 2 and own:
        target = own[(n * 5) % len(own)]
        return "update", UPDATE, {"id": target, "i": {"name": f"Renamed {client}-{n}"}}
    if kind == 1:
        email = f"shared{n // NEXT_EMAILS_EVERY}-{(n // 3 + client) % RACED_AT_ONCE}@kill.ng"
        return "find", FIND_OR_CREATE, {"b": load.business_id, "i": {"email": email}}
    email = f"own{client}-{n}@kill.ng"
    return "create", CREATE, {"b": load.business_id, "i": {"name": f"Own {n}", "email": email}}


async def _writer(load: Load, url: str, headers: dict[str, str], client: int) -> None:
    """One client writing back to back until told to stop, recording every outcome.

    A failure is recorded, not raised: at the kill some requests may fail, and the
    test judges them afterwards (what matters is that none left a duplicate).
    """
    own: list[str] = []
    uncertain: set[str] = set()  # an update that failed may or may not have committed
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        n = 0
        while not load.stop.is_set():
            op, query, variables = _next_write(
                load, client, n, [i for i in own if i not in uncertain]
            )
            n += 1
            write = Write(op, variables, time.monotonic())
            load.writes.append(write)
            try:
                answer = await http.post("/graphql", json={"query": query, "variables": variables})
                body = answer.json() if answer.status_code == 200 else {}
            except (httpx.TransportError, ValueError) as error:
                write.failure = repr(error)
                continue
            finally:
                write.ended = time.monotonic()
            payload = next(iter((body.get("data") or {}).values()), None)
            if (
                answer.status_code != 200
                or body.get("errors")
                or not payload
                or payload["userErrors"]
            ):
                write.failure = f"{answer.status_code} {answer.text[:300]}"
                if op == "update":
                    uncertain.add(variables["id"])
                continue
            write.acked, write.payload = True, payload
            if op == "create":
                own.append(payload["customer"]["id"])


async def _until(check: Callable[[], bool], c: Cluster, timeout: float = 60) -> None:
    """Until ``check()``, while HAProxy lives: a stalled load fails the test, not hangs it."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the load stalled"
        assert c.haproxy.poll() is None, "haproxy exited"
        await asyncio.sleep(0.02)


async def _kill_while_busy(c: Cluster, victim: Server, timeout: float = 10) -> int:
    """SIGKILL ``victim`` as soon as HAProxy has a request on it (after ``timeout``,
    anyway): the host dies mid-request, not between requests.  Returns that count."""
    deadline = time.monotonic() + timeout
    busy = await c.in_flight(victim)
    while busy == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0)
        busy = await c.in_flight(victim)
    victim.kill()
    return busy


async def test_a_server_killed_mid_load_loses_no_acknowledged_write(app, gql, raw_db, database_url):
    """Issue 23, item 4: a host dies under mixed writes, and nothing acknowledged is lost.

    Six clients write through HAProxy to two servers (creates, find-or-creates
    racing on shared emails, updates); one server is SIGKILLed while HAProxy has
    requests on it.  Requests in flight then may fail (or, retried by HAProxy, run
    twice); the checks hold either way: every acknowledged write reads back, one
    active customer per email, once HAProxy has the victim DOWN every request
    succeeds on the survivor, and the worker delivers every committed event.
    """
    # A worker serves every business of the database: only this receiver is in play.
    await raw_db.execute("UPDATE webhook_endpoint SET enabled = false")
    tenant = await make_tenant("Host dies")
    receiver = Receiver().start()
    load = Load(tenant.business_id)
    try:
        await register(gql, tenant, receiver)
        # No per-key limit in the way: every refusal here would be a failure to explain.
        env = {"FINORA_RATE_LIMIT_PER_SECOND": "0", "FINORA_BUSINESS_IN_FLIGHT": "16"}
        async with running_worker(database_url), cluster(database_url, env=env) as c:
            victim, survivor = c.servers
            writers = [
                asyncio.create_task(_writer(load, c.url, tenant.headers, n)) for n in range(CLIENTS)
            ]
            try:
                await _until(lambda: len(load.acked()) >= WRITES_EACH_SIDE, c)
                assert victim.served() > 0 and survivor.served() > 0
                busy = await _kill_while_busy(c, victim)
                killed_at = time.monotonic()
                await c.wait_state(victim, "DOWN")
                down_at = time.monotonic()
                survivor_before = survivor.served()
                await _until(lambda: len(load.acked(since=down_at)) >= WRITES_EACH_SIDE, c)
            finally:
                load.stop.set()
                await asyncio.gather(*writers)
            # Once the victim was out, nothing failed, and the survivor served it all.
            after = [w for w in load.writes if w.started >= down_at]
            assert [w.failure for w in after if not w.acked] == []
            await eventually(lambda: survivor.served() - survivor_before >= len(after))
            failed = [w for w in load.writes if not w.acked]
            print(
                f"\n{len(load.writes)} writes, {len(load.acked())} acknowledged; "
                f"{busy} in flight on the victim at the kill, HAProxy had it down "
                f"{down_at - killed_at:.2f} s later; failed: "
                f"{[(w.op, round(w.started - killed_at, 3), w.failure[:120]) for w in failed]}"
            )
            await _check_through_the_api(load, c.url, tenant.headers)
            events = await committed(gql, tenant)
            await eventually(lambda: len(receiver.first_arrivals()) >= len(events), timeout=60)
    finally:
        receiver.stop()
    await _check_rows(load, raw_db, killed_at)
    _check_events(load, events)
    assert_exactly_in_order(receiver, events)


async def _check_through_the_api(load: Load, url: str, headers: dict[str, str]) -> None:
    """Every acknowledged write reads back as acknowledged, through the survivor."""
    names: dict[str, list[Write]] = {}  # per customer: its updates, in order
    for write in load.writes:
        if write.op == "update":
            names.setdefault(write.variables["id"], []).append(write)
    customers = {w.payload["customer"]["id"]: w for w in load.acked() if w.op != "update"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        for write in customers.values():
            customer = write.payload["customer"]
            variables = {"id": customer["id"]}
            answer = await http.post("/graphql", json={"query": READ, "variables": variables})
            found = answer.json()["data"]["customer"]
            assert found and found["isActive"] and found["email"] == customer["email"], write
            updates = names.get(customer["id"], [])
            acked = [u for u in updates if u.acked]
            if acked:
                # The last acknowledged name, or that of an update after it that failed.
                last = updates.index(acked[-1])
                possible = {u.variables["i"]["name"] for u in updates[last:]}
                assert found["name"] in possible, (found, possible)


async def _check_rows(load: Load, db: asyncpg.Connection, killed_at: float) -> None:
    """In the table: one active customer per email, and each acknowledged one is there."""
    rows = await db.fetch(
        "SELECT id, email_hash FROM customer WHERE business_id = $1 AND is_active",
        load.business_id,
    )
    hashes = [row["email_hash"] for row in rows]
    assert len(hashes) == len(set(hashes)), "a customer was duplicated"
    ids = {row["id"] for row in rows}
    acked = {w.payload["customer"]["id"] for w in load.acked() if w.op != "update"}
    assert acked <= ids
    # Find-or-create: every acknowledged call of one email got the same customer.
    per_email: dict[str, set[str]] = {}
    for write in load.acked():
        if write.op == "find":
            per_email.setdefault(write.variables["i"]["email"], set()).add(
                write.payload["customer"]["id"]
            )
    assert all(len(found) == 1 for found in per_email.values()), per_email
    # At most one of them says it created the customer; exactly one when none of the
    # calls of that email failed (a failed one may have been the creator) or was in
    # flight at the kill: HAProxy may have sent that one again to the survivor after the
    # victim committed it, and the second run finds the customer (created: false; an
    # idempotency key would tell; README, Known limits).
    created: dict[str, int] = {}
    failed: set[str] = set()
    for write in load.writes:
        if write.op == "find":
            email = write.variables["i"]["email"]
            created[email] = created.get(email, 0) + bool(write.acked and write.payload["created"])
            # killed_at is taken once the victim is reaped: a little after the kill.
            if not write.acked or write.started <= killed_at <= write.ended + 0.5:
                failed.add(email)
    assert all(n <= 1 for n in created.values()), created
    assert all(n == 1 for email, n in created.items() if email not in failed), created


def _check_events(load: Load, events: list[dict]) -> None:
    """Each acknowledged write committed its event (and the receiver got every event)."""
    created = {e["customerId"] for e in events if e["type"] == "CREATED"}
    updated: dict[str, int] = {}
    for event in events:
        if event["type"] == "UPDATED":
            updated[event["customerId"]] = updated.get(event["customerId"], 0) + 1
    for write in load.acked():
        if write.op == "create" or (write.op == "find" and write.payload["created"]):
            assert write.payload["customer"]["id"] in created, write
    acked_updates: dict[str, int] = {}
    for write in load.acked():
        if write.op == "update":
            acked_updates[write.variables["id"]] = acked_updates.get(write.variables["id"], 0) + 1
    assert all(updated.get(id_, 0) >= n for id_, n in acked_updates.items())
