"""find-or-create under many concurrent requests, over HTTP."""

from __future__ import annotations

import asyncio

from tests.test_api import FIND_OR_CREATE


async def test_concurrent_find_or_create_creates_exactly_one(gql, tenant, raw_db):
    variables = {"b": tenant.business_id, "input": {"email": "Rush@Example.com"}}
    responses = await asyncio.gather(*(gql(tenant, FIND_OR_CREATE, variables) for _ in range(60)))
    payloads = [r.json()["data"]["findOrCreateCustomer"] for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert sum(p["created"] for p in payloads) == 1
    assert len({p["customer"]["id"] for p in payloads}) == 1
    active = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1 AND is_active", tenant.business_id
    )
    assert active == 1


async def test_concurrent_creates_with_one_email_leave_one_active(gql, tenant, raw_db):
    from tests.test_api import CREATE

    variables = {"b": tenant.business_id, "input": {"name": "Twin", "email": "twin@example.com"}}
    responses = await asyncio.gather(*(gql(tenant, CREATE, variables) for _ in range(30)))
    payloads = [r.json()["data"]["createCustomer"] for r in responses]
    created = [p for p in payloads if p["customer"]]
    taken = [p for p in payloads if p["userErrors"]]
    assert len(created) == 1 and len(taken) == 29
    assert {p["userErrors"][0]["code"] for p in taken} == {"TAKEN"}
    count = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1", tenant.business_id
    )
    assert count == 1
