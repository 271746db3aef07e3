"""Benchmark: write performance of the service against the write floor (bench/floor.py).

    .venv/bin/python bench/writes.py [--scenarios a,b,c] [--workers 1] [--concurrency 16]
                                     [--seconds 10] [--rounds 2] [--warmup 1]
                                     [--customers 1000] [--sample 1000]

In a scratch database (created on the server of DATABASE_URL, default the local
PostgreSQL, migrated by the service's own migrations, and dropped at the end) it
creates a business, an API key and `--customers` customers with the real CLI,
then starts two servers on 127.0.0.1 with the same number of Uvicorn workers and
the same keys, as bench/list.py does:

  service   `finora serve` (FINORA_ENV=production): auth, GraphQL, ORM, logs, metrics
  floor     `uvicorn bench.floor:create_app`: the same validation rules, encryption,
            blind index, gram tokens, rows, indexes and events, written by hand on a
            bare Starlette app and a plain asyncpg pool (see its docstring for
            where it is cheaper by design)

Scenarios (service request, floor request):

  a  findOrCreateCustomer of an existing email    POST /find-or-create
     (a repeat buyer: email, name and phone of one of `--sample` customers in turn)
  b  createCustomer with a new email each time     POST /create
     (a realistic new person: name, email, phone, often address, TIN, company)
  c  updateCustomer of name and phone              POST /update
     (the `--sample` customers in turn, each connection its own share of them, a
     new name and phone each time, so every call changes both and writes an event)

Every request of (b) and (c) is distinct: the load generator numbers a
placeholder in each (bench/loadgen.py), and each round's requests carry a tag of
their own, so no email is sent twice.  A request counts as answered only if it
is a 200 with data, no GraphQL errors and no userErrors.

Before any timing it checks, one request of each kind and their refusals (TAKEN,
INVALID, NOT_FOUND), that both sides give the same answer data (an id and
timestamps aside where each made its own row), and that each side's rows and
events are what the service's own rules make of the input: the blind index, both
token arrays, name_lower, name_from_email, the sealed values (opened with their
row's AAD) and the event's type, fields and actor.  It stops if not.

Each scenario runs `--rounds` rounds per side, alternating service, floor,
service, floor; a round is `--warmup` seconds not counted, then `--seconds`
counted, at `--concurrency` keep-alive connections from a separate load generator
process.  Each round starts after a VACUUM of the customer table (outside the
counted time), so that neither side inherits the other's dead rows and GIN
pending lists (this PostgreSQL may run without autovacuum).  Columns as in
bench/list.py.  The summary gives per scenario requests/s, p50 and p99, the
server's CPU per answered request and its PostgreSQL backends' (only the
backends of its own pool: the WAL writer, checkpointer and the like serve both
sides and are in neither), with the service/floor ratios, and says whether the
goals of DESIGN.md are met (0.6x the floor's rate, p99 within 2x).  The CPU split
says where a gap is: the service's own Python (server) or the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.keys import business_keys  # noqa: E402
from bench.list import (  # noqa: E402
    HEADER,
    LOADGEN_ARGV,
    Totals,
    add_round,
    bounded,
    measure_round,
    table_row,
)
from bench.loadgen import HOST  # noqa: E402
from bench.procstats import (  # noqa: E402
    peak_rss_kib,
    reset_peak_rss,
)
from bench.rawhttp import fetch, graphql_request  # noqa: E402
from bench.scenarios import FIELDS  # noqa: E402
from bench.servers import (  # noqa: E402
    Scratch,
    Server,
    command_line,
    finora,
    make_servers,
    production_env,
    scratch_database,
)

# The requests ------------------------------------------------------------------

CUSTOMER = "customer { %s }" % " ".join(FIELDS)  # noqa: UP031 - a literal GraphQL selection
ERRORS = "userErrors { field code message }"
FIND_OR_CREATE = (
    "mutation FindOrCreate($businessId: ID!, $input: FindOrCreateCustomerInput!) "
    f"{{ findOrCreateCustomer(businessId: $businessId, input: $input) "
    f"{{ {CUSTOMER} created {ERRORS} }} }}"
)
CREATE = (
    "mutation Create($businessId: ID!, $input: CreateCustomerInput!) "
    f"{{ createCustomer(businessId: $businessId, input: $input) {{ {CUSTOMER} {ERRORS} }} }}"
)
UPDATE = (
    "mutation Update($id: ID!, $input: UpdateCustomerInput!) "
    f"{{ updateCustomer(id: $id, input: $input) {{ {CUSTOMER} {ERRORS} }} }}"
)
DELETE = "mutation Delete($id: ID!) { deleteCustomer(id: $id) { deletedCustomerId } }"
#: An answer holding a user error: any of them makes a timed request a failure.
USER_ERROR_MARK = '"userErrors":[{'
#: The numbered part of an email in (b): nine digits, far more than any round sends.
EMAIL_NUMBER = "#" * 9
#: The numbered part of a name and a phone in (c): 0803 and seven digits is a valid
#: Nigerian mobile number for any seven digits, and a round sends fewer than 10**7.
PHONE_NUMBER = "#" * 7


def post_request(port: int, path: str, body: dict[str, Any]) -> bytes:
    """A JSON POST to the floor, with the same framing as the service's requests."""
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


@dataclass
class Target:
    """The business, its key, and the customers the scenarios find and update."""

    business_id: str
    token: str
    #: The key's prefix: the actor of the service's events, passed to the floor too.
    prefix: str
    #: (id, name, email, phone) of `--sample` active customers, decrypted.
    customers: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    #: New people for (b), from the seed's generator (app.jobs.seed.people).
    people: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Side:
    """How one side is asked: the service in GraphQL, the floor in plain JSON."""

    name: str
    port: int

    @property
    def is_service(self) -> bool:
        return self.name == "service"

    def find_or_create(self, target: Target, values: dict[str, Any]) -> bytes:
        if self.is_service:
            variables = {"businessId": target.business_id, "input": values}
            return graphql_request(self.port, target.token, FIND_OR_CREATE, variables)
        return post_request(
            self.port, "/find-or-create", {"businessId": target.business_id, **values}
        )

    def create(self, target: Target, values: dict[str, Any]) -> bytes:
        if self.is_service:
            variables = {"businessId": target.business_id, "input": values}
            return graphql_request(self.port, target.token, CREATE, variables)
        return post_request(self.port, "/create", {"businessId": target.business_id, **values})

    def update(self, target: Target, customer_id: str, values: dict[str, Any]) -> bytes:
        if self.is_service:
            variables = {"id": customer_id, "input": values}
            return graphql_request(self.port, target.token, UPDATE, variables)
        body = {"businessId": target.business_id, "id": customer_id, **values}
        return post_request(self.port, "/update", body)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    #: The requests of one round of one side; the tag is unique to that round.
    requests: Callable[[Side, Target, str], list[bytes]]
    #: The load generator's numbered placeholder (bench/loadgen.py), if any.
    placeholder: str | None = None
    #: Whether each connection sends its own share of the requests.
    partition: bool = False


def find_existing(side: Side, target: Target, tag: str) -> list[bytes]:
    """A repeat buyer as a shop sends it: the email, name and phone it has."""
    return [
        side.find_or_create(target, {"email": email, "name": name, "phone": phone})
        for _, name, email, phone in target.customers
    ]


def create_new(side: Side, target: Target, tag: str) -> list[bytes]:
    """New people; the load generator numbers each email, the tag separates rounds."""
    requests = []
    for person in target.people:
        local, domain = person["email"].split("@")
        values = {
            "name": person["name"],
            "email": f"{local}.{tag}{EMAIL_NUMBER}@{domain}",
            "phone": person["phone"],
            "address": person["address"],
            "companyName": person["company_name"],
            "tin": person["tin"],
        }
        requests.append(side.create(target, {k: v for k, v in values.items() if v is not None}))
    return requests


def update_two(side: Side, target: Target, tag: str) -> list[bytes]:
    """Each customer renamed (its name, the tag and a number) with a new phone."""
    return [
        side.update(
            target,
            customer_id,
            {"name": f"{name} {tag}{PHONE_NUMBER}", "phone": f"0803{PHONE_NUMBER}"},
        )
        for customer_id, name, _, _ in target.customers
    ]


SCENARIOS = {
    s.key: s
    for s in (
        Scenario("a", "findOrCreateCustomer of an existing email", find_existing),
        Scenario("b", "createCustomer with a new email", create_new, EMAIL_NUMBER),
        Scenario("c", "updateCustomer of name and phone", update_two, PHONE_NUMBER, partition=True),
    )
}

# The check that both sides do the same work -------------------------------------


def _answer(name: str, status: int, body: bytes, mutation: str) -> dict[str, Any]:
    document = json.loads(body)
    if status != 200 or "errors" in document:
        raise SystemExit(f"{name} answered {status}: {body[:300]!r}")
    return document["data"][mutation]


async def ask(side: Side, request: bytes, mutation: str) -> tuple[dict[str, Any], bytes]:
    """One request; the mutation's payload and the raw body."""
    status, body = await fetch(side.port, request)
    return _answer(side.name, status, body, mutation), body


def same(what: str, service: Any, floor: Any, *, apart: tuple[str, ...] = ()) -> None:
    """Stop unless both payloads are equal, customer fields in `apart` aside."""

    def without(payload: Any) -> Any:
        if not apart or not isinstance(payload, dict) or payload.get("customer") is None:
            return payload
        customer = {k: v for k, v in payload["customer"].items() if k not in apart}
        return {**payload, "customer": customer}

    if without(service) != without(floor):
        raise SystemExit(
            f"{what}: service and floor differ\n  service {service}\n  floor   {floor}"
        )


async def check_row(
    conn: asyncpg.Connection, what: str, customer: dict[str, Any], event: tuple[str, list[str]]
) -> None:
    """The stored row and its latest event are what the service's rules make of the
    answer: under its business's writing key (named in ``key_id``), decrypted with
    the row's AAD, indexed and tokenised by app.crypto."""
    from app import crypto
    from app.crypto.cipher import header_of
    from app.services.customers import name_from_email

    master_id = crypto.current().keys.active_id  # what a legacy value names
    row = await conn.fetchrow("SELECT * FROM customer WHERE id = $1", customer["id"])
    if row is None:
        raise SystemExit(f"{what}: no row {customer['id']}")
    business_id = row["business_id"]
    generation = (await business_keys(conn, business_id)).write
    if row["key_id"] != generation.id:
        raise SystemExit(f"{what}: the row is under {row['key_id']}, not {generation.id}")
    cipher = crypto.current().cipher
    sealed = {c: row[c] for c in ("email", "phone", "address", "tin") if row[c] is not None}
    if {header_of(value)[1] for value in sealed.values()} - {generation.id or master_id}:
        raise SystemExit(f"{what}: a value is not sealed under the row's key")
    opened = dict.fromkeys(("email", "phone", "address", "tin")) | {
        column: cipher.open("customer", column, row["id"], value)
        for column, value in sealed.items()
    }
    email, name_lower = opened["email"], row["name_lower"]
    assert email is not None
    tokens, short = generation.search_tokens.for_rows(business_id, name_lower, email)
    want = {
        "name": customer["name"],
        "name_lower": customer["name"].lower(),
        "name_from_email": name_from_email(name_lower, email),
        "email_hash": generation.email_index.digest(business_id, email),
        "search_tokens": tokens,
        "short_tokens": short,
        "company_name": customer["companyName"],
        "is_active": customer["isActive"],
    }
    got = {key: row[key] for key in want}
    stored = {"email": email, "phone": opened["phone"], "address": opened["address"]}
    served = {key: customer[key] for key in ("email", "phone", "address")}
    if got != want or stored != served or opened["tin"] != customer["tin"]:
        wrong = sorted(k for k in want if got[k] != want[k]) + sorted(
            k for k in stored if stored[k] != served[k]
        )
        raise SystemExit(f"{what}: the stored row is not the service's: {', '.join(wrong)}")
    last = await conn.fetchrow(
        "SELECT type, changed_fields, actor FROM customer_event "
        "WHERE customer_id = $1 ORDER BY seq DESC LIMIT 1",
        customer["id"],
    )
    if last is None or (last["type"], list(last["changed_fields"])) != event:
        raise SystemExit(f"{what}: the latest event is {last and dict(last)}, not {event}")


async def verify(
    service: Side, floor: Side, target: Target, conn: asyncpg.Connection, prefix: str
) -> None:
    """One request of each kind, and each kind of refusal, to both sides.

    The floor is only a fair floor if it does the same work, so any difference
    stops the run before timing.  Rows made here are apart from the timed ones.
    """
    sides = (service, floor)

    async def event_actor(customer_id: str) -> str:
        return await conn.fetchval(
            "SELECT actor FROM customer_event WHERE customer_id = $1 ORDER BY seq DESC LIMIT 1",
            customer_id,
        )

    # (a) An existing email, written as a person might: the same customer, found.
    customer_id, name, email, phone = target.customers[0]
    values = {"email": f"  {email.upper()} ", "name": name, "phone": phone}
    found = [
        (await ask(s, s.find_or_create(target, values), "findOrCreateCustomer"))[0] for s in sides
    ]
    same("find-or-create of an existing email", *found)
    if found[0]["created"] or found[0]["customer"]["id"] != customer_id:
        raise SystemExit("find-or-create of an existing email did not find it")
    # A new email, then the same email from the other side: one customer, created once.
    for first, second, local in ((floor, service, "check.floor"), (service, floor, "check.svc")):
        values = {"email": f"{local}@Example.com", "phone": "0803 123 4567"}
        made = (await ask(first, first.find_or_create(target, values), "findOrCreateCustomer"))[0]
        again = (await ask(second, second.find_or_create(target, values), "findOrCreateCustomer"))[
            0
        ]
        if not made["created"] or again["created"]:
            raise SystemExit(f"find-or-create by {first.name}, then {second.name}: {made, again}")
        what = f"find-or-create by {first.name}, then {second.name}"
        same(what, {**made, "created": None}, {**again, "created": None})
        await check_row(conn, f"find-or-create by {first.name}", made["customer"], ("CREATED", []))
        if await event_actor(made["customer"]["id"]) != prefix:
            raise SystemExit(f"find-or-create by {first.name}: the event's actor is not the key's")
    bad = {"email": "not an email", "phone": "12"}
    same(
        "find-or-create of a bad email and phone",
        *[(await ask(s, s.find_or_create(target, bad), "findOrCreateCustomer"))[0] for s in sides],
    )

    # (b) The floor creates, the service deletes that customer and creates the same.
    values = {
        "name": "  Check Créé ",
        "email": "Check.Create@Example.com ",
        "phone": "+234 803 123 4567",
        "address": " 12 Allen Avenue, Ikeja ",
        "companyName": "Check Ltd",
        "tin": "12345678-0001",
    }
    created = []
    for s in (floor, service):
        made, _ = await ask(s, s.create(target, values), "createCustomer")
        if made["customer"] is None:
            raise SystemExit(f"{s.name} refused a create: {made}")
        await check_row(conn, f"create by {s.name}", made["customer"], ("CREATED", []))
        if await event_actor(made["customer"]["id"]) != prefix:
            raise SystemExit(f"create by {s.name}: the event's actor is not the key's")
        created.append(made)
        if s is floor:
            await ask(
                service, delete_request(service, target, made["customer"]["id"]), "deleteCustomer"
            )
    same("create", created[1], created[0], apart=("id", "createdAt", "updatedAt"))
    taken = [await ask(s, s.create(target, values), "createCustomer") for s in sides]
    same("create of a taken email", taken[0][0], taken[1][0])
    if taken[0][0]["userErrors"][0]["code"] != "TAKEN":
        raise SystemExit(f"a taken email gave {taken[0][0]}")
    for s, (_, body) in zip(sides, taken, strict=True):
        if USER_ERROR_MARK.encode() not in body:
            raise SystemExit(f"{s.name}'s user errors do not read {USER_ERROR_MARK!r}: {body!r}")
    bad = {"name": " ", "email": "x@", "phone": "12", "tin": "12"}
    same(
        "create of bad values",
        *[(await ask(s, s.create(target, bad), "createCustomer"))[0] for s in sides],
    )

    # (c) The service renames a customer and changes the phone, puts both back, then
    # the floor makes the same change: the same answer, row and event.
    customer_id, name, _, phone = target.customers[1]
    change = {"name": " Check Renamed ", "phone": "0803 765 4321"}
    updated = []
    for s in sides:
        made, _ = await ask(s, s.update(target, customer_id, change), "updateCustomer")
        if made["customer"] is None:
            raise SystemExit(f"{s.name} refused an update: {made}")
        await check_row(
            conn, f"update by {s.name}", made["customer"], ("UPDATED", ["name", "phone"])
        )
        if await event_actor(customer_id) != prefix:
            raise SystemExit(f"update by {s.name}: the event's actor is not the key's")
        updated.append(made)
        back = {"name": name, "phone": phone}
        await ask(service, service.update(target, customer_id, back), "updateCustomer")
    same("update", *updated, apart=("updatedAt",))
    for what, (to, values) in {
        "update of a missing customer": ("cust_0000000000000000000000", change),
        "update of bad values": (customer_id, {"name": None, "phone": "12"}),
    }.items():
        same(
            what,
            *[(await ask(s, s.update(target, to, values), "updateCustomer"))[0] for s in sides],
        )


def delete_request(service: Side, target: Target, customer_id: str) -> bytes:
    return graphql_request(service.port, target.token, DELETE, {"id": customer_id})


# Rounds and the report ------------------------------------------------------------


async def run_round(
    server: Server,
    requests: list[bytes],
    scenario: Scenario,
    args: argparse.Namespace,
    db: Scratch,
    totals: Totals,
) -> str:
    """One round against one server (bench/list.py's, with the write options of the
    load generator); adds to `totals` and returns a one-line summary."""
    options = {
        "placeholder": scenario.placeholder,
        "failure_marks": [USER_ERROR_MARK],
        "partition": scenario.partition,
    }
    this, busy = await measure_round(server, requests, args, db.admin, db.name, options)
    add_round(totals, this, busy)
    return (
        f"{this.rps:8.0f} req/s  p50 {this.percentile_ms(0.5):7.2f} ms  "
        f"p99 {this.percentile_ms(0.99):7.2f} ms  errors {this.errors}  "
        f"cpu/req: server {per_request_ms(this, this.server_cpu):.3f} ms, "
        f"postgres {per_request_ms(this, this.db_cpu):.3f} ms; machine {100 * busy:.0f}%"
    )


def per_request_ms(totals: Totals, cpu_seconds: float) -> float:
    """CPU milliseconds per answered request."""
    answered = len(totals.latencies_us)
    return 1000 * cpu_seconds / answered if answered else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


async def run_scenario(
    scenario: Scenario,
    servers: tuple[Server, Server],
    target: Target,
    args: argparse.Namespace,
    db: Scratch,
    conn: asyncpg.Connection,
) -> tuple[Totals, Totals]:
    totals = {server.name: Totals() for server in servers}
    resets = [reset_peak_rss(pid) for server in servers for pid in server.tree()]
    print(f"\n({scenario.key}) {scenario.title}")
    for round_no in range(1, args.rounds + 1):
        for server in servers:
            side = Side(server.name, server.port)
            tag = f"r{round_no}{server.name[0]}"
            requests = scenario.requests(side, target, tag)
            # This PostgreSQL may run without autovacuum: each round starts from a
            # vacuumed table and empty GIN pending lists, not the last round's leftovers.
            await conn.execute("VACUUM customer")
            line = await run_round(server, requests, scenario, args, db, totals[server.name])
            print(f"  round {round_no} {server.name:<8}{line}", flush=True)
    for server in servers:
        totals[server.name].peak_rss_kib = max(peak_rss_kib(pid) for pid in server.tree())
    print(HEADER)
    for server in servers:
        print(table_row(server.name, totals[server.name]))
        if totals[server.name].first_error:
            print(f"{'':<9}first error: {totals[server.name].first_error}")
    service, floor = (totals[s.name] for s in servers)
    print(
        f"service/floor: req/s {ratio(service.rps, floor.rps):.2f}x, "
        f"p99 {ratio(service.percentile_ms(0.99), floor.percentile_ms(0.99)):.2f}x"
        + ("" if all(resets) else " (peak RSS not reset: since start-up)")
    )
    failed = [s.name for s in servers if totals[s.name].errors]
    if failed:
        print(f"WARNING: {' and '.join(failed)} had failed requests: the ratios are not comparable")
    return service, floor


#: DESIGN.md section 6: every write at least 0.6x the floor's rate, p99 within 2x.
RATE_GOAL, P99_GOAL = 0.6, 2.0


def print_summary(results: dict[str, tuple[Totals, Totals]]) -> None:
    trio = f"{'service':>9}{'floor':>8}{'ratio':>8}"
    print(
        f"\n{'':<4}{'req/s':^25}{'p50 ms':^17}{'p99 ms':^25}"
        f"{'server CPU ms/req':^25}{'PG CPU ms/req':^25}  goal ({RATE_GOAL}x, p99 {P99_GOAL}x)\n"
        f"{'':<4}{trio}{'service':>9}{'floor':>8}{trio}{trio}{trio}"
    )
    for key, (service, floor) in results.items():
        rate = ratio(service.rps, floor.rps)
        p99 = ratio(service.percentile_ms(0.99), floor.percentile_ms(0.99))
        cpu = [per_request_ms(t, t.server_cpu) for t in (service, floor)]
        pg = [per_request_ms(t, t.db_cpu) for t in (service, floor)]
        met = rate >= RATE_GOAL and p99 <= P99_GOAL
        print(
            f"({key})"
            f"{service.rps:>9.0f}{floor.rps:>8.0f}{rate:>7.2f}x"
            f"{service.percentile_ms(0.5):>9.2f}{floor.percentile_ms(0.5):>8.2f}"
            f"{service.percentile_ms(0.99):>9.2f}{floor.percentile_ms(0.99):>8.2f}{p99:>7.2f}x"
            f"{cpu[0]:>9.3f}{cpu[1]:>8.3f}{ratio(*cpu):>7.2f}x"
            f"{pg[0]:>9.3f}{pg[1]:>8.3f}{ratio(*pg):>7.2f}x"
            f"  {'met' if met else 'NOT met'}"
        )


# Set-up ----------------------------------------------------------------------


def prepare(env: dict[str, str], customers: int) -> Target:
    """A business, its API key and its customers, through the real CLI."""
    business_id = json.loads(finora(env, "business", "create", "Bench writes", "--json"))["id"]
    issued = json.loads(finora(env, "apikey", "create", "--business", business_id, "--json"))
    finora(env, "seed-demo", "--business", business_id, "--count", str(customers))
    return Target(business_id=business_id, token=issued["key"], prefix=issued["prefix"])


async def load_customers(conn: asyncpg.Connection, target: Target, sample: int) -> None:
    """`sample` customers at random (seeded), decrypted; and as many new people."""
    from app import crypto
    from app.jobs.seed import people

    await business_keys(conn, target.business_id)  # its data key, so its values open
    cipher = crypto.current().cipher
    rows = await conn.fetch(
        "SELECT id, name, email, phone FROM customer WHERE business_id = $1 AND is_active "
        "ORDER BY id",
        target.business_id,
    )
    chosen = random.Random(22).sample(list(rows), min(sample, len(rows)))
    target.customers = [
        (
            row["id"],
            row["name"],
            cipher.open("customer", "email", row["id"], row["email"]),
            None
            if row["phone"] is None
            else cipher.open("customer", "phone", row["id"], row["phone"]),
        )
        for row in chosen
    ]
    # Another seed than seed-demo's: other people, whose emails get a tag and a number.
    target.people = list(people(7, 0, len(chosen)))


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    from app.settings import parse_database_url

    print("command:", command_line([sys.executable, *sys.argv]))
    scratch = TemporaryDirectory(prefix="finora-bench-")
    service, floor = make_servers(args.workers, Path(scratch.name))
    async with scratch_database() as db:
        env = await production_env(db)
        try:
            target = prepare(env, args.customers)
            env["FINORA_FLOOR_ACTOR"] = target.prefix  # the same events on both sides
            conn = await asyncpg.connect(**parse_database_url(db.url))  # type: ignore[arg-type]
            try:
                await load_customers(conn, target, args.sample)
                for server in (service, floor):
                    server.start(env)
                for server in (service, floor):
                    await server.wait_ready()
                sides = Side(service.name, service.port), Side(floor.name, floor.port)
                await verify(*sides, target, conn, target.prefix)
                print(
                    f"PostgreSQL {await db.admin.fetchval('SHOW server_version')}; "
                    f"{os.cpu_count()} cores; {args.customers} customers, "
                    f"{len(target.customers)} found and updated in turn; {args.workers} "
                    f"worker(s) per server; {args.concurrency} connections; {args.rounds} "
                    f"round(s) per side of {args.warmup:g} s warm-up + {args.seconds:g} s "
                    "counted, each after a VACUUM of the customer table"
                )
                print("service: " + command_line(service.argv))
                print("floor:   " + command_line(floor.argv))
                print("loadgen: " + command_line(LOADGEN_ARGV) + "  (a new process per round)")
                print(
                    "checked: service and floor give the same answers to (a), (b) and (c) and "
                    "their refusals, and store the same rows, tokens and events"
                )
                results = {}
                for key in args.scenarios:
                    results[key] = await run_scenario(
                        SCENARIOS[key], (service, floor), target, args, db, conn
                    )
                print_summary(results)
            finally:
                await conn.close()
        finally:
            for server in (service, floor):
                server.stop()
            scratch.cleanup()


def scenario_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"choose among {','.join(SCENARIOS)}")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--scenarios", type=scenario_keys, default=list(SCENARIOS))
    parser.add_argument("--workers", type=bounded(1, 16), default=1, help="Uvicorn workers")
    parser.add_argument("--concurrency", type=bounded(1, 1024), default=16)
    parser.add_argument("--seconds", type=bounded(0.5, 600, float), default=10.0)
    parser.add_argument("--warmup", type=bounded(0, 60, float), default=1.0)
    parser.add_argument("--rounds", type=bounded(1, 20), default=2, help="rounds per side")
    parser.add_argument("--customers", type=bounded(100, 1_000_000), default=1000)
    parser.add_argument(
        "--sample", type=bounded(16, 100_000), default=1000, help="customers found and updated"
    )
    args = parser.parse_args()
    if min(args.sample, args.customers) < args.concurrency:
        parser.error(
            "--sample and --customers must be at least --concurrency (each "
            "connection updates customers of its own)"
        )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
