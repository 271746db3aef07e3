"""Mutations answered from compiled plans: the general path's answers, each run once.

A mutation's second request with the same document runs from its plan
(``schema.compiled``).  Every shape here is sent twice to one view and must get
the same status, headers and bytes both times; the shapes are chosen so that the
second run meets the state the first left (a repeat buyer, the same update, a
taken email, a bad input), so equal answers mean equal paths.  Where a resolver
raises or a payload cannot complete, a plan must not run the mutation again: the
service is counted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from unittest import mock

import httpx
import pytest

from app.crypto.cipher import Cipher
from app.http.app import create_web_app
from app.services import businesses
from app.services import customers as service
from schema.compiled import Plan
from schema.http import GraphQLView
from schema.schema import build_schema
from tests.conftest import GraphQL, Tenant, make_tenant
from tests.test_api import create

ALL = """id businessId name email phone address tin companyName accountBalanceKobo
         accountBalance isActive createdAt"""
SHAPES = {
    "find existing": f"""mutation($b: ID!, $i: FindOrCreateCustomerInput!) {{
        findOrCreateCustomer(businessId: $b, input: $i) {{ customer {{ {ALL} updatedAt }}
        created userErrors {{ field code message }} __typename }} }}""",
    "update, same values": f"""mutation($id: ID!, $u: UpdateCustomerInput!) {{
        updateCustomer(id: $id, input: $u) {{ customer {{ {ALL} }} userErrors {{ code }} }} }}""",
    "create, taken": """mutation($b: ID!, $c: CreateCustomerInput!) {
        createCustomer(businessId: $b, input: $c) { customer { id }
        userErrors { field code message } } }""",
    "create, bad input": """mutation($b: ID!, $bad: CreateCustomerInput!) {
        createCustomer(businessId: $b, input: $bad) { customer { id }
        userErrors { field code message __typename } } }""",
    "update, missing": """mutation($missing: ID!, $u: UpdateCustomerInput!) {
        updateCustomer(id: $missing, input: $u) { customer { id } userErrors { code } } }""",
    "two mutations, aliases": """mutation($b: ID!, $i: FindOrCreateCustomerInput!, $id: ID!) {
        a: findOrCreateCustomer(businessId: $b, input: $i) { c: customer { n: name } created }
        __typename
        b: deleteCustomer(id: $id) { deletedCustomerId customer { isActive } } }""",
    "bulk": """mutation($b: ID!, $rows: [FindOrCreateCustomerInput!]!) {
        findOrCreateCustomers(businessId: $b, inputs: $rows) { results { index created
        customer { id name email } userErrors { field code message } }
        createdCount foundCount failedCount } }""",
    "foreign business": """mutation($other: ID!, $i: FindOrCreateCustomerInput!) {
        findOrCreateCustomer(businessId: $other, input: $i) { customer { id } } }""",
    "variables that do not coerce": """mutation($b: ID!, $i: FindOrCreateCustomerInput!) {
        findOrCreateCustomer(businessId: $b, input: $i) { created } }""",
}


def _answer(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"x-request-id"]
    return response.status_code, headers, response.content


@pytest.fixture
async def view_client(settings, app, tenant):
    """A fresh view (no plans yet) behind the real middleware, without rate limits."""
    view = GraphQLView(build_schema(), graphql_ide=None, allow_queries_via_get=True)
    web = create_web_app(replace(settings, rate_per_second=0), view)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield view, http


async def _twice(
    http: httpx.AsyncClient,
    tenant: Tenant,
    query: str,
    variables: dict[str, Any],
    accept: str = "application/json",
) -> list[tuple[int, list[tuple[bytes, bytes]], bytes]]:
    answers = []
    headers = {**tenant.headers, "accept": accept}
    for _ in range(2):
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        answers.append(_answer(response))
    return answers


async def test_mutation_plans_answer_like_the_general_path(view_client, gql, tenant, other):
    view, http = view_client
    ada = await create(gql, tenant, name="Ada Obi", email="ada@example.com", phone="08012345678")
    gone = await create(gql, tenant, name="Gone", email="gone@example.com")
    await gql(tenant, "mutation($id: ID!) { deleteCustomer(id: $id) { customer { id } } }",
              {"id": gone["id"]})  # fmt: skip
    variables = {
        "b": tenant.business_id,
        "other": other.business_id,
        "id": gone["id"],
        "missing": "cust_missing",
        "i": {"email": "ADA@example.com", "name": "ignored"},
        "u": {"name": "Ada Obi", "phone": "+2348012345678"},
        "c": {"name": "Twin", "email": "ada@example.com"},
        "bad": {"name": " ", "email": "nope", "phone": "12", "tin": "x"},
        "rows": [{"email": "ada@example.com"}, {"email": "bad"}, {"email": "gone@example.com"}],
    }
    # The bulk's third row creates on the first run and finds on the second.
    await gql(tenant, SHAPES["bulk"], {"b": tenant.business_id, "rows": variables["rows"]})
    with mock.patch.object(Plan, "run", autospec=True, side_effect=Plan.run) as ran:
        for name, query in SHAPES.items():
            sent = dict(variables, id=gone["id"] if "delete" in query else ada["id"])
            if name == "variables that do not coerce":
                sent["i"] = {"email": 7}
            first, second = await _twice(http, tenant, query, sent)
            assert first == second, (name, first, second)
    assert ran.call_count == len(SHAPES)  # every second request went to its plan
    compiled = [plan for plan, _ in view.plans._items.values() if plan is not None]
    assert len(compiled) == len(SHAPES)
    assert all(plan.is_mutation for plan in compiled)


async def test_a_read_key_is_refused_by_the_plan_s_guard_as_by_the_general_path(
    view_client, tenant
):
    _, http = view_client
    issued = await businesses.create_api_key(tenant.business_id, "read")
    reader = Tenant(tenant.business_id, issued.key)
    query = SHAPES["find existing"]
    written = await _twice(http, tenant, query, {"b": tenant.business_id, "i": {"email": "r@x.ng"}})
    assert written[0][0] == 200
    answers = await _twice(http, reader, query, {"b": tenant.business_id, "i": {"email": "q@x.ng"}})
    assert answers[0] == answers[1]
    assert b'"FORBIDDEN"' in answers[0][2]


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
@pytest.mark.parametrize("fault", ["raises", "null in a non-null field"])
async def test_a_failing_mutation_runs_once_per_request_and_reads_as_on_the_general_path(
    view_client, tenant, monkeypatch, fault, accept
):
    """The plan hands graphql-core the result it has (schema.compiled.Plan._replay)
    instead of running the mutation again."""
    _, http = view_client
    calls = 0
    real = service.find_or_create_customer

    async def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        row, created = await real(*args, **kwargs)
        if fault == "raises":
            raise RuntimeError("after the write")
        row.name = None  # type: ignore[misc]  # Customer.name is String!
        return row, created

    monkeypatch.setattr(service, "find_or_create_customer", failing)
    query = SHAPES["find existing"] + " # fault"
    variables = {"b": tenant.business_id, "i": {"email": f"{fault[:4]}.{len(accept)}@x.ng"}}
    first, second = await _twice(http, tenant, query, variables, accept)
    assert calls == 2
    assert first[0] == second[0]
    # The headers, the media type's included (the lengths differ with `created`).
    assert [h for h in first[1] if h[0] != b"content-length"] == [
        h for h in second[1] if h[0] != b"content-length"
    ]
    # The first run created the customer, the second found it: only `created` differs.
    assert first[2].replace(b'"created":true', b'"created":false') == second[2]
    assert b"INTERNAL_SERVER_ERROR" in second[2] and b"after the write" not in second[2]


async def test_a_planned_mutation_sent_by_get_is_still_405(view_client, tenant):
    _, http = view_client
    query = SHAPES["find existing"]
    variables = {"b": tenant.business_id, "i": {"email": "get@example.com"}}
    await _twice(http, tenant, query, variables)  # compiled
    import json

    response = await http.get(
        "/graphql",
        params={"query": query, "variables": json.dumps(variables)},
        headers=tenant.headers,
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


async def test_an_error_inside_a_list_is_reported_like_the_general_path(view_client, raw_db):
    """A value that cannot be opened (another row's ciphertext: its AAD differs) is an
    internal error on the plan as on the general path, which the plan hands it to."""
    _, http = view_client
    tenant = await make_tenant("Plan errors")
    gql = GraphQL(http)
    a = await create(gql, tenant, name="A", email="a@example.com")
    b = await create(gql, tenant, name="B", email="b@example.com")
    await raw_db.execute(
        "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2",
        a["id"],
        b["id"],
    )
    for query in (
        "query($b: ID!) { customers(businessId: $b) { id name email } }",
        "query($b: ID!) { customerConnection(businessId: $b) { nodes { name email } } }",
        "query($b: ID!) { customerConnection(businessId: $b) { edges { node { name email } } } }",
    ):
        first, second = await _twice(http, tenant, query, {"b": tenant.business_id})
        assert first == second and b"INTERNAL_SERVER_ERROR" in first[2]


async def test_id_and_name_only_decrypt_nothing(gql, tenant):
    for n in range(3):
        await create(gql, tenant, name=f"Person {n}", email=f"p{n}@example.ng")
    with mock.patch.object(Cipher, "open", autospec=True, side_effect=Cipher.open) as opened:
        for _ in range(2):  # the general path, then the plan
            names = await gql.data(
                tenant,
                "query($b: ID!) { customers(businessId: $b, limit: 100) { id name } }",
                {"b": tenant.business_id},
            )
        assert len(names["customers"]) == 3 and opened.call_count == 0
        await gql.data(
            tenant,
            "query($b: ID!) { customers(businessId: $b, limit: 100) { id email } }",
            {"b": tenant.business_id},
        )
        assert opened.call_count == 3  # one email each, nothing else


INPUT_VARIANTS = [
    {"email": "ada@example.com"},
    {"email": "ADA@example.com", "name": None, "phone": None},
    {"email": 7},
    {},
    {"email": None},
    {"email": "ada@example.com", "bogus": 1},
    {"email": "ada@example.com", "phone": 5},
    {"email": "ada@example.com", "name": ["Ada"]},
    "ada@example.com",
    None,
    [{"email": "ada@example.com"}],
]


@pytest.mark.parametrize("given", INPUT_VARIANTS, ids=[str(n) for n in range(len(INPUT_VARIANTS))])
async def test_input_object_variables_coerce_on_the_plan_as_in_graphql_core(
    settings, app, gql, tenant, given
):
    """The plan coerces an input object of scalars itself (schema.compiled._input_object):
    each value answers as a view without plans answers it."""
    await gql(tenant, SHAPES["find existing"], {"b": tenant.business_id,
              "i": {"email": "ada@example.com"}})  # fmt: skip

    async def answer(warm: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        view = GraphQLView(build_schema(), graphql_ide=None)
        web = create_web_app(replace(settings, rate_per_second=0), view)
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            query = SHAPES["find existing"]
            if warm:
                await _twice(http, tenant, query, {"b": tenant.business_id,
                             "i": {"email": "ada@example.com"}})  # fmt: skip
                plans = [p for p, _ in view.plans._items.values() if p is not None]
                assert plans and plans[0].direct_variables is not None  # coerced by the plan
            body = {"query": query, "variables": {"b": tenant.business_id, "i": given}}
            return _answer(await http.post("/graphql", json=body, headers=tenant.headers))

    assert await answer(warm=True) == await answer(warm=False)
