"""GraphQL over HTTP through the real ASGI app: the `data` entry, both media types
and their statuses, Accept negotiation, queries by GET, and no-store caching."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from schema.asgi import create_app
from tests.conftest import Tenant
from tests.test_abuse import CIRCULAR
from tests.test_api import GET, LIST, codes, create
from tests.test_metrics import count

JSON = "application/json"
NEW = "application/graphql-response+json"
NEW_CT = "application/graphql-response+json; charset=utf-8"
URQL_ACCEPT = (
    "application/graphql-response+json, application/graphql+json, application/json, "
    "text/event-stream, multipart/mixed"
)
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ALIASES_16 = "{ " + " ".join(f"a{n}: __typename" for n in range(16)) + " }"


async def post(
    client: httpx.AsyncClient, tenant: Tenant | None, body: object, accept: str | None = None
) -> httpx.Response:
    headers = {**(tenant.headers if tenant else {}), **({"Accept": accept} if accept else {})}
    return await client.post("/graphql", json=body, headers=headers)


async def get(
    client: httpx.AsyncClient, tenant: Tenant | None, params: dict, accept: str | None = None
) -> httpx.Response:
    headers = {**(tenant.headers if tenant else {}), **({"Accept": accept} if accept else {})}
    return await client.get("/graphql", params=params, headers=headers)


def never_executed(tenant: Tenant) -> dict[str, tuple[str, dict, str]]:
    """Requests refused before execution: (query, variables, code)."""
    return {
        "parse": ("{ customers(", {}, "GRAPHQL_PARSE_FAILED"),
        "validation": ("{ nope }", {}, "GRAPHQL_VALIDATION_FAILED"),
        "limit": (ALIASES_16, {}, "GRAPHQL_VALIDATION_FAILED"),
        "variable": (LIST, {"b": tenant.business_id, "n": "ten"}, "BAD_USER_INPUT"),
        "missing-variable": (LIST, {"b": tenant.business_id}, "BAD_USER_INPUT"),
    }


# The data entry ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["parse", "validation", "limit", "variable", "missing-variable"])
@pytest.mark.parametrize("accept", [JSON, NEW])
async def test_a_request_never_executed_has_errors_and_no_data(client, tenant, kind, accept):
    query, variables, code = never_executed(tenant)[kind]
    response = await post(client, tenant, {"query": query, "variables": variables}, accept)
    payload = response.json()
    # A document refused before execution is 400 in both types; bad variable values
    # are a request error that GraphQL over HTTP answers with 200 under JSON.
    bad_input = code == "BAD_USER_INPUT" and accept == JSON
    assert response.status_code == (200 if bad_input else 400), payload
    assert "data" not in payload and codes(payload) == [code], payload


@pytest.mark.parametrize("accept", [JSON, NEW])
async def test_an_executed_request_keeps_data_even_when_null(client, tenant, other, accept):
    foreign = await post(
        client, tenant, {"query": LIST, "variables": {"b": other.business_id, "n": 5}}, accept
    )
    payload = foreign.json()
    assert payload["data"] is None and codes(payload) == ["FORBIDDEN"], payload
    assert foreign.status_code == 200
    too_many = await post(
        client, tenant, {"query": LIST, "variables": {"b": tenant.business_id, "n": 1000}}, accept
    )
    payload = too_many.json()
    assert payload["data"] is None and codes(payload) == ["BAD_USER_INPUT"], payload
    assert too_many.status_code == 200  # it ran: 200 in both types


# Statuses and content types per media type -------------------------------------


@pytest.mark.parametrize(
    ("kind", "json_status", "new_status"),
    [
        ("ok", 200, 200),
        ("parse", 400, 400),
        ("validation", 400, 400),
        ("limit", 400, 400),
        ("variable", 200, 400),
        ("field-error", 200, 200),
        ("forbidden", 200, 200),
    ],
)
async def test_status_and_content_type_per_media_type(
    client, tenant, other, kind, json_status, new_status
):
    cases = {
        **never_executed(tenant),
        "ok": ("{ __typename }", {}, None),
        "field-error": (LIST, {"b": tenant.business_id, "n": 0}, "BAD_USER_INPUT"),
        "forbidden": (LIST, {"b": other.business_id, "n": 1}, "FORBIDDEN"),
    }
    query, variables, code = cases[kind]
    body = {"query": query, "variables": variables}
    legacy = await post(client, tenant, body, JSON)
    new = await post(client, tenant, body, NEW)
    assert (legacy.status_code, new.status_code) == (json_status, new_status)
    assert legacy.headers["content-type"] == JSON
    assert new.headers["content-type"] == NEW_CT
    assert legacy.json() == new.json()  # one body, two framings
    assert codes(new.json()) == ([code] if code else [])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"query": ', "not JSON"),
        (b'{"qeury": "{ __typename }"}', "no query"),
        (b'{"query": "{ __typename }", "variables": [7]}', "variables not an object"),
        (b'{"query": "{ __typename }", "operationName": {"obj": 1}}', "operationName not a string"),
        (b'{"query": "{ __typename }", "extensions": "x"}', "extensions not an object"),
        (b'{"query": "query A { __typename }", "operationName": "B"}', "unknown operation"),
        (b"[]", "a batch"),
    ],
)
@pytest.mark.parametrize("accept", [JSON, NEW])
async def test_request_errors_are_400_in_the_negotiated_type(client, tenant, body, reason, accept):
    headers = {**tenant.headers, "Accept": accept, "Content-Type": "application/json"}
    response = await client.post("/graphql", content=body, headers=headers)
    payload = response.json()
    assert response.status_code == 400, (reason, payload)
    assert response.headers["content-type"] == (NEW_CT if accept == NEW else JSON)
    assert "data" not in payload and codes(payload) == ["BAD_USER_INPUT"], payload


@pytest.mark.parametrize("accept", [JSON, NEW])
async def test_refusals_before_graphql_follow_the_accept_header(client, accept):
    response = await post(client, None, {"query": "{ __typename }"}, accept)
    assert response.status_code == 401
    assert response.headers["content-type"] == (NEW_CT if accept == NEW else JSON)
    assert codes(response.json()) == ["UNAUTHENTICATED"]


# Accept negotiation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),  # no Accept header at all: what legacy clients get today
        ("*/*", JSON),
        ("application/*", JSON),
        (JSON, JSON),
        ("application/json; charset=utf-8", JSON),
        (NEW, NEW_CT),
        (URQL_ACCEPT, NEW_CT),
        (f"{JSON}, {NEW}", NEW_CT),
        (f"{NEW};q=0.5, {JSON}", JSON),
        (f"{JSON};q=0.9, {NEW}", NEW_CT),
        (f"{JSON};q=0, */*", NEW_CT),
        (f"{NEW};q=0, */*", JSON),
        (f"{NEW}, */*;q=0.1", NEW_CT),
        (BROWSER_ACCEPT, JSON),
        ("text/html", 406),
        ("application/xml", 406),
        ("text/plain, image/*", 406),
        (f"{JSON};q=0", 406),
        (f"{JSON};q=0, {NEW};q=0, */*;q=0.5", 406),
        (f"{JSON};q=nonsense", 406),
    ],
)
async def test_accept_negotiation(client, tenant, accept, expected):
    request = client.build_request(
        "POST", "/graphql", json={"query": "{ __typename }"}, headers=tenant.headers
    )
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    response = await client.send(request)
    if expected == 406:
        assert response.status_code == 406
        assert response.headers["content-type"] == JSON
        payload = response.json()
        assert "data" not in payload and codes(payload) == ["BAD_USER_INPUT"]
    else:
        assert response.status_code == 200
        assert response.headers["content-type"] == expected
        assert response.json() == {"data": {"__typename": "Query"}}


# Queries by GET -----------------------------------------------------------------


async def test_a_get_query_answers_as_the_post_does(client, gql, tenant):
    customer = await create(gql, tenant, name="Getty", email="getty@example.com", phone=None)
    params = {
        "query": "query Read($id: ID!) { customer(id: $id) { id email } } query B { __typename }",
        "variables": f'{{"id": "{customer["id"]}"}}',
        "operationName": "Read",
        "extensions": '{"persistedQuery": null}',
    }
    for accept in (JSON, NEW):
        response = await get(client, tenant, params, accept)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "data": {"customer": {"id": customer["id"], "email": "getty@example.com"}}
        }
    by_post = await gql(tenant, GET, {"id": customer["id"]})
    by_get = await get(client, tenant, {"query": GET, "variables": f'{{"id": "{customer["id"]}"}}'})
    assert by_get.json() == by_post.json()


@pytest.mark.parametrize("accept", [JSON, NEW])
async def test_a_mutation_by_get_is_405_with_allow_post(client, tenant, raw_db, accept):
    query = (
        f'mutation {{ createCustomer(businessId: "{tenant.business_id}", '
        'input: {name: "G", email: "g@example.com"}) { customer { id } } }'
    )
    before = await raw_db.fetchval("SELECT count(*) FROM customer")
    response = await get(client, tenant, {"query": query}, accept)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.headers["content-type"] == (NEW_CT if accept == NEW else JSON)
    assert codes(response.json()) == ["BAD_USER_INPUT"] and "data" not in response.json()
    assert await raw_db.fetchval("SELECT count(*) FROM customer") == before


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"query": "{ __typename }", "variables": "{not json"}, 400),
        ({"query": "{ __typename }", "variables": "[1]"}, 400),
        ({"query": "{ __typename }", "extensions": "7"}, 400),
        ({"variables": "{}"}, 400),  # no query
        ({"query": ""}, 400),
    ],
)
async def test_bad_get_parameters_are_request_errors(client, tenant, params, status):
    response = await get(client, tenant, params, NEW)
    assert response.status_code == status
    assert "data" not in response.json() and codes(response.json()) == ["BAD_USER_INPUT"]


async def test_get_needs_a_key_and_respects_the_business(client, tenant, other):
    params = {"query": LIST, "variables": f'{{"b": "{other.business_id}", "n": 1}}'}
    assert (await get(client, None, params)).status_code == 401
    foreign = await get(client, tenant, params)
    assert foreign.status_code == 200 and codes(foreign.json()) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    "query",
    [
        ALIASES_16,
        "{ " + " ".join("__typename" for _ in range(2100)) + " }",  # tokens
        "{ "
        + " ".join(f'a{n}: customers(businessId: "b", limit: 100) {{ id }}' for n in range(6))
        + " }",  # cost
        CIRCULAR,
    ],
    ids=["aliases", "tokens", "cost", "circular-introspection"],
)
async def test_limits_hold_for_get(client, tenant, query):
    response = await get(client, tenant, {"query": query})
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "data" not in response.json()


async def test_get_errors_are_masked(client, gql, tenant, raw_db):
    victim = await create(gql, tenant, name="Masked", email="masked.get@example.com")
    donor = await create(gql, tenant, name="Donor", email="donor.get@example.com")
    swap = "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2"
    await raw_db.execute(swap, donor["id"], victim["id"])
    query = f'{{ customer(id: "{victim["id"]}") {{ email }} }}'
    response = await get(client, tenant, {"query": query}, NEW)
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"] == "Internal server error"
    assert "donor.get@example.com" not in response.text


async def test_get_queries_are_counted_in_metrics(client, tenant):
    before = count((await client.get("/metrics")).text, "graphql.query.customers", "200")
    params = {"query": LIST, "variables": f'{{"b": "{tenant.business_id}", "n": 1}}'}
    assert (await get(client, tenant, params)).status_code == 200
    after = count((await client.get("/metrics")).text, "graphql.query.customers", "200")
    assert after == before + 1


async def test_get_queries_share_the_rate_limit(settings, tenant):
    limited = create_app(dataclasses.replace(settings, rate_per_second=0.01, rate_burst=2))
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        statuses = [
            (await get(http, tenant, {"query": "{ __typename }"})).status_code,
            (await post(http, tenant, {"query": "{ __typename }"})).status_code,
        ]
        refused = await get(http, tenant, {"query": "{ __typename }"}, NEW)
    assert statuses == [200, 200] and refused.status_code == 429
    assert refused.headers["content-type"] == NEW_CT and "retry-after" in refused.headers
    assert codes(refused.json()) == ["RATE_LIMITED"]


async def test_a_get_for_html_without_a_query_still_opens_graphiql(client, tenant):
    page = await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT, "Host": "127.0.0.1"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    no_query = await get(client, tenant, {}, JSON)  # an API client without a query
    assert no_query.status_code == 400 and codes(no_query.json()) == ["BAD_USER_INPUT"]


# Caching -----------------------------------------------------------------------


async def test_every_answer_is_no_store(client, tenant):
    big = b'{"query": "' + b"a" * 1_100_000 + b'"}'
    json_body = {**tenant.headers, "Content-Type": "application/json"}
    answers = {
        "get": await get(client, tenant, {"query": "{ __typename }"}),
        "post": await post(client, tenant, {"query": "{ __typename }"}),
        "parse-error": await post(client, tenant, {"query": "{"}),
        "401": await post(client, None, {"query": "{ __typename }"}),
        "405": await get(client, tenant, {"query": "mutation { __typename }"}),
        "406": await post(client, tenant, {"query": "{ __typename }"}, "text/html"),
        "413": await client.post("/graphql", content=big, headers=json_body),
        "graphiql": await client.get(
            "/graphql", headers={"Accept": "text/html", "Host": "localhost:8000"}
        ),
        "rest": await client.get(
            "/v1/customers", params={"businessId": tenant.business_id}, headers=tenant.headers
        ),
        "rest-404": await client.get("/v1/customers/cust_nope", headers=tenant.headers),
        "rest-401": await client.get("/v1/customers", params={"businessId": "b"}),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "get": 200,
        "post": 200,
        "parse-error": 400,
        "401": 401,
        "405": 405,
        "406": 406,
        "413": 413,
        "graphiql": 200,
        "rest": 200,
        "rest-404": 404,
        "rest-401": 401,
    }
    assert {name: r.headers.get_list("cache-control") for name, r in answers.items()} == {
        name: ["no-store"] for name in answers
    }
