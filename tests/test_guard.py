"""What an operation may ask is decided before its variables are coerced (schema/guard.py).

Each test sends what graphql-core would refuse during coercion (items that are not
input objects at all), so the answer shows which check ran first: a scope or size
refusal proves that coercion never started.
"""

from __future__ import annotations

import asyncio
import math
import time

import httpx
import pytest

from app.services import businesses
from app.settings import Settings
from schema.asgi import create_app
from tests.conftest import GraphQL, Tenant
from tests.test_bulk_api import BULK, count_rows

#: About 0.9 MB of JSON, as the review sent: tens of thousands of rows.
FLOOD = [{"email": f"attacker.{n:05d}@example.ng"} for n in range(23_000)]
#: Rows that cannot coerce to FindOrCreateCustomerInput.
UNCOERCIBLE = list(range(23_000))


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@pytest.mark.parametrize("scope", ["read", "read_masked"])
@pytest.mark.parametrize("inputs", [UNCOERCIBLE, [7], FLOOD], ids=["uncoercible", "one", "flood"])
async def test_a_read_key_s_mutation_is_forbidden_before_its_variables_are_coerced(
    gql, tenant, raw_db, scope, inputs
):
    issued = await businesses.create_api_key(tenant.business_id, scope)
    reader = Tenant(tenant.business_id, issued.key)
    response = await gql(reader, BULK, {"b": tenant.business_id, "inputs": inputs})
    assert response.status_code == 200
    assert codes(response) == ["FORBIDDEN"]
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["path"] == ["findOrCreateCustomers"]
    assert await count_rows(raw_db, tenant) == 0


@pytest.mark.parametrize("inputs", [UNCOERCIBLE, FLOOD, FLOOD[:501]], ids=["bad", "flood", "501"])
async def test_a_list_variable_longer_than_any_argument_is_refused_before_coercion(
    gql, tenant, raw_db, inputs
):
    response = await gql(tenant, BULK, {"b": tenant.business_id, "inputs": inputs})
    assert response.status_code == 200
    payload = response.json()
    assert codes(response) == ["BAD_USER_INPUT"]
    assert payload["errors"][0]["message"] == (
        "Variable '$inputs' holds more than 500 items, the most any list argument takes."
    )
    assert "data" not in payload  # nothing ran
    assert await count_rows(raw_db, tenant) == 0


async def test_a_foreign_business_with_a_read_key_is_forbidden_for_the_scope(gql, tenant, other):
    """The scope comes first, then the business (one refusal, the same for every business)."""
    issued = await businesses.create_api_key(tenant.business_id, "read")
    reader = Tenant(tenant.business_id, issued.key)
    response = await gql(reader, BULK, {"b": other.business_id, "inputs": [{"email": "a@x.ng"}]})
    assert codes(response) == ["FORBIDDEN"]
    assert response.json()["errors"][0]["message"] == "This API key may only read"


def owed_seconds(since: float, debt: int = 400, rate: int = 50) -> int:
    """The least Retry-After a debt of `debt` tokens can still give, `since` later."""
    return math.floor((debt - rate * (time.monotonic() - since)) / rate)


@pytest.fixture
async def limited(monkeypatch) -> httpx.AsyncClient:
    """The app with the default rate limit (50 a second, burst 100), whatever the test env."""
    monkeypatch.setenv("FINORA_RATE_LIMIT_PER_SECOND", "50")
    monkeypatch.setenv("FINORA_RATE_LIMIT_BURST", "100")
    transport = httpx.ASGITransport(app=create_app(Settings.from_env()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_twenty_full_bulk_calls_at_once_pay_for_their_rows_when_admitted(
    limited, tenant, other, raw_db
):
    """The review's attack: 20 calls of 500 rows at once were all served (10,000 rows
    where the charge allows about 200).  Now the first pays for its 500 rows when it
    is admitted, and every other call, and the key's next request of any kind, waits
    until that debt is repaid: 499 tokens at 50 a second."""
    gql = GraphQL(limited)
    calls = [[{"email": f"call{c}.row{n}@x.ng"} for n in range(500)] for c in range(20)]
    started = time.monotonic()
    answers = await asyncio.gather(
        *(gql(tenant, BULK, {"b": tenant.business_id, "inputs": rows}) for rows in calls)
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [429] * 19
    served = next(a for a in answers if a.status_code == 200)
    assert served.json()["data"]["findOrCreateCustomers"]["createdCount"] == 500
    refused = [a for a in answers if a.status_code == 429]
    assert all(codes(a) == ["RATE_LIMITED"] for a in refused)
    # What is still owed, at 50 a second: 400 tokens (the 500 rows less the burst), less
    # what refilled while the calls ran (the refused ones waited for the served one in
    # the business's queue, about a second, more on a loaded machine).  A debt capped
    # at one burst would owe 101 tokens, and say 3 at most.
    assert min(int(a.headers["Retry-After"]) for a in refused) >= owed_seconds(started)
    assert await count_rows(raw_db, tenant) == 500

    later = await gql(tenant, "{ __typename }")
    assert later.status_code == 429
    assert int(later.headers["Retry-After"]) >= owed_seconds(started)
    rest = await limited.post(
        "/v1/customers/find-or-create/bulk",
        params={"businessId": tenant.business_id},
        json={"customers": [{"email": "rest@x.ng"}]},
        headers=tenant.headers,
    )
    assert rest.status_code == 429 and rest.json()["error"]["code"] == "RATE_LIMITED"
    assert (await gql(other, "{ __typename }")).status_code == 200  # its own budget
    assert await count_rows(raw_db, tenant) == 500


async def test_a_bulk_call_beyond_the_burst_is_admitted_when_nothing_is_owed_and_paid_in_full(
    limited, tenant
):
    """A call larger than the burst still runs (asking for all of it in hand would refuse
    it forever), and leaves the whole of its cost as debt: not capped at one burst."""
    gql = GraphQL(limited)
    rows = [{"email": f"big{n}@x.ng"} for n in range(300)]
    answer = await gql(tenant, BULK, {"b": tenant.business_id, "inputs": rows})
    assert answer.status_code == 200
    after = await gql(tenant, "{ __typename }")
    assert after.status_code == 429
    # 100 - 1 - 299 = -200 tokens: (1 + 200) / 50 s, less what refilled meanwhile;
    # a debt capped at one burst would say ceil(101 / 50) = 3.
    assert int(after.headers["Retry-After"]) in (math.ceil(191 / 50), math.ceil(201 / 50))
