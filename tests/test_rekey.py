"""`finora keys rotate --business ID` and `finora keys migrate` while the service serves.

Both move a business's rows to a new key (app.jobs.rekey).  What must hold
throughout, checked against real servers (one of two worker processes that take
every kind of request, one that only reads: no write of its own ever makes it load
the keys again) and the real command as a subprocess:

- every answer during the move is right: reads, search (exactly the expected ids,
  in list order), create, find-or-create (never a duplicate, exactly one winner of
  a race), update, TAKEN where an email is held under either key; the oracle is our
  own bookkeeping of what was written, checked against what ``people()`` (the seed's
  generator) says before anything moves;
- afterwards every row (and the webhook secret) is under the new key alone, the old
  key is gone, another business was not touched, and everything reads back equal;
- a killed run resumes with the key it announced (no third key), nothing lost; a
  value that does not open keeps the old key and is named;
- half-way through a migration a legacy row and a moved row read right at once;
- a row changed while the job holds its batch keeps the change; values a request
  fetched just before a switch (or before the old key went) still open.

FINORA_TEST_REKEY_ROWS (default 2,000) sizes the seeded business: fewer rows make
the move too short to be sure every kind of answer meets it (assert_met_the_move).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from app.crypto.cipher import Cipher, header_of
from app.crypto.datakeys import unwrap
from app.crypto.keys import KeySet
from app.jobs import rekey as rekey_job
from app.jobs.seed import people, seed_demo
from app.models import keyring
from tests.conftest import _admin, make_tenant, running_server
from tests.test_cli import arun, production_env

ROWS = int(os.environ.get("FINORA_TEST_REKEY_ROWS", "2000"))
#: Every process's key cache (FINORA_DATA_KEY_CACHE_S): the job waits this + 1 s.
CACHE_S = 0.5
SERVICE = {
    "FINORA_DATA_KEY_CACHE_S": str(CACHE_S),
    # The load is ours: no rate limit or admission queue may answer it instead.
    "FINORA_RATE_LIMIT_PER_SECOND": "100000",
    "FINORA_RATE_LIMIT_BURST": "100000",
    "FINORA_BUSINESS_IN_FLIGHT": "64",
    "FINORA_WEBHOOK_ALLOW_PRIVATE": "1",
}
#: What a customer shows, compared field by field.
SHOWN = ("name", "email", "phone", "address", "tin", "companyName")
FIELDS = "id " + " ".join(SHOWN)
SEALED = ("email", "phone", "address", "tin")

CREATE = f"""mutation($b: ID!, $input: CreateCustomerInput!) {{ createCustomer(businessId: $b,
  input: $input) {{ customer {{ {FIELDS} }} userErrors {{ code }} }} }}"""
FIND_OR_CREATE = f"""mutation($b: ID!, $input: FindOrCreateCustomerInput!) {{
  findOrCreateCustomer(businessId: $b, input: $input) {{ customer {{ {FIELDS} }} created
  userErrors {{ code }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateCustomerInput!) {{ updateCustomer(id: $id,
  input: $input) {{ customer {{ {FIELDS} }} userErrors {{ code }} }} }}"""
GET = f"query($id: ID!) {{ customer(id: $id) {{ {FIELDS} }} }}"
SEARCH = """query($b: ID!, $q: String!) {
  searchCustomers(businessId: $b, q: $q) { count customers { id } } }"""
PAGE = f"""query($b: ID!, $after: String) {{ customerConnection(businessId: $b, first: 100,
  after: $after) {{ nodes {{ {FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
BULK = f"""mutation($b: ID!, $inputs: [FindOrCreateCustomerInput!]!) {{
  findOrCreateCustomers(businessId: $b, inputs: $inputs) {{ results {{ customer {{ {FIELDS} }}
  created userErrors {{ code }} }} createdCount foundCount failedCount }} }}"""
DELETE = """mutation($id: ID!) {
  deleteCustomer(id: $id) { deletedCustomerId userErrors { code } } }"""
ENDPOINT = """mutation($b: ID!) { createWebhookEndpoint(businessId: $b,
  url: "http://127.0.0.1:9/hook") { endpoint { id } secret userErrors { code } } }"""

#: A business's state as the jobs leave it, polled while they run (see Phases).
STATE = """
SELECT b.write_key, b.legacy_values,
  (SELECT count(*) FROM business_key k WHERE k.business_id = b.id) AS keys,
  (SELECT count(*) FROM customer c WHERE c.business_id = b.id) AS total,
  (SELECT count(*) FROM customer c WHERE c.business_id = b.id
     AND c.key_id IS NOT DISTINCT FROM b.write_key) AS under_write
FROM business b WHERE b.id = $1
"""


# The service, as a client sees it ------------------------------------------


class Api:
    """One business's API key on the running server; every answer is checked to be an
    answer (HTTP 200, no GraphQL error) before anything else looks at it."""

    def __init__(self, http: httpx.AsyncClient, business_id: str, key: str) -> None:
        self.http = http
        self.business_id = business_id
        self.headers = {"Authorization": f"Bearer {key}"}

    async def data(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers
        )
        assert response.status_code == 200, response.text[:500]
        body = response.json()
        assert "errors" not in body, body["errors"][:2]
        return body["data"]  # type: ignore[no-any-return]

    async def create(self, **values: str | None) -> dict[str, Any]:
        payload = (await self.data(CREATE, {"b": self.business_id, "input": values}))[
            "createCustomer"
        ]
        assert payload["userErrors"] == [], payload
        return payload["customer"]  # type: ignore[no-any-return]

    async def create_refused(self, **values: str | None) -> list[str]:
        payload = (await self.data(CREATE, {"b": self.business_id, "input": values}))[
            "createCustomer"
        ]
        assert payload["customer"] is None, payload
        return [error["code"] for error in payload["userErrors"]]

    async def find_or_create(self, email: str) -> tuple[dict[str, Any], bool]:
        variables = {"b": self.business_id, "input": {"email": email}}
        payload = (await self.data(FIND_OR_CREATE, variables))["findOrCreateCustomer"]
        assert payload["userErrors"] == [], payload
        return payload["customer"], payload["created"]

    async def find_or_create_many(self, emails: list[str]) -> list[tuple[dict[str, Any], bool]]:
        inputs = [{"email": email} for email in emails]
        payload = (await self.data(BULK, {"b": self.business_id, "inputs": inputs}))[
            "findOrCreateCustomers"
        ]
        assert payload["failedCount"] == 0, payload
        return [(row["customer"], row["created"]) for row in payload["results"]]

    async def delete(self, customer_id: str) -> None:
        payload = (await self.data(DELETE, {"id": customer_id}))["deleteCustomer"]
        assert (payload["deletedCustomerId"], payload["userErrors"]) == (customer_id, []), payload

    async def update(self, customer_id: str, **changes: str | None) -> dict[str, Any]:
        payload = (await self.data(UPDATE, {"id": customer_id, "input": changes}))["updateCustomer"]
        assert payload["userErrors"] == [], payload
        return payload["customer"]  # type: ignore[no-any-return]

    async def update_refused(self, customer_id: str, **changes: str | None) -> list[str]:
        payload = (await self.data(UPDATE, {"id": customer_id, "input": changes}))["updateCustomer"]
        assert payload["customer"] is None, payload
        return [error["code"] for error in payload["userErrors"]]

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        return (await self.data(GET, {"id": customer_id}))["customer"]  # type: ignore[no-any-return]

    async def search(self, q: str) -> list[str]:
        found = (await self.data(SEARCH, {"b": self.business_id, "q": q}))["searchCustomers"]
        ids = [customer["id"] for customer in found["customers"]]
        assert found["count"] == len(ids), found
        return ids

    async def every(self) -> list[dict[str, Any]]:
        """Every active customer, walking customerConnection to its end."""
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            page = (await self.data(PAGE, {"b": self.business_id, "after": after}))[
                "customerConnection"
            ]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]


def shown(customer: dict[str, Any]) -> dict[str, Any]:
    return {name: customer[name] for name in SHOWN}


@dataclass
class Book:
    """What every customer of the business should read as: our own record of it."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ids the load never changes: readers and finders pick from these
    stable: list[str] = field(default_factory=list)

    def put(self, customer: dict[str, Any], *, stable: bool = False) -> None:
        self.rows[customer["id"]] = shown(customer)
        if stable:
            self.stable.append(customer["id"])

    def remove(self, customer_id: str) -> None:
        del self.rows[customer_id]

    def check(self, customer: dict[str, Any] | None, customer_id: str) -> None:
        assert customer is not None, f"{customer_id} is missing"
        assert customer["id"] == customer_id
        assert shown(customer) == self.rows[customer_id], customer_id

    def matches(self, needle: str) -> list[str]:
        """searchCustomers by decrypt-and-filter: name or email holds the needle,
        in list order (name_lower in code point order, then id), the first 50."""
        hits = sorted(
            (row["name"].lower(), customer_id)
            for customer_id, row in self.rows.items()
            if needle in row["name"].lower() or needle in row["email"]
        )
        return [customer_id for _, customer_id in hits[:50]]


async def seeded(api: Api, count: int, seed: int, book: Book) -> None:
    """Every customer the API lists is exactly one of the seed's people, whole: the
    values before anything moves, and the book's start."""
    expected = {person["email"]: person for person in people(seed, 0, count)}
    listed = await api.every()
    assert len(listed) == count
    for customer in listed:
        person = expected.pop(customer["email"])
        assert shown(customer) == {
            "name": person["name"],
            "email": person["email"],
            "phone": person["phone"],
            "address": person["address"],
            "tin": person["tin"],
            "companyName": person["company_name"],
        }
        book.put(customer, stable=True)
    assert not expected


def needles(count: int, seed: int) -> list[str]:
    """Searches whose answer the load cannot change (none of its names or emails holds
    one): common ones (the walk), rare ones (the index), one row's email, none."""
    one = next(iter(people(seed, count // 2, count // 2 + 1)))
    return [
        "gmail",
        "adebayo",
        "bello",
        "@gtbank.com",
        "chi",
        one["email"].split("@")[0] + "@",
        "rekeyfix",
        "zq-nothing-zq",
    ]


async def check_everything(api: Api, book: Book, searches: list[str]) -> None:
    """Every value as the book says, no email twice, every search as decrypt-and-filter
    says, every stable email found (not created) by find-or-create, none taken twice."""
    listed = await api.every()
    assert {c["id"]: shown(c) for c in listed} == book.rows
    twice = [email for email, n in Counter(c["email"] for c in listed).items() if n > 1]
    assert not twice, twice
    for needle in searches:
        assert await api.search(needle) == book.matches(needle), needle
    sample = random.Random(3).sample(book.stable, min(40, len(book.stable)))
    for customer_id in sample:
        email = book.rows[customer_id]["email"]
        found, created = await api.find_or_create(email.upper())
        assert (found["id"], created) == (customer_id, False), email
    assert await api.create_refused(name="Twin", email=book.rows[sample[0]]["email"]) == ["TAKEN"]


# Load -------------------------------------------------------------------------


@dataclass
class Phases:
    """Where the job is, polled from the database every few ms, and which answers
    came while it was there: proof that the load met the move, not only its ends."""

    conn: asyncpg.Connection
    business_id: str
    phase_of: Callable[[asyncpg.Record], str]
    now: str = "before"
    #: (kind of answer, phase it started in, phase it ended in) -> answers
    answers: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    #: a moment with rows under both keys seen (in the phase "moving")
    mixed: bool = False

    async def poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            row = await self.conn.fetchrow(STATE, self.business_id)
            self.now = self.phase_of(row)
            if self.now == "moving" and 0 < row["under_write"] < row["total"]:
                self.mixed = True
            await asyncio.sleep(0.005)

    @contextmanager
    def answer(self, kind: str) -> Iterator[None]:
        start = self.now
        yield
        self.answers[kind, start, self.now] += 1

    def within(self, phase: str) -> Counter[str]:
        """Answers that started and ended in `phase`, by kind."""
        return Counter(
            {kind: n for (kind, start, end), n in self.answers.items() if start == end == phase}
        )


def rotation_phase(old_key: str) -> Callable[[asyncpg.Record], str]:
    def phase(row: asyncpg.Record) -> str:
        if row["keys"] == 1:
            return "before" if row["write_key"] == old_key else "done"
        return "announced" if row["write_key"] == old_key else "moving"

    return phase


def migration_phase(row: asyncpg.Record) -> str:
    if row["write_key"] is None:
        return "before" if row["keys"] == 0 else "announced"
    return "moving" if row["legacy_values"] else "done"


@dataclass
class Load:
    """Reads and writes of one business, each worker one request after another, every
    answer checked against the book at once.  `movers` are customers only the updater
    changes (so what their searches find is known at every moment)."""

    api: Api
    book: Book
    phases: Phases
    searches: list[str]
    movers: list[str]
    tag: str
    #: the same business through a server that only reads: no write of its own ever
    #: makes it load the business's keys again, only its cache's lifetime
    reads: Api
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    async def creator(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            email = f"fresh{n}.{self.tag}@load.ng"
            with self.phases.answer("create"):
                made = await self.api.create(
                    name=f"Fresh Load {n}", email=email, phone="+2348030000001"
                )
            assert made["email"] == email and made["name"] == f"Fresh Load {n}"
            self.book.put(made)
            with self.phases.answer("search"):
                assert await self.reads.search(f"fresh{n}.{self.tag}@") == [made["id"]]
            with self.phases.answer("read"):
                self.book.check(await self.reads.get(made["id"]), made["id"])
            if n % 3:
                continue
            with self.phases.answer("delete"):
                await self.api.delete(made["id"])
            self.book.remove(made["id"])
            with self.phases.answer("search"):
                assert await self.reads.search(f"fresh{n}.{self.tag}@") == []
            with self.phases.answer("find-or-create"):
                again, created = await self.api.find_or_create(email)  # a new customer
            assert created and again["id"] != made["id"]
            self.book.put(again)

    async def racer(self) -> None:
        """Several find-or-create of one new email at once: exactly one creates it."""
        n = 0
        while not self.stop.is_set():
            n += 1
            email = f"race{n}.{self.tag}@load.ng"
            with self.phases.answer("find-or-create race"):
                answers = await asyncio.gather(*(self.api.find_or_create(email) for _ in range(4)))
            assert sorted(created for _, created in answers) == [False, False, False, True]
            assert len({customer["id"] for customer, _ in answers}) == 1, answers
            self.book.put(answers[0][0])
            with self.phases.answer("find-or-create"):
                again, created = await self.api.find_or_create(email)
            assert (again["id"], created) == (answers[0][0]["id"], False)

    async def finder(self) -> None:
        """Find-or-create of emails that exist finds them (under either key); create
        and update onto them are TAKEN."""
        n = 0
        while not self.stop.is_set():
            n += 1
            customer_id = self.rng.choice(self.book.stable)
            email = self.book.rows[customer_id]["email"]
            with self.phases.answer("find-or-create"):
                found, created = await self.api.find_or_create(email if n % 2 else email.upper())
            assert (found["id"], created) == (customer_id, False), email
            self.book.check(found, customer_id)
            if n % 5 == 0:
                with self.phases.answer("create taken"):
                    assert await self.api.create_refused(name="Twin", email=email) == ["TAKEN"]
            if n % 7 == 0:
                mover = self.rng.choice(self.movers)
                with self.phases.answer("update taken"):
                    assert await self.api.update_refused(mover, email=email) == ["TAKEN"]

    async def bulk(self) -> None:
        """findOrCreateCustomers of emails that exist and new ones, each new one twice in
        the call: the existing are found, each new one created once, by its first row."""
        n = 0
        while not self.stop.is_set():
            n += 1
            existing = self.rng.sample(self.book.stable, 8)
            new = [f"bulk{n}.{i}.{self.tag}@load.ng" for i in range(6)]
            emails = [self.book.rows[i]["email"] for i in existing] + new + new
            with self.phases.answer("find-or-create many"):
                results = await self.api.find_or_create_many(emails)
            for customer_id, (customer, created) in zip(existing, results[:8], strict=True):
                assert not created
                self.book.check(customer, customer_id)
            firsts, seconds = results[8:14], results[14:]
            assert [created for _, created in firsts] == [True] * 6
            assert [created for _, created in seconds] == [False] * 6
            for (first, _), (second, _), email in zip(firsts, seconds, new, strict=True):
                assert first["id"] == second["id"] and first["email"] == email
                self.book.put(first)

    async def updater(self) -> None:
        """Email and name changes (and a change of the address alone, which moves a row
        still under the old key whole): the search of the new email finds the row, of
        the old one nothing, and find-or-create finds it by the new email."""
        n = 0
        while not self.stop.is_set():
            n += 1
            customer_id = self.movers[n % len(self.movers)]
            before = self.book.rows[customer_id]
            if n % 3 == 0:
                with self.phases.answer("update"):
                    changed = await self.api.update(customer_id, address=f"{n} Rekey Road")
                self.book.put(changed)
                with self.phases.answer("read"):
                    self.book.check(await self.api.get(customer_id), customer_id)
                continue
            email = f"mover{n % len(self.movers)}.v{n}.{self.tag}@moved.ng"
            with self.phases.answer("update"):
                changed = await self.api.update(customer_id, email=email, name=f"Moved V{n}")
            assert (changed["email"], changed["name"]) == (email, f"Moved V{n}")
            self.book.put(changed)
            with self.phases.answer("search"):
                assert await self.reads.search(email.split("@")[0] + "@") == [customer_id]
                assert await self.reads.search(before["email"].split("@")[0] + "@") == []
            with self.phases.answer("find-or-create"):
                found, created = await self.api.find_or_create(email)
            assert (found["id"], created) == (customer_id, False)

    async def searcher(self, api: Api) -> None:
        expected = {needle: self.book.matches(needle) for needle in self.searches}
        while not self.stop.is_set():
            needle = self.rng.choice(self.searches)
            with self.phases.answer("search"):
                assert await api.search(needle) == expected[needle], needle

    async def reader(self, api: Api) -> None:
        while not self.stop.is_set():
            customer_id = self.rng.choice(self.book.stable)
            with self.phases.answer("read"):
                self.book.check(await api.get(customer_id), customer_id)

    async def during(self, job: Awaitable[Any]) -> Any:
        """Run the job under the load; the load goes on a moment after it ends (while
        some caches still hold the old key).  The first wrong answer fails the test."""

        async def run_job() -> Any:
            try:
                return await job
            finally:
                await asyncio.sleep(2 * CACHE_S)
                self.stop.set()

        async with asyncio.TaskGroup() as group:
            done = group.create_task(run_job())
            group.create_task(self.phases.poll(self.stop))
            for worker in (
                self.creator(),
                self.racer(),
                self.finder(),
                self.finder(),
                self.bulk(),
                self.updater(),
                self.searcher(self.api),
                self.searcher(self.reads),
                self.reader(self.api),
                self.reader(self.reads),
            ):
                group.create_task(worker)
        return done.result()


def assert_met_the_move(phases: Phases) -> None:
    """Right answers of every kind while rows were moving, with rows under both keys."""
    during = phases.within("moving")
    assert phases.mixed, "never saw rows under both keys: the load missed the move"
    kinds = ("read", "search", "find-or-create", "find-or-create many", "create", "update")
    for kind in (*kinds, "delete"):
        assert during[kind] > 0, (kind, phases.answers)


# Keys, as the database holds them --------------------------------------------


async def open_secret(conn: asyncpg.Connection, env: dict[str, str], endpoint_id: str) -> str:
    """The webhook secret opened from its row alone, with the master keys: unwrap the
    data key its row names (none: the legacy scheme), then open the value."""
    keys = KeySet.parse(env["FINORA_ENCRYPTION_KEYS"], env["FINORA_INDEX_KEY"])
    cipher = Cipher(keys)
    row = await conn.fetchrow(
        "SELECT business_id, secret, key_id FROM webhook_endpoint WHERE id = $1", endpoint_id
    )
    if row["key_id"] is not None:
        wrapped = await conn.fetchrow(
            "SELECT master_key_id, wrapped FROM business_key WHERE id = $1", row["key_id"]
        )
        assert wrapped is not None, "the secret's data key is gone"
        data_key = unwrap(
            keys, row["business_id"], row["key_id"], wrapped["master_key_id"], wrapped["wrapped"]
        )
        cipher.learn(row["key_id"], data_key)
    sealed = bytes(row["secret"])
    assert (header_of(sealed)[0] == 2) == (row["key_id"] is not None)  # the header agrees
    return cipher.open("webhook_endpoint", "secret", endpoint_id, sealed)


async def all_under(conn: asyncpg.Connection, business_id: str, key_id: str) -> None:
    """Every row of the business (and every sealed value's header) names `key_id`, and
    it is the business's only data key and its writing key."""
    business = await conn.fetchrow(
        "SELECT write_key, legacy_values FROM business WHERE id = $1", business_id
    )
    assert (business["write_key"], business["legacy_values"]) == (key_id, False)
    keys = await conn.fetch("SELECT id FROM business_key WHERE business_id = $1", business_id)
    assert [k["id"] for k in keys] == [key_id]
    rows = await conn.fetch(
        "SELECT id, key_id, email, phone, address, tin FROM customer WHERE business_id = $1",
        business_id,
    )
    assert rows and {row["key_id"] for row in rows} == {key_id}
    for row in rows:
        for column in SEALED:
            if row[column] is not None:
                assert header_of(bytes(row[column])) == (2, key_id), (row["id"], column)
    secrets = await conn.fetch(
        "SELECT key_id FROM webhook_endpoint WHERE business_id = $1 "
        "UNION ALL SELECT key_id FROM shop_connection WHERE business_id = $1",
        business_id,
    )
    assert all(row["key_id"] == key_id for row in secrets)


async def new_business(name: str, env: dict[str, str]) -> tuple[str, str]:
    """(id, API key) of a business made by the CLI."""
    made = await arun("business", "create", name, "--json", env=env)
    assert made.returncode == 0, made.stderr
    business_id = json.loads(made.stdout)["id"]
    issued = await arun("apikey", "create", "--business", business_id, "--json", env=env)
    assert issued.returncode == 0, issued.stderr
    return business_id, json.loads(issued.stdout)["key"]


async def seed(business_id: str, count: int, seed_: int, env: dict[str, str]) -> None:
    done = await arun(
        "seed-demo", "--business", business_id, "--count", str(count), "--seed", str(seed_), env=env
    )
    assert done.returncode == 0, done.stderr


async def status(env: dict[str, str]) -> dict[str, int]:
    shown_ = await arun("keys", "status", "--json", env=env)
    assert shown_.returncode == 0, shown_.stderr
    return json.loads(shown_.stdout)  # type: ignore[no-any-return]


async def known_customers(api: Api, book: Book, tag: str) -> list[str]:
    """A few customers made through the API: stable ones (found by "rekeyfix"), and
    the movers, which only the load's updater changes.  The movers' ids."""
    for i in range(6):
        made = await api.create(
            name=f"Rekeyfix Person {i}",
            email=f"rekeyfix{i}@known.ng",
            phone=f"+23480312345{i:02d}",
            address=f"{i} Known Street, Yaba",
            tin=f"1234567{i}-0001",
        )
        book.put(made, stable=True)
    movers = []
    for i in range(6):
        made = await api.create(name=f"Mover {i}", email=f"mover{i}.v0.{tag}@moved.ng")
        book.put(made)
        movers.append(made["id"])
    return movers


@asynccontextmanager
async def admin(url: str) -> Any:
    conn = await _admin(url)
    try:
        yield conn
    finally:
        await conn.close()


# Tests ------------------------------------------------------------------------


async def test_rotate_one_business_under_load(fresh_db):
    """`keys rotate --business A` while A is read and written from every side: every
    answer is right during it; after it A's rows, tokens and secret are under the new
    key alone, the old key is gone, B was not touched, and everything reads back."""
    env = production_env(DATABASE_URL=fresh_db, **SERVICE)
    assert (await arun("migrate", env=env)).returncode == 0
    a, a_key = await new_business("Rotate A", env)
    b, b_key = await new_business("Rotate B", env)
    await seed(a, ROWS, 1, env)
    await seed(b, 300, 2, env)
    async with (
        admin(fresh_db) as conn,
        running_server(env, "--workers", "2") as server,
        running_server(env) as read_only,
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
        httpx.AsyncClient(base_url=read_only.url, timeout=60) as reader,
    ):
        api, book, b_book = Api(http, a, a_key), Book(), Book()
        await seeded(api, ROWS, 1, book)
        movers = await known_customers(api, book, "rot")
        hook = (await api.data(ENDPOINT, {"b": a}))["createWebhookEndpoint"]
        endpoint, secret = hook["endpoint"]["id"], hook["secret"]
        await seeded(Api(http, b, b_key), 300, 2, b_book)
        old = await conn.fetchval("SELECT write_key FROM business WHERE id = $1", a)
        assert old is not None and await open_secret(conn, env, endpoint) == secret
        b_rows = await conn.fetch(
            "SELECT id, xmin::text, key_id FROM customer WHERE business_id = $1 ORDER BY id", b
        )
        b_keys = await conn.fetch("SELECT * FROM business_key WHERE business_id = $1", b)
        searches = needles(ROWS, 1)
        await check_everything(api, book, searches)

        phases = Phases(conn, a, rotation_phase(old))
        load = Load(api, book, phases, searches, movers, "rot", Api(reader, a, a_key))
        rotation = await load.during(arun("keys", "rotate", "--business", a, env=env))
        assert rotation.returncode == 0, rotation.stderr
        assert "moved" in rotation.stdout and "rekey: 100%" in rotation.stderr  # the bar
        assert_met_the_move(phases)

        counts = await status(env)
        assert counts["businesses_rotating"] == counts["customers_not_under_writing_key"] == 0
        new = await conn.fetchval("SELECT write_key FROM business WHERE id = $1", a)
        assert new not in (None, old)
        await all_under(conn, a, new)
        assert await open_secret(conn, env, endpoint) == secret
        assert b_rows == await conn.fetch(
            "SELECT id, xmin::text, key_id FROM customer WHERE business_id = $1 ORDER BY id", b
        )
        assert b_keys == await conn.fetch("SELECT * FROM business_key WHERE business_id = $1", b)

        await asyncio.sleep(CACHE_S + 0.2)  # every cache now holds the new key alone
        await check_everything(api, book, searches)
        await check_everything(Api(http, b, b_key), b_book, ["gmail", "bello"])
    for process in (server, read_only):
        assert "Traceback" not in process.log, process.log[-3000:]


async def test_migrate_a_legacy_database_under_load(fresh_db):
    """`keys migrate` on a database of the legacy scheme (values under the master key
    directly, indexes under FINORA_INDEX_KEY alone) while it serves: right answers
    before, during and after; then nothing is left to migrate, and a second run says so."""
    env = production_env(DATABASE_URL=fresh_db, **SERVICE)
    assert (await arun("migrate", env=env)).returncode == 0
    a, a_key = await new_business("Legacy A", env)
    c, c_key = await new_business("Legacy C", env)
    async with admin(fresh_db) as conn:
        for business_id in (a, c):  # legacy before it has a row; no process has its keys yet
            await conn.execute("DELETE FROM business_key WHERE business_id = $1", business_id)
            await conn.execute(
                "UPDATE business SET write_key = NULL, legacy_values = true WHERE id = $1",
                business_id,
            )
    await seed(a, ROWS, 1, env)
    await seed(c, 200, 2, env)
    async with (
        admin(fresh_db) as conn,
        running_server(env, "--workers", "2") as server,
        running_server(env) as read_only,
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
        httpx.AsyncClient(base_url=read_only.url, timeout=60) as reader,
    ):
        api, book, c_book = Api(http, a, a_key), Book(), Book()
        await seeded(api, ROWS, 1, book)
        movers = await known_customers(api, book, "mig")
        hook = (await api.data(ENDPOINT, {"b": a}))["createWebhookEndpoint"]
        endpoint, secret = hook["endpoint"]["id"], hook["secret"]
        await seeded(Api(http, c, c_key), 200, 2, c_book)
        # Legacy indeed: no row names a key, every value is a master key's (version 1).
        rows = await conn.fetch("SELECT key_id, email, phone FROM customer")
        assert {row["key_id"] for row in rows} == {None}
        assert {header_of(bytes(row["email"]))[0] for row in rows} == {1}
        assert await open_secret(conn, env, endpoint) == secret
        counts = await status(env)
        assert counts["businesses_to_migrate"] == 2 and counts["legacy_secrets"] == 1
        assert counts["legacy_customers"] == len(book.rows) + 200
        searches = needles(ROWS, 1)
        await check_everything(api, book, searches)

        phases = Phases(conn, a, migration_phase)
        load = Load(api, book, phases, searches, movers, "mig", Api(reader, a, a_key))
        migration = await load.during(arun("keys", "migrate", env=env))
        assert migration.returncode == 0, migration.stderr
        assert "of 2 business(es)" in migration.stdout and "rekey: 100%" in migration.stderr
        assert_met_the_move(phases)

        counts = await status(env)
        assert counts["legacy_customers"] == counts["legacy_secrets"] == 0
        assert counts["businesses_to_migrate"] == counts["businesses_rotating"] == 0
        assert counts["customers_not_under_writing_key"] == 0
        for business_id in (a, c):
            key_id = await conn.fetchval(
                "SELECT write_key FROM business WHERE id = $1", business_id
            )
            await all_under(conn, business_id, key_id)
        assert await open_secret(conn, env, endpoint) == secret
        again = await arun("keys", "migrate", env=env)
        assert again.returncode == 0 and "nothing to migrate" in again.stdout, again.stderr

        await asyncio.sleep(CACHE_S + 0.2)  # no cache holds the legacy scheme any more
        await check_everything(api, book, searches)
        await check_everything(Api(http, c, c_key), c_book, ["gmail", "bello"])
    for process in (server, read_only):
        assert "Traceback" not in process.log, process.log[-3000:]


class Killed(Exception):
    """Stands for the process dying at that point."""


@pytest.mark.parametrize("kill", ["after the announcement", "mid-move"])
async def test_a_killed_rotation_resumes_with_the_key_it_announced(
    app, gql, raw_db, monkeypatch, kill
):
    """`rotate --business` dies after announcing its key, or after moving some
    batches; the command run again finishes the move under that same key (no third
    key), and every customer reads back as before, once."""
    tenant = await make_tenant("Resume")
    business_id = tenant.business_id
    await seed_demo(raw_db, business_id=business_id, count=600, show_progress=False)
    api_before = await _every_in_process(gql, tenant)
    old = await raw_db.fetchval("SELECT write_key FROM business WHERE id = $1", business_id)

    monkeypatch.setattr(keyring, "_lifetime", CACHE_S)
    monkeypatch.setattr(rekey_job, "BATCH", 100)
    if kill == "after the announcement":

        async def switch(business_id: str, target: str) -> None:
            raise Killed

        monkeypatch.setattr(rekey_job, "_switch", switch)
    else:

        class Bar:
            batches = 0

            def update(self, n: int) -> None:  # after a batch has committed
                Bar.batches += 1
                if Bar.batches == 3:
                    raise Killed

        @contextmanager
        def progress(*args: Any, **kwargs: Any) -> Iterator[Bar]:
            yield Bar()

        monkeypatch.setattr(rekey_job, "progress", progress)
    with pytest.raises(Killed):
        await rekey_job.rekey([business_id], rotate=True, show_progress=False, say=lambda _: None)

    keys = await raw_db.fetch(
        "SELECT id FROM business_key WHERE business_id = $1 ORDER BY created_at", business_id
    )
    assert len(keys) == 2 and keys[0]["id"] == old
    announced = keys[1]["id"]
    moved = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1 AND key_id = $2",
        business_id,
        announced,
    )
    writing = await raw_db.fetchval("SELECT write_key FROM business WHERE id = $1", business_id)
    if kill == "mid-move":
        assert (writing, moved) == (announced, 300)
    else:
        assert (writing, moved) == (old, 0)

    again = await arun("keys", "rotate", "--business", business_id, env=production_env(**SERVICE))
    assert again.returncode == 0, again.stderr
    async with admin(os.environ["DATABASE_URL"]) as conn:
        await all_under(conn, business_id, announced)
    keyring.forget(business_id)
    assert await _every_in_process(gql, tenant) == api_before


async def _every_in_process(gql: Any, tenant: Any) -> list[dict[str, Any]]:
    """Every active customer through the in-process app, in list order."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.data(tenant, PAGE, {"b": tenant.business_id, "after": after}))[
            "customerConnection"
        ]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_a_legacy_row_and_a_moved_row_read_right_at_once(app, gql, raw_db, monkeypatch):
    """A migration held between two batches: one row still under the master key, one
    already under the business's data key, both read (together), searched, found and
    refused as TAKEN through a real server; then the migration finishes."""
    from tests.test_api import create

    tenant = await make_tenant("Half moved")
    business_id = tenant.business_id
    await raw_db.execute("DELETE FROM business_key WHERE business_id = $1", business_id)
    await raw_db.execute(
        "UPDATE business SET write_key = NULL, legacy_values = true WHERE id = $1", business_id
    )
    keyring.forget(business_id)
    book = Book()
    for i in range(12):
        made = await create(
            gql,
            tenant,
            name=f"Both Kinds {i:02d}",
            email=f"kind{i:02d}@both.ng",
            phone=f"+2348031111{i:03d}",
            address=f"{i} Half Way",
        )
        book.put(made, stable=True)

    monkeypatch.setattr(keyring, "_lifetime", CACHE_S)
    monkeypatch.setattr(rekey_job, "BATCH", 4)
    held, go, reads = asyncio.Event(), asyncio.Event(), Counter[str]()
    query = rekey_job._query

    async def holding(sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if sql == rekey_job._READ:
            reads["batches"] += 1
            if reads["batches"] == 2:  # the first batch has moved
                held.set()
                await go.wait()
        return await query(sql, params)

    monkeypatch.setattr(rekey_job, "_query", holding)
    async with (
        running_server(production_env(**SERVICE)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        api = Api(http, business_id, tenant.key)
        assert await api.search("both kinds") == book.matches("both kinds")
        job = asyncio.create_task(
            rekey_job.rekey([business_id], rotate=False, show_progress=False, say=lambda _: None)
        )
        await asyncio.wait_for(held.wait(), 30)
        rows = await raw_db.fetch(
            "SELECT id, key_id, email, phone FROM customer WHERE business_id = $1 ORDER BY id",
            business_id,
        )
        moved = [row for row in rows if row["key_id"] is not None]
        legacy = [row for row in rows if row["key_id"] is None]
        assert (len(moved), len(legacy)) == (4, 8)
        assert {header_of(bytes(row["email"]))[0] for row in moved} == {2}
        assert {header_of(bytes(row["email"]))[0] for row in legacy} == {1}
        one, other = moved[0]["id"], legacy[-1]["id"]

        both = await asyncio.gather(api.get(one), api.get(other))
        book.check(both[0], one)
        book.check(both[1], other)
        assert await api.search("both kinds") == book.matches("both kinds")
        for customer_id in (one, other):
            email = book.rows[customer_id]["email"]
            assert await api.search(email) == [customer_id]
            found, created = await api.find_or_create(email.upper())
            assert (found["id"], created) == (customer_id, False)
            assert await api.create_refused(name="Twin", email=email) == ["TAKEN"]
        new = await api.create(name="Both Kinds New", email="kindnew@both.ng")
        book.put(new)
        assert (
            await raw_db.fetchval("SELECT key_id FROM customer WHERE id = $1", new["id"])
            == moved[0]["key_id"]
        )  # written under the new key, read beside the legacy ones
        changed = await api.update(legacy[0]["id"], phone="+2348039999999")  # moves it whole
        book.put(changed)
        assert (
            await raw_db.fetchval("SELECT key_id FROM customer WHERE id = $1", legacy[0]["id"])
            == moved[0]["key_id"]
        )
        book.check(await api.get(legacy[0]["id"]), legacy[0]["id"])
        assert await api.search("both kinds") == book.matches("both kinds")

        go.set()
        done = await asyncio.wait_for(job, 30)
        assert (done.businesses, done.unfinished, done.unreadable) == (1, [], [])
        await all_under(raw_db, business_id, moved[0]["key_id"])
        await asyncio.sleep(CACHE_S + 0.2)
        for customer_id in book.rows:  # with the new key alone now
            book.check(await api.get(customer_id), customer_id)
            email = book.rows[customer_id]["email"]
            assert await api.search(email) == [customer_id]
            found, created = await api.find_or_create(email)
            assert (found["id"], created) == (customer_id, False)
        assert await api.search("both kinds") == book.matches("both kinds")
    assert "Traceback" not in server.log, server.log[-3000:]


async def test_a_value_read_before_a_writer_sees_the_switch_still_opens(tenant, monkeypatch):
    """Once a business switches keys, the first write of each process under the old key
    misses (keyring.guard) and that process loads the business's keys again.  A request
    of the same process that fetched its rows just before, and opens them while that
    load is on its way to the database, must still read them: the keys it holds did
    not go anywhere."""
    from app.db.transaction import transaction
    from app.services import customers as svc
    from app.services.access import Caller, Scope

    caller = Caller(business_id=tenant.business_id, key_prefix="t", scope=Scope.WRITE)
    made = await svc.create_customer(
        caller,
        business_id=tenant.business_id,
        values={"name": "In Flight", "email": "in.flight@keys.ng", "phone": "+2348031234567"},
    )
    async with transaction() as conn:  # announced, and loaded as every process has it
        new = await keyring.new_key(conn, tenant.business_id)
    keyring.forget(tenant.business_id)
    assert (await keyring.of(tenant.business_id)).moving
    fetched = await svc.read_customer(caller, made.id)  # sealed still: opened when shown
    async with transaction() as conn:  # the switch (what rekey._switch does)
        await conn.execute_query(
            "UPDATE business SET write_key = $2 WHERE id = $1", [tenant.business_id, new]
        )

    loading, go = asyncio.Event(), asyncio.Event()
    written = keyring.written

    async def slow(sql: str, *args: Any) -> Any:  # the load's round trip, held open
        if sql == keyring.LOAD:
            loading.set()
            await go.wait()
        return await written(sql, *args)

    monkeypatch.setattr(keyring, "written", slow)
    writer = asyncio.create_task(
        svc.create_customer(
            caller,
            business_id=tenant.business_id,
            values={"name": "Writer", "email": "writer.switch@keys.ng"},
        )
    )
    await asyncio.wait_for(loading.wait(), 10)
    try:
        assert fetched is not None
        assert (fetched.email, fetched.phone) == ("in.flight@keys.ng", "+2348031234567")
    finally:
        go.set()
        await writer


async def test_a_value_read_under_the_old_key_opens_after_the_job_deleted_it(tenant, monkeypatch):
    """A request fetched a row just before `rotate --business` moved it and deleted the
    old key; this process then loads the business's keys (the old one gone from them)
    before the request opens the row's values: they still open."""
    from app.services import customers as svc
    from app.services.access import Caller, Scope

    caller = Caller(business_id=tenant.business_id, key_prefix="t", scope=Scope.WRITE)
    made = await svc.create_customer(
        caller,
        business_id=tenant.business_id,
        values={"name": "Read Early", "email": "read.early@keys.ng", "tin": "12345678-0001"},
    )
    fetched = await svc.read_customer(caller, made.id)  # sealed under the old key, not opened
    monkeypatch.setattr(keyring, "_lifetime", CACHE_S)
    done = await rekey_job.rekey(
        [tenant.business_id], rotate=True, show_progress=False, say=lambda _: None
    )
    assert (done.businesses, done.moved) == (1, 1)
    keys = await keyring.of(tenant.business_id)
    assert len(keys.live) == 1  # this process knows the old key is gone
    assert fetched is not None and (fetched.email, fetched.tin) == (
        "read.early@keys.ng",
        "12345678-0001",
    )


async def test_a_value_that_does_not_open_keeps_the_old_key_and_is_named(tenant, raw_db):
    """One damaged row (a value copied from another row: its AAD names the other id)
    cannot be moved: the command says so, names the row, and keeps the old key (the
    row's other values still need it); every other row moves.  Once the row is erased
    the command run again finishes, under the same new key."""
    from app.services import customers as svc
    from app.services.access import Caller, Scope

    business_id = tenant.business_id
    await seed_demo(raw_db, business_id=business_id, count=50, show_progress=False)
    damaged, donor = await raw_db.fetch(
        "SELECT id FROM customer WHERE business_id = $1 ORDER BY id LIMIT 2", business_id
    )
    await raw_db.execute(
        "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2",
        donor["id"],
        damaged["id"],
    )
    old = await raw_db.fetchval("SELECT write_key FROM business WHERE id = $1", business_id)
    env = production_env(**SERVICE)
    first = await arun("keys", "rotate", "--business", business_id, env=env)
    assert first.returncode != 0
    assert "1 business(es) still hold rows under their old key" in first.stderr
    assert damaged["id"] in first.stderr and "Traceback" not in first.stderr
    keys = await raw_db.fetch(
        "SELECT id FROM business_key WHERE business_id = $1 ORDER BY created_at", business_id
    )
    assert [k["id"] for k in keys] == [old, keys[1]["id"]]
    new = keys[1]["id"]
    placed = await raw_db.fetch(
        "SELECT key_id, count(*) AS n FROM customer WHERE business_id = $1 GROUP BY key_id",
        business_id,
    )
    assert {row["key_id"]: row["n"] for row in placed} == {old: 1, new: 49}

    caller = Caller(business_id=business_id, key_prefix="t", scope=Scope.WRITE)
    await svc.erase_customer(caller, customer_id=damaged["id"])
    again = await arun("keys", "rotate", "--business", business_id, env=env)
    assert again.returncode == 0, again.stderr
    async with admin(os.environ["DATABASE_URL"]) as conn:
        await all_under(conn, business_id, new)


async def test_a_row_written_while_its_batch_is_in_hand_is_not_written_back(tenant, monkeypatch):
    """The job has read a batch; the service changes one of its rows (moving it whole
    to the new key) before the job writes the batch: the job's copy is stale, and the
    change must stand (the xmin check), found by its new email and not by the old."""
    from app.services import customers as svc
    from app.services import search
    from app.services.access import Caller, Scope

    caller = Caller(business_id=tenant.business_id, key_prefix="t", scope=Scope.WRITE)
    made = [
        await svc.create_customer(
            caller,
            business_id=tenant.business_id,
            values={"name": f"In Hand {i}", "email": f"in.hand{i}@keys.ng"},
        )
        for i in range(6)
    ]
    monkeypatch.setattr(keyring, "_lifetime", CACHE_S)
    monkeypatch.setattr(rekey_job, "BATCH", 4)
    query = rekey_job._query
    changed: list[str] = []

    async def meanwhile(sql: str, params: list[Any]) -> list[dict[str, Any]]:
        rows = await query(sql, params)
        if sql == rekey_job._READ and rows and not changed:  # the batch is in the job's hands
            changed.append(rows[1]["id"])
            await svc.update_customer(
                caller,
                customer_id=rows[1]["id"],
                changes={"email": "changed.in.hand@keys.ng", "phone": "+2348035555555"},
            )
        return rows

    monkeypatch.setattr(rekey_job, "_query", meanwhile)
    done = await rekey_job.rekey(
        [tenant.business_id], rotate=True, show_progress=False, say=lambda _: None
    )
    assert done.businesses == 1 and changed
    keyring.forget(tenant.business_id)
    row = await svc.read_customer(caller, changed[0])
    assert row is not None and (row.email, row.phone) == (
        "changed.in.hand@keys.ng",
        "+2348035555555",
    )
    before = next(c for c in made if c.id == changed[0]).email

    async def ids(q: str) -> list[str]:
        found = await search.search_customers(caller, business_id=tenant.business_id, q=q)
        return [c.id for c in found]

    assert await ids("changed.in.hand@") == changed
    assert await ids(before) == []
    assert sorted(await ids("in.hand")) == sorted(c.id for c in made)  # the changed one too
    found, created = await svc.find_or_create_customer(
        caller,
        business_id=tenant.business_id,
        email="changed.in.hand@keys.ng",
        name=None,
        phone=None,
    )
    assert (found.id, created) == (changed[0], False)
