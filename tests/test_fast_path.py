"""The fast list path gives exactly the answers of graphql-core's general path."""

from __future__ import annotations

from unittest import mock

import pytest

from app.crypto.cipher import Cipher
from app.services.access import Caller
from schema.context import Context
from schema.errors import format_error
from schema.fast import FastListExecutor
from schema.schema import build_schema
from tests.conftest import make_tenant
from tests.test_api import create

FAST = build_schema()
GENERAL = build_schema(fast_lists=False)

ALL = """id businessId name email phone address tin companyName accountBalanceKobo
         accountBalance isActive createdAt updatedAt"""

SHAPES = {
    "every field": f"query($b: ID!) {{ customers(businessId: $b, limit: 100) {{ {ALL} }} }}",
    "id name": "query($b: ID!) { customers(businessId: $b) { id name } }",
    "aliases": """query($b: ID!) { a: customers(businessId: $b, limit: 3) { key: id n: name
                   m: email name } b: customers(businessId: $b, limit: 2) { name } }""",
    "typename": "query($b: ID!) { customers(businessId: $b) { __typename id t: __typename } }",
    "named fragment": """query($b: ID!) { customers(businessId: $b) { ...F phone } }
                         fragment F on Customer { name email tin }""",
    "inline fragment": """query($b: ID!) { customers(businessId: $b) {
                          ... on Customer { id address } name } }""",
    "duplicate fields": "query($b: ID!) { customers(businessId: $b) { id id name email id } }",
    "directives": """query($b: ID!, $yes: Boolean!, $no: Boolean!) { customers(businessId: $b) {
                     id email @include(if: $yes) phone @include(if: $no) name @skip(if: $no)
                     tin @skip(if: $yes) } }""",
    "connection": f"""query($b: ID!) {{ customerConnection(businessId: $b, first: 5) {{
                      nodes {{ {ALL} }} edges {{ cursor node {{ id name email }} }}
                      pageInfo {{ hasNextPage endCursor }} totalCount }} }}""",
    "search": """query($b: ID!) { searchCustomers(businessId: $b, q: "a") {
                 count customers { id name email } } }""",
    "foreign business": 'query { customers(businessId: "biz_other") { id name } }',
    "bad limit": "query($b: ID!) { customers(businessId: $b, limit: 0) { id } }",
    "one customer": f"query($id: ID!) {{ customer(id: $id) {{ {ALL} }} }}",
    "mutation": """mutation($id: ID!) { updateCustomer(id: $id, input: {companyName: "Obi Ltd"}) {
                   customer { name companyName } userErrors { field code } } }""",
    "mutation errors": """mutation($id: ID!) { updateCustomer(id: $id, input: {email: "x"}) {
                   customer { name } userErrors { field code message __typename } } }""",
    # Rows that exist, and bad rows: both runs find the same customers.
    "bulk": """mutation($b: ID!) { findOrCreateCustomers(businessId: $b, inputs: [
               {email: "ada@example.com"}, {email: "nope", phone: "1"}, {email: "P1@example.ng"}]) {
               results { index created customer { id name email __typename } userErrors {
               field code message } } createdCount foundCount failedCount __typename } }""",
}


async def run(schema, query: str, variables: dict, caller: Caller) -> dict:
    context = Context(request=None, response=None, caller=caller)  # type: ignore[arg-type]
    result = await schema.execute(query, variable_values=variables, context_value=context)
    answer = {"data": result.data}
    if result.errors:
        answer["errors"] = [format_error(e) for e in result.errors]
    return answer


@pytest.fixture(scope="module")
async def populated(app, client):
    from tests.conftest import GraphQL

    gql = GraphQL(client)
    tenant = await make_tenant("Fast path")
    first = await create(
        gql,
        tenant,
        name="Ada Obi",
        email="ada@example.com",
        phone="08012345678",
        address="1 Marina",
        tin="12345678-0001",
        companyName="Obi Ltd",
    )
    for n in range(12):
        await create(gql, tenant, name=f"Person {n:02d}", email=f"p{n}@example.ng")
    return tenant, first["id"]


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_fast_path_answers_like_the_general_path(populated, shape):
    tenant, first_id = populated
    caller = Caller(tenant.business_id, "t")
    variables = {"b": tenant.business_id, "id": first_id, "yes": True, "no": False}
    query = SHAPES[shape]
    used = mock.patch.object(FastListExecutor, "_rows", wraps=FastListExecutor._rows)
    with used as rows:
        fast = await run(FAST, query, variables, caller)
    general = await run(GENERAL, query, variables, caller)
    assert fast == general
    if shape in ("every field", "id name", "aliases", "typename", "named fragment", "bulk"):
        assert rows.called  # the shortcut really ran


async def test_an_error_inside_a_list_is_reported_like_the_general_path(app, client, raw_db):
    from tests.conftest import GraphQL

    gql = GraphQL(client)
    tenant = await make_tenant("Fast errors")
    a = await create(gql, tenant, name="A", email="a@example.com")
    b = await create(gql, tenant, name="B", email="b@example.com")
    await raw_db.execute(
        "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2",
        a["id"],
        b["id"],
    )
    caller = Caller(tenant.business_id, "t")
    for query in (
        "query($b: ID!) { customers(businessId: $b) { id name email } }",
        "query($b: ID!) { customerConnection(businessId: $b) { nodes { name email } } }",
        "query($b: ID!) { customerConnection(businessId: $b) { edges { node { name email } } } }",
    ):
        fast = await run(FAST, query, {"b": tenant.business_id}, caller)
        general = await run(GENERAL, query, {"b": tenant.business_id}, caller)
        assert (
            fast == general and fast["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        )
    names = await run(
        FAST,
        "query($b: ID!) { customers(businessId: $b) { id name } }",
        {"b": tenant.business_id},
        caller,
    )
    assert [c["name"] for c in names["data"]["customers"]] == ["A", "B"]


async def test_id_and_name_only_decrypt_nothing(populated, gql):
    tenant, _ = populated
    with mock.patch.object(Cipher, "open", autospec=True, side_effect=Cipher.open) as opened:
        names = await gql.data(
            tenant,
            "query($b: ID!) { customers(businessId: $b, limit: 100) { id name } }",
            {"b": tenant.business_id},
        )
        assert len(names["customers"]) == 13 and opened.call_count == 0
        await gql.data(
            tenant,
            "query($b: ID!) { customers(businessId: $b, limit: 100) { id email } }",
            {"b": tenant.business_id},
        )
        assert opened.call_count == 13  # one email each, nothing else
