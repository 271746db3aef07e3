"""Change events: one per change, in the change's transaction, no PII, listed oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app.services import events
from tests.conftest import GraphQL, Tenant

CREATE = """
mutation($b: ID!, $i: CreateCustomerInput!) {
  createCustomer(businessId: $b, input: $i) { customer { id } userErrors { code } }
}"""
FIND = """
mutation($b: ID!, $i: FindOrCreateCustomerInput!) {
  findOrCreateCustomer(businessId: $b, input: $i) { customer { id } created userErrors { code } }
}"""
UPDATE = """
mutation($id: ID!, $i: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $i) { customer { id } userErrors { code } }
}"""
DELETE = "mutation($id: ID!) { deleteCustomer(id: $id) { deletedCustomerId userErrors { code } } }"
EVENTS = """
query($b: ID!, $first: Int!, $after: String, $c: ID) {
  customerEvents(businessId: $b, first: $first, after: $after, customerId: $c) {
    edges { cursor node { id type customerId changedFields actor occurredAt } }
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def create(gql: GraphQL, tenant: Tenant, email: str, **extra: str) -> str:
    values = {"name": "Ada Obi", "email": email, **extra}
    data = await gql.data(tenant, CREATE, {"b": tenant.business_id, "i": values})
    return data["createCustomer"]["customer"]["id"]


async def listed(gql: GraphQL, tenant: Tenant, customer_id: str | None = None) -> list[dict]:
    data = await gql.data(tenant, EVENTS, {"b": tenant.business_id, "first": 100, "c": customer_id})
    return [edge["node"] for edge in data["customerEvents"]["edges"]]


def prefix(tenant: Tenant) -> str:
    return tenant.key[: len("fin_live_") + 8]


async def test_every_change_writes_one_event_with_changed_field_names(gql, tenant):
    customer_id = await create(gql, tenant, "ada@x.ng", phone="08012345678")
    changes = {"name": "Ada Obi-Eze", "phone": "+2348012345678", "companyName": "Eze Ltd"}
    await gql.data(tenant, UPDATE, {"id": customer_id, "i": changes})  # phone is the same
    await gql.data(tenant, UPDATE, {"id": customer_id, "i": {"name": "Ada Obi-Eze"}})  # no-op
    await gql.data(tenant, UPDATE, {"id": customer_id, "i": {"companyName": None}})
    await gql.data(tenant, DELETE, {"id": customer_id})
    await gql.data(tenant, DELETE, {"id": customer_id})  # already deleted: no event
    found = await listed(gql, tenant)
    assert [(e["type"], e["changedFields"]) for e in found] == [
        ("CREATED", []),
        ("UPDATED", ["name", "companyName"]),
        ("UPDATED", ["companyName"]),
        ("DELETED", []),
    ]
    assert {e["customerId"] for e in found} == {customer_id}
    assert {e["actor"] for e in found} == {prefix(tenant)}
    assert all(e["id"].startswith("evt_") and e["occurredAt"].endswith("Z") for e in found)


async def test_find_or_create_writes_an_event_only_when_it_creates(gql, tenant):
    values = {"b": tenant.business_id, "i": {"email": "Kemi@X.ng"}}
    first = (await gql.data(tenant, FIND, values))["findOrCreateCustomer"]
    again = (await gql.data(tenant, FIND, values))["findOrCreateCustomer"]
    assert first["created"] and not again["created"]
    assert [e["type"] for e in await listed(gql, tenant)] == ["CREATED"]


async def test_a_refused_change_writes_no_event(gql, tenant):
    await create(gql, tenant, "one@x.ng")
    second = await create(gql, tenant, "two@x.ng")
    taken = await gql.data(
        tenant, CREATE, {"b": tenant.business_id, "i": {"name": "A", "email": "one@x.ng"}}
    )
    assert taken["createCustomer"]["userErrors"] == [{"code": "TAKEN"}]
    clash = await gql.data(tenant, UPDATE, {"id": second, "i": {"email": "one@x.ng"}})
    assert clash["updateCustomer"]["userErrors"] == [{"code": "TAKEN"}]
    assert [e["type"] for e in await listed(gql, tenant)] == ["CREATED", "CREATED"]


async def test_events_hold_no_pii(gql, tenant, raw_db):
    customer_id = await create(
        gql, tenant, "secret.person@x.ng", phone="08087654321", tin="12345678-0001"
    )
    await gql.data(tenant, UPDATE, {"id": customer_id, "i": {"address": "12 Marina, Lagos"}})
    rows = await raw_db.fetch(
        "SELECT row_to_json(e)::text AS row FROM customer_event e WHERE business_id = $1",
        tenant.business_id,
    )
    text = " ".join(r["row"] for r in rows)
    assert len(rows) == 2
    for value in ("secret.person", "8087654321", "12345678", "Marina", "Ada"):
        assert value not in text


async def test_record_rolls_back_with_its_transaction(database_url, tenant, raw_db):
    change = events.Change(tenant.business_id, "cust_x", events.CREATED, "cli")
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await events.record(conn, [change, change])
                raise RuntimeError("the change fails")
        async with conn.transaction():  # the bulk path: many events in one call, in order
            await events.record(
                conn,
                [
                    events.Change(tenant.business_id, f"cust_{n}", events.CREATED, "cli")
                    for n in range(5)
                ],
            )
    finally:
        await conn.close()
    rows = await raw_db.fetch(
        "SELECT customer_id, actor FROM customer_event WHERE business_id = $1 ORDER BY seq",
        tenant.business_id,
    )
    assert [tuple(r) for r in rows] == [(f"cust_{n}", "cli") for n in range(5)]


async def test_pages_walk_every_event_oldest_first(gql, tenant):
    ids = [await create(gql, tenant, f"p{n}@x.ng") for n in range(7)]
    walked, after = [], None
    while True:
        data = await gql.data(tenant, EVENTS, {"b": tenant.business_id, "first": 3, "after": after})
        page = data["customerEvents"]
        assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
        walked += [e["node"]["customerId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert walked == ids


async def test_one_customer_and_other_businesses(gql, tenant, other):
    mine = await create(gql, tenant, "mine@x.ng")
    await create(gql, tenant, "also@x.ng")
    theirs = await create(gql, other, "theirs@x.ng")
    assert [e["customerId"] for e in await listed(gql, tenant, mine)] == [mine]
    assert await listed(gql, tenant, theirs) == []  # like a missing customer
    assert await listed(gql, tenant, "cust_doesnotexist") == []
    assert await listed(gql, tenant, "not an id") == []
    response = await gql(tenant, EVENTS, {"b": other.business_id, "first": 10})
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("first", "after"), [(0, None), (101, None), (10, "garbage"), (10, "ZTE6MTIzYQ"), (10, "")]
)
async def test_bad_arguments_are_bad_user_input(gql, tenant, first, after):
    response = await gql(tenant, EVENTS, {"b": tenant.business_id, "first": first, "after": after})
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_many_large_pages_in_one_document_are_refused(gql, tenant):
    fields = " ".join(
        f"a{n}: customerEvents(businessId: $b, first: 100) {{ nodes {{ id }} }}" for n in range(6)
    )
    response = await gql(tenant, f"query($b: ID!) {{ {fields} }}", {"b": tenant.business_id})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_prune_removes_only_events_past_the_retention(database_url, tenant, raw_db):
    old = [
        events.Change(tenant.business_id, f"cust_old{n}", events.CREATED, "cli") for n in range(5)
    ]
    new = events.Change(tenant.business_id, "cust_new", events.CREATED, "cli")
    conn = await asyncpg.connect(database_url)
    try:
        await events.record(conn, [*old, new])
        await conn.execute(
            "UPDATE customer_event SET occurred_at = $2"
            " WHERE business_id = $1 AND customer_id <> 'cust_new'",
            tenant.business_id,
            datetime.now(UTC) - timedelta(days=31),
        )
        assert await events.prune(conn, keep_days=30, batch=2) == 5  # in batches of 2
        assert await events.prune(conn, keep_days=30) == 0
    finally:
        await conn.close()
    left = await raw_db.fetch(
        "SELECT customer_id FROM customer_event WHERE business_id = $1", tenant.business_id
    )
    assert [r["customer_id"] for r in left] == ["cust_new"]


async def test_prune_command(database_url):
    import asyncio
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import ROOT

    finora = str(Path(sys.executable).parent / "finora")
    env = {**os.environ, "DATABASE_URL": database_url, "FINORA_EVENTS_KEEP_DAYS": "45"}
    done = await asyncio.to_thread(
        subprocess.run, [finora, "events", "prune"], env=env, cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "removed 0 event(s) older than 45 days"
    env["FINORA_EVENTS_KEEP_DAYS"] = "7"
    refused = await asyncio.to_thread(
        subprocess.run, [finora, "events", "prune"], env=env, cwd=ROOT, capture_output=True
    )
    assert refused.returncode == 2
    assert refused.stderr.decode() == "finora: error: FINORA_EVENTS_KEEP_DAYS must be at least 30\n"


@pytest.mark.parametrize(
    "seq",
    [
        str(2**63),  # just past the bigint column
        "9" * 19,
        "1" + "0" * 30,
        "9" * 5000,  # past int()'s digit limit
        "-1",
        "\u00b2",  # a digit to str.isdigit, not to int()
        "\u0661\u0662",  # Arabic-Indic digits
    ],
)
async def test_a_cursor_past_the_sequence_range_is_bad_user_input(gql, tenant, seq):
    import base64

    after = base64.urlsafe_b64encode(f"e1:{seq}".encode()).decode().rstrip("=")
    response = await gql(tenant, EVENTS, {"b": tenant.business_id, "first": 5, "after": after})
    payload = response.json()
    assert response.status_code == 200, payload
    assert [e["extensions"]["code"] for e in payload["errors"]] == ["BAD_USER_INPUT"]
    assert payload["errors"][0]["message"] == "Malformed cursor"


async def test_the_largest_sequence_is_a_well_formed_cursor(gql, tenant):
    import base64

    after = base64.urlsafe_b64encode(f"e1:{2**63 - 1}".encode()).decode().rstrip("=")
    data = await gql.data(tenant, EVENTS, {"b": tenant.business_id, "first": 5, "after": after})
    assert data["customerEvents"]["edges"] == []
