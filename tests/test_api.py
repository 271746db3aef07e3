"""Every operation of the contract over HTTP, through the real ASGI app."""

from __future__ import annotations

import re

import httpx
import pytest

from app.services import businesses
from tests.conftest import GraphQL, Tenant, make_tenant

FIELDS = """id businessId name email phone address tin companyName accountBalanceKobo
            accountBalance isActive createdAt updatedAt"""

CREATE = f"""mutation($b: ID!, $input: CreateCustomerInput!) {{
  createCustomer(businessId: $b, input: $input) {{
    customer {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
FIND_OR_CREATE = f"""mutation($b: ID!, $input: FindOrCreateCustomerInput!) {{
  findOrCreateCustomer(businessId: $b, input: $input) {{
    customer {{ {FIELDS} }} created userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateCustomerInput!) {{
  updateCustomer(id: $id, input: $input) {{
    customer {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
DELETE = f"""mutation($id: ID!) {{ deleteCustomer(id: $id) {{
  deletedCustomerId customer {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
GET = f"query($id: ID!) {{ customer(id: $id) {{ {FIELDS} }} }}"
LIST = "query($b: ID!, $n: Int!) { customers(businessId: $b, limit: $n) { id name email } }"
PAGE = """query($b: ID!, $n: Int!, $after: String) {
  customerConnection(businessId: $b, first: $n, after: $after) {
    edges { cursor node { id name } } nodes { id } totalCount
    pageInfo { hasNextPage endCursor } } }"""
SEARCH = """query($b: ID!, $q: String!) {
  searchCustomers(businessId: $b, q: $q) { count customers { id name email } } }"""

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def create(gql: GraphQL, tenant: Tenant, **input_: str | None) -> dict:
    data = await gql.data(tenant, CREATE, {"b": tenant.business_id, "input": input_})
    payload = data["createCustomer"]
    assert payload["userErrors"] == [], payload
    return payload["customer"]


def codes(payload: dict) -> list[str]:
    return [error["extensions"]["code"] for error in payload.get("errors", [])]


# Authentication -------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic abc", "Bearer fin_live_unknownkey000000", "Bearer x" * 50],
)
async def test_missing_or_unknown_key_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert response.status_code == 401
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_introspection_needs_a_key(client, tenant):
    query = {"query": "{ __schema { queryType { name } } }"}
    assert (await client.post("/graphql", json=query)).status_code == 401
    ok = await client.post("/graphql", json=query, headers=tenant.headers)
    assert ok.json()["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_revoked_key_is_401(client, gql):
    tenant = await make_tenant("Revoked")
    assert (await gql(tenant, "{ __typename }")).status_code == 200
    assert await businesses.revoke_api_key(tenant.key[:17])
    response = await gql(tenant, "{ __typename }")
    assert response.status_code == 401 and codes(response.json()) == ["UNAUTHENTICATED"]


# Operations -----------------------------------------------------------------


async def test_create_and_read_back_every_field(gql, tenant):
    customer = await create(
        gql,
        tenant,
        name="Acme Ltd",
        email="Finance@Acme.com",
        phone="08012345678",
        address="15 Adeola Odeku St, Victoria Island, Lagos",
        tin="12345678-0001",
        companyName="Acme Technologies Ltd",
    )
    assert customer["id"].startswith("cust_")
    assert customer["businessId"] == tenant.business_id
    assert customer["email"] == "finance@acme.com"
    assert customer["phone"] == "+2348012345678"
    assert customer["accountBalanceKobo"] == 0 and customer["accountBalance"] == 0
    assert customer["isActive"] is True
    assert ISO_MS_Z.match(customer["createdAt"]) and ISO_MS_Z.match(customer["updatedAt"])
    read = (await gql.data(tenant, GET, {"id": customer["id"]}))["customer"]
    assert read == customer


async def test_create_user_errors_and_taken(gql, tenant):
    await create(gql, tenant, name="First", email="taken@example.com")
    data = await gql.data(
        tenant,
        CREATE,
        {"b": tenant.business_id, "input": {"name": "x", "email": "TAKEN@example.com"}},
    )
    assert data["createCustomer"]["customer"] is None
    assert data["createCustomer"]["userErrors"] == [
        {
            "field": ["input", "email"],
            "code": "TAKEN",
            "message": "Another active customer already has this email",
        }
    ]
    data = await gql.data(
        tenant,
        CREATE,
        {"b": tenant.business_id, "input": {"name": " ", "email": "x", "tin": "??"}},
    )
    errors = {(tuple(e["field"]), e["code"]) for e in data["createCustomer"]["userErrors"]}
    assert errors == {
        (("input", "name"), "BLANK"),
        (("input", "email"), "INVALID"),
        (("input", "tin"), "INVALID"),
    }


async def test_find_or_create_over_http(gql, tenant):
    variables = {"b": tenant.business_id, "input": {"email": "Jane@Example.com"}}
    first = (await gql.data(tenant, FIND_OR_CREATE, variables))["findOrCreateCustomer"]
    assert first["created"] is True and first["customer"]["name"] == "jane"
    variables["input"] = {"email": "jane@example.com", "name": "Other", "phone": "08012345678"}
    second = (await gql.data(tenant, FIND_OR_CREATE, variables))["findOrCreateCustomer"]
    assert second["created"] is False and second["customer"]["id"] == first["customer"]["id"]
    assert second["customer"]["phone"] is None  # used only when creating
    variables["input"] = {"email": "jane@example.com", "phone": "12"}
    bad = (await gql.data(tenant, FIND_OR_CREATE, variables))["findOrCreateCustomer"]
    assert bad["customer"] is None and bad["created"] is False
    assert bad["userErrors"][0]["field"] == ["input", "phone"]


async def test_update_absent_null_blank_over_http(gql, tenant):
    customer = await create(
        gql, tenant, name="Ada", email="ada@example.com", phone="08012345678", tin="1234567890"
    )
    data = await gql.data(
        tenant,
        UPDATE,
        {"id": customer["id"], "input": {"phone": None, "address": "", "name": "Ada B"}},
    )
    updated = data["updateCustomer"]["customer"]
    assert (updated["name"], updated["phone"], updated["address"], updated["tin"]) == (
        "Ada B",
        None,
        None,
        "1234567890",
    )
    data = await gql.data(tenant, UPDATE, {"id": customer["id"], "input": {"email": None}})
    assert data["updateCustomer"]["userErrors"][0]["code"] == "BLANK"
    data = await gql.data(tenant, UPDATE, {"id": "cust_nope", "input": {"name": "Z"}})
    assert data["updateCustomer"]["userErrors"] == [
        {"field": ["id"], "code": "NOT_FOUND", "message": "No such customer"}
    ]


async def test_delete_over_http(gql, tenant):
    customer = await create(gql, tenant, name="Gone", email="gone@example.com")
    for _ in range(2):  # deleting twice is not an error
        payload = (await gql.data(tenant, DELETE, {"id": customer["id"]}))["deleteCustomer"]
        assert payload["deletedCustomerId"] == customer["id"]
        assert payload["customer"]["isActive"] is False and payload["userErrors"] == []
    read = (await gql.data(tenant, GET, {"id": customer["id"]}))["customer"]
    assert read["isActive"] is False
    listed = await gql.data(tenant, LIST, {"b": tenant.business_id, "n": 100})
    assert customer["id"] not in [c["id"] for c in listed["customers"]]
    missing = (await gql.data(tenant, DELETE, {"id": "cust_nope"}))["deleteCustomer"]
    assert missing["deletedCustomerId"] is None and missing["userErrors"][0]["code"] == "NOT_FOUND"


async def test_lists_pages_and_search_over_http(gql, tenant):
    for name in ("Chidi", "ada", "Bola", "Acme Ltd"):
        await create(gql, tenant, name=name, email=f"{name.split()[0].lower()}@acme.ng")
    listed = (await gql.data(tenant, LIST, {"b": tenant.business_id, "n": 50}))["customers"]
    assert [c["name"] for c in listed] == ["Acme Ltd", "ada", "Bola", "Chidi"]
    assert len((await gql.data(tenant, LIST, {"b": tenant.business_id, "n": 2}))["customers"]) == 2
    default = await gql.data(
        tenant, "query($b: ID!) { customers(businessId: $b) { id } }", {"b": tenant.business_id}
    )
    assert len(default["customers"]) == 4

    names, after = [], None
    while True:
        page = (await gql.data(tenant, PAGE, {"b": tenant.business_id, "n": 3, "after": after}))[
            "customerConnection"
        ]
        assert page["totalCount"] == 4
        assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
        names += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]
    assert names == ["Acme Ltd", "ada", "Bola", "Chidi"]

    found = (await gql.data(tenant, SEARCH, {"b": tenant.business_id, "q": "ACME"}))[
        "searchCustomers"
    ]
    assert found["count"] == 4
    found = (await gql.data(tenant, SEARCH, {"b": tenant.business_id, "q": "bola@"}))[
        "searchCustomers"
    ]
    assert [c["name"] for c in found["customers"]] == ["Bola"] and found["count"] == 1


# Isolation ------------------------------------------------------------------


async def test_every_business_scoped_operation_refuses_a_foreign_business(gql, tenant, other):
    foreign = other.business_id
    calls = [
        (LIST, {"b": foreign, "n": 10}),
        (PAGE, {"b": foreign, "n": 10}),
        (SEARCH, {"b": foreign, "q": "a"}),
        (CREATE, {"b": foreign, "input": {"name": "X", "email": "x@example.com"}}),
        (FIND_OR_CREATE, {"b": foreign, "input": {"email": "x@example.com"}}),
    ]
    for query, variables in calls:
        response = await gql(tenant, query, variables)
        payload = response.json()
        assert codes(payload) == ["FORBIDDEN"], payload
        assert payload["data"] is None
    for query, variables in calls[:3]:  # nothing was written in the other business
        data = await gql.data(other, query, {**variables})
        assert "x@example.com" not in str(data)


async def test_foreign_customer_ids_behave_like_missing_ones(gql, tenant, other):
    theirs = await create(gql, other, name="Theirs", email="theirs@example.com")
    assert (await gql.data(tenant, GET, {"id": theirs["id"]}))["customer"] is None
    update = await gql.data(tenant, UPDATE, {"id": theirs["id"], "input": {"name": "Mine"}})
    missing = await gql.data(tenant, UPDATE, {"id": "cust_doesnotexist", "input": {"name": "M"}})
    assert update == missing
    delete = await gql.data(tenant, DELETE, {"id": theirs["id"]})
    assert delete["deleteCustomer"]["userErrors"][0]["code"] == "NOT_FOUND"
    still = (await gql.data(other, GET, {"id": theirs["id"]}))["customer"]
    assert still["name"] == "Theirs" and still["isActive"] is True
    search = await gql.data(tenant, SEARCH, {"b": tenant.business_id, "q": "theirs"})
    assert search["searchCustomers"]["count"] == 0


# Errors ---------------------------------------------------------------------


async def test_parse_error_is_400(gql, tenant):
    response = await gql(tenant, "{ customers(")
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]


async def test_validation_error_is_400_without_suggestions(gql, tenant):
    response = await gql(tenant, '{ customer(id: "x") { emial } }')
    assert response.status_code == 400
    payload = response.json()
    assert codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in payload["errors"][0]["message"]


async def test_wrong_variable_type_is_bad_user_input_without_echo(gql, tenant):
    response = await gql(tenant, LIST, {"b": tenant.business_id, "n": "secret@example.com"})
    payload = response.json()
    assert response.status_code == 200  # GraphQL over HTTP: a request error under JSON
    assert codes(payload) == ["BAD_USER_INPUT"] and "data" not in payload
    assert "secret@example.com" not in response.text


@pytest.mark.parametrize("limit", [0, 101])
async def test_out_of_range_argument_is_bad_user_input(gql, tenant, limit):
    response = await gql(tenant, LIST, {"b": tenant.business_id, "n": limit})
    payload = response.json()
    assert codes(payload) == ["BAD_USER_INPUT"] and payload["data"] is None
    assert response.status_code == 200


async def test_malformed_cursor_and_bad_query_are_bad_user_input(gql, tenant):
    payload = (await gql(tenant, PAGE, {"b": tenant.business_id, "n": 5, "after": "zzz"})).json()
    assert codes(payload) == ["BAD_USER_INPUT"]
    payload = (await gql(tenant, SEARCH, {"b": tenant.business_id, "q": "   "})).json()
    assert codes(payload) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "query",
    [
        "{ " + " ".join(f"a{n}: __typename" for n in range(16)) + " }",  # aliases
        "{ " + " ".join("__typename" for _ in range(2100)) + " }",  # tokens
    ],
    ids=["aliases", "tokens"],
)
async def test_limits_refuse_before_execution(gql, tenant, query):
    response = await gql(tenant, query)
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "data" not in response.json()  # never executed


async def test_internal_errors_are_masked(gql, tenant, raw_db):
    customer = await create(gql, tenant, name="Broken", email="broken@example.com")
    # Move another row's ciphertext into this one: it must refuse to open.
    donor = await create(gql, tenant, name="Donor", email="donor@example.com")
    await raw_db.execute(
        "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2",
        donor["id"],
        customer["id"],
    )
    response = await gql(tenant, GET, {"id": customer["id"]})
    payload = response.json()
    assert codes(payload) == ["INTERNAL_SERVER_ERROR"]
    assert payload["errors"][0]["message"] == "Internal server error"
    assert "donor@example.com" not in response.text and "Traceback" not in response.text
    name_only = await gql.data(
        tenant, "query($id: ID!) { customer(id: $id) { name } }", {"id": customer["id"]}
    )
    assert name_only["customer"]["name"] == "Broken"  # only what is read is decrypted


async def test_get_runs_queries_but_not_mutations(client, tenant):
    response = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers=tenant.headers
    )
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}
    mutation = await client.get(
        "/graphql",
        params={"query": 'mutation { deleteCustomer(id: "x") { deletedCustomerId } }'},
        headers=tenant.headers,
    )
    assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"


async def test_graphiql_page_opens_without_a_key(client):
    response = await client.get("/graphql", headers={"Accept": "text/html", "Host": "localhost"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_body_over_the_limit_is_413(client, tenant):
    response = await client.post(
        "/graphql",
        content=b'{"query": "' + b"a" * 1_100_000 + b'"}',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_rate_limit_per_key(settings, app, tenant, other):
    from tests.conftest import running_server
    from tests.test_cli import production_env

    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0.5", FINORA_RATE_LIMIT_BURST="3")
    async with (
        running_server(env) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        body = {"query": "{ __typename }"}
        statuses = [
            (await http.post("/graphql", json=body, headers=tenant.headers)).status_code
            for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        refused = await http.post("/graphql", json=body, headers=tenant.headers)
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert int(refused.headers["retry-after"]) >= 1
        rest = await http.get(
            "/v1/customers", params={"businessId": tenant.business_id}, headers=tenant.headers
        )
        assert rest.status_code == 429 and rest.json()["error"]["code"] == "RATE_LIMITED"
        other_key = await http.post("/graphql", json=body, headers=other.headers)
        assert other_key.status_code == 200  # another key has its own budget


@pytest.mark.parametrize(
    "query",
    [
        "{ "
        + " ".join(f'a{n}: customers(businessId: "b", limit: 100) {{ id }}' for n in range(6))
        + " }",
        'query($n: Int!) { a: customers(businessId: "b", limit: $n) { id } '
        'b: customerConnection(businessId: "b", first: $n) { edges { node { id } } '
        'nodes { id } } c: customerConnection(businessId: "b", first: 100) { nodes { id } '
        'edges { cursor } } d: searchCustomers(businessId: "b", q: "x") { count } }',
    ],
    ids=["aliases", "connections"],
)
async def test_list_cost_limit(gql, tenant, query):
    response = await gql(tenant, query, {"n": 100})
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


def aliased(count: int, field: str) -> str:
    return "query($b: ID!) { " + " ".join(f"a{n}: {field}" for n in range(count)) + " }"


SEARCH_FIELD = 'searchCustomers(businessId: $b, q: "q") { count }'
TOTAL_FIELD = "customerConnection(businessId: $b, first: 100) { nodes { id } totalCount }"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (aliased(5, SEARCH_FIELD), 200),  # a search costs 100: five fit in 500
        (aliased(6, SEARCH_FIELD), 400),
        (aliased(2, TOTAL_FIELD), 200),  # 100 nodes + a count of 100: two fit
        (aliased(3, TOTAL_FIELD), 400),
        (aliased(5, "customerConnection(businessId: $b, first: 100) { nodes { id } }"), 200),
    ],
    ids=["5-searches", "6-searches", "2-totals", "3-totals", "5-pages-no-total"],
)
async def test_cost_prices_searches_and_counts(gql, tenant, query, status):
    response = await gql(tenant, query, {"b": tenant.business_id})
    assert response.status_code == status, response.json()
    if status == 400:
        assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "may cost up to" in response.json()["errors"][0]["message"]
    else:
        assert "errors" not in response.json()


async def test_circular_introspection_is_refused_but_graphiql_fits(gql, tenant):
    from graphql import get_introspection_query

    circular = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    response = await gql(tenant, circular)
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    full = await gql(
        tenant, get_introspection_query(descriptions=True, input_value_deprecation=True)
    )
    assert full.status_code == 200 and "errors" not in full.json()


async def test_nested_fragments_are_refused_quickly(gql, tenant):
    import time

    fragments = "\n".join(
        f"fragment F{i} on __Type {{ ofType {{ {' '.join([f'...F{i + 1}'] * 4)} }} }}"
        for i in range(14)
    )
    query = (
        "{ __schema { queryType { ...F0 } } }\n" + fragments + "\nfragment F14 on __Type { name }"
    )
    started = time.monotonic()
    response = await gql(tenant, query)
    assert time.monotonic() - started < 1.0  # not billions of fields walked
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_large_limits_are_bad_user_input_not_a_cost_error(gql, tenant):
    payload = (
        await gql(
            tenant,
            "query($b: ID!) { customers(businessId: $b, limit: 600) { id } }",
            {"b": tenant.business_id},
        )
    ).json()
    assert codes(payload) == ["BAD_USER_INPUT"]


async def test_syntax_errors_do_not_echo_input(gql, tenant):
    response = await gql(tenant, '{ customers(businessId: "b") "jane@example.com" }')
    assert codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]
    assert "jane@example.com" not in response.text
