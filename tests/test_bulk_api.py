"""Bulk find-or-create over HTTP: GraphQL and REST, limits, and a race over two workers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.services.bulk import BULK_MAX
from app.settings import Settings
from schema.asgi import create_app
from tests.conftest import GraphQL, Tenant, make_tenant, running_server
from tests.test_api import FIELDS, FIND_OR_CREATE
from tests.test_cli import production_env
from tests.test_rest import REFERENCE_FIELDS, Rest, error, ok

BULK = f"""mutation($b: ID!, $inputs: [FindOrCreateCustomerInput!]!) {{
  findOrCreateCustomers(businessId: $b, inputs: $inputs) {{
    results {{ index created customer {{ {FIELDS} }} userErrors {{ field code message }} }}
    createdCount foundCount failedCount }} }}"""
ROWS = [
    {"email": "Ada@Shop.ng", "name": "Ada Obi", "phone": "08012345678"},
    {"email": "nope"},
    {"email": "bola@shop.ng", "phone": "123"},
    {"email": "ADA@shop.ng", "name": "Not used"},
    {"email": "chidi@shop.ng", "name": None},  # an explicit null: the default name
]


async def bulk(gql: GraphQL, tenant: Tenant, inputs: list) -> dict:
    data = await gql.data(tenant, BULK, {"b": tenant.business_id, "inputs": inputs})
    return data["findOrCreateCustomers"]


async def test_graphql_rows_in_order_with_their_own_errors(gql, tenant):
    payload = await bulk(gql, tenant, ROWS)
    results = payload["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["created"] for r in results] == [True, False, False, False, True]
    ada = results[0]["customer"]
    assert (ada["name"], ada["email"], ada["phone"]) == ("Ada Obi", "ada@shop.ng", "+2348012345678")
    assert results[3]["customer"] == ada  # the same email later in the call: found
    assert results[4]["customer"]["name"] == "chidi"
    assert results[1]["customer"] is None and results[2]["customer"] is None
    assert [(e["field"], e["code"]) for e in results[1]["userErrors"]] == [
        (["inputs", "1", "email"], "INVALID")
    ]
    assert [(e["field"], e["code"]) for e in results[2]["userErrors"]] == [
        (["inputs", "2", "phone"], "INVALID")
    ]
    assert all("123" not in e["message"] for e in results[2]["userErrors"])
    assert (payload["createdCount"], payload["foundCount"], payload["failedCount"]) == (2, 1, 2)
    again = await bulk(gql, tenant, [{"email": "chidi@shop.ng"}, {"email": "ada@shop.ng"}])
    assert [r["created"] for r in again["results"]] == [False, False]
    assert again["results"][1]["customer"]["id"] == ada["id"]
    single = await gql.data(
        tenant, FIND_OR_CREATE, {"b": tenant.business_id, "input": {"email": "ada@shop.ng"}}
    )
    assert single["findOrCreateCustomer"]["customer"]["id"] == ada["id"]


@pytest.mark.parametrize("count", [0, BULK_MAX + 1])
async def test_graphql_sizes_out_of_range_are_bad_user_input(gql, tenant, raw_db, count):
    inputs = [{"email": f"n{n}@x.ng"} for n in range(count)]
    response = await gql(tenant, BULK, {"b": tenant.business_id, "inputs": inputs})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    if count:  # refused before its variables were coerced: nothing ran
        assert "data" not in body
        assert "more than 500 items" in body["errors"][0]["message"]
    else:
        assert body["data"] is None
    assert await count_rows(raw_db, tenant) == 0


async def test_graphql_foreign_business_is_forbidden(gql, tenant, other, raw_db):
    response = await gql(tenant, BULK, {"b": other.business_id, "inputs": [{"email": "a@x.ng"}]})
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await count_rows(raw_db, other) == 0


async def test_a_bulk_document_counts_its_rows_in_the_list_cost(gql, tenant):
    """A variable counts as a full call (500): nothing else list-sized fits beside it."""
    query = f"""mutation($b: ID!, $inputs: [FindOrCreateCustomerInput!]!) {{
      findOrCreateCustomers(businessId: $b, inputs: $inputs) {{ createdCount }}
      again: findOrCreateCustomers(businessId: $b, inputs: [{{email: "x@y.ng"}}]) {{
        results {{ customer {{ {FIELDS} }} }} }} }}"""
    response = await gql(tenant, query, {"b": tenant.business_id, "inputs": [{"email": "a@b.ng"}]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def count_rows(raw_db, tenant: Tenant) -> int:
    return await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1", tenant.business_id
    )


async def test_a_bulk_call_is_charged_one_unit_per_row(settings, tenant, other, monkeypatch):
    """A burst of 100 at 0.1/s: a 60-row call leaves 40 tokens, so 40 more requests pass
    and the next is refused; then the REST call too. Another key keeps its own budget."""
    monkeypatch.setenv("FINORA_RATE_LIMIT_PER_SECOND", "0.1")
    monkeypatch.setenv("FINORA_RATE_LIMIT_BURST", "100")
    limited = create_app(Settings.from_env())  # the ORM is already open (session app)
    transport = httpx.ASGITransport(app=limited)
    rows = [{"email": f"paid{n}@x.ng"} for n in range(60)]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        gql = GraphQL(http)
        admitted = await gql(tenant, BULK, {"b": tenant.business_id, "inputs": rows})
        assert admitted.status_code == 200
        assert admitted.json()["data"]["findOrCreateCustomers"]["createdCount"] == 60
        statuses = [(await gql(tenant, "{ __typename }")).status_code for _ in range(41)]
        assert statuses == [200] * 40 + [429]
        rest = await http.post(
            "/v1/customers/find-or-create/bulk",
            params={"businessId": tenant.business_id},
            json={"customers": rows},
            headers=tenant.headers,
        )
        assert rest.status_code == 429
        assert (await gql(other, "{ __typename }")).status_code == 200  # its own budget


# REST -----------------------------------------------------------------------


@pytest.fixture
def rest(client, tenant) -> Rest:
    return Rest(client, tenant)


async def test_rest_shape_and_counts(rest, gql, tenant):
    data = ok(
        await rest(
            "POST", "/customers/find-or-create/bulk", scoped=True, json={"customers": [*ROWS, 7]}
        )
    )
    assert list(data) == ["results", "createdCount", "foundCount", "failedCount"]
    assert (data["createdCount"], data["foundCount"], data["failedCount"]) == (2, 1, 3)
    results = data["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert all(list(r) == ["index", "customer", "created", "errors"] for r in results)
    assert list(results[0]["customer"]) == REFERENCE_FIELDS and results[0]["created"] is True
    assert results[3]["customer"] == results[0]["customer"] and results[3]["created"] is False
    assert results[1]["errors"] == [
        {"code": "INVALID", "message": "Email is not a valid address", "field": "email"}
    ]
    assert [e["field"] for e in results[2]["errors"]] == ["phone"]
    assert results[5]["errors"][0]["code"] == "INVALID" and results[5]["errors"][0]["field"] is None
    assert results[5]["customer"] is None
    # The same rows through GraphQL now find exactly what REST created.
    payload = await bulk(gql, tenant, [ROWS[0], ROWS[4]])
    assert [r["customer"]["id"] for r in payload["results"]] == [
        results[0]["customer"]["id"],
        results[4]["customer"]["id"],
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"customers": []},
        {"customers": [{"email": "a@x.ng"}] * (BULK_MAX + 1)},
        {},
        {"customers": {}},
    ],
)
async def test_rest_refuses_bad_sizes_with_400(rest, raw_db, tenant, body):
    error(
        await rest("POST", "/customers/find-or-create/bulk", scoped=True, json=body),
        400,
        "BAD_USER_INPUT",
        "customers",
    )
    assert await count_rows(raw_db, tenant) == 0


async def test_rest_foreign_business_is_403(rest, other):
    response = await rest(
        "POST",
        "/customers/find-or-create/bulk",
        params={"businessId": other.business_id},
        json={"customers": [{"email": "a@x.ng"}]},
    )
    error(response, 403, "FORBIDDEN")


async def test_the_worst_case_call_fits_and_runs(rest, raw_db, tenant):
    """500 rows of the longest valid values: one call, all created, under the body limit."""
    rows = [
        {
            "email": f"{n:03d}{'a' * 60}@{'b' * 60}.{'c' * 60}.{'d' * 60}.ng",
            "name": f"{n:03d}" + "N" * 197,
            "phone": "+2348012345678",
        }
        for n in range(BULK_MAX)
    ]
    response = await rest(
        "POST", "/customers/find-or-create/bulk", scoped=True, json={"customers": rows}
    )
    data = ok(response)
    assert data["createdCount"] == BULK_MAX and data["failedCount"] == 0
    assert len(response.content) < 1_000_000
    assert await count_rows(raw_db, tenant) == BULK_MAX


# Two worker processes -------------------------------------------------------


async def test_bulk_and_single_calls_race_over_two_workers(settings, app, raw_db):
    """Two bulk calls (opposite orders) and single calls on overlapping emails, 2 workers:
    one active customer per email, and exactly one `created: true` per email in all answers."""
    tenant = await make_tenant("Bulk race")
    emails = [f"racer{n}@race.ng" for n in range(200)]
    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0")
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with (
        running_server(env, "--workers", "2") as server,
        httpx.AsyncClient(
            base_url=server.url, headers=tenant.headers, limits=limits, timeout=60
        ) as http,
    ):

        async def bulk_call(order: list[str]) -> list[tuple[str, str, bool]]:
            variables = {"b": tenant.business_id, "inputs": [{"email": e} for e in order]}
            response = await http.post("/graphql", json={"query": BULK, "variables": variables})
            results = response.json()["data"]["findOrCreateCustomers"]["results"]
            return [(r["customer"]["email"], r["customer"]["id"], r["created"]) for r in results]

        async def rest_call(order: list[str]) -> list[tuple[str, str, bool]]:
            response = await http.post(
                "/v1/customers/find-or-create/bulk",
                params={"businessId": tenant.business_id},
                json={"customers": [{"email": e} for e in order]},
            )
            results = response.json()["data"]["results"]
            return [(r["customer"]["email"], r["customer"]["id"], r["created"]) for r in results]

        async def single(email: str) -> list[tuple[str, str, bool]]:
            variables = {"b": tenant.business_id, "input": {"email": email}}
            response = await http.post(
                "/graphql", json={"query": FIND_OR_CREATE, "variables": variables}
            )
            p = response.json()["data"]["findOrCreateCustomer"]
            return [(p["customer"]["email"], p["customer"]["id"], p["created"])]

        answers = await asyncio.gather(
            bulk_call(emails),
            bulk_call(emails[::-1]),
            rest_call(emails[50:] + emails[:50]),
            *(single(e) for e in emails[::4]),
        )
    created = dict.fromkeys(emails, 0)
    ids: dict[str, set[str]] = {e: set() for e in emails}
    for answer in answers:
        for email, row_id, was_created in answer:
            created[email] += was_created
            ids[email].add(row_id)
    assert set(created.values()) == {1}  # exactly one created: true per email
    assert all(len(found) == 1 for found in ids.values())
    per_email = await raw_db.fetch(
        "SELECT email_hash, count(*) AS n FROM customer WHERE business_id = $1 AND is_active "
        "GROUP BY email_hash",
        tenant.business_id,
    )
    assert len(per_email) == len(emails) and {r["n"] for r in per_email} == {1}
    assert server.log.count("Started server process") >= 2
