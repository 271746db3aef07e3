"""The probes of graphql-cop, and bad input, as our own tests.

Each probe asserts the precise refusal (HTTP status, and `extensions.code` for
GraphQL answers), that a refused write wrote nothing, and that no answer carries
a traceback, SQL or the PII-like values that were sent.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from graphql import get_introspection_query

from app.http import logs
from app.settings import Settings
from schema.asgi import create_app
from tests.conftest import Tenant
from tests.test_api import CREATE, codes

VALIDATION = "GRAPHQL_VALIDATION_FAILED"
EMAIL = "probe.victim@example.com"
PHONE = "08031234567"
LEAKS = ("Traceback", 'File "/', "SELECT ", "INSERT INTO", "UPDATE customer", "asyncpg")


def safe(response: httpx.Response, *sent: str) -> httpx.Response:
    """No 5xx, no traceback or SQL, none of the values sent echoed back."""
    assert response.status_code < 500, response.text[:500]
    for leak in (*LEAKS, EMAIL, PHONE, *sent):
        assert leak not in response.text, (leak, response.text[:500])
    return response


def refused(response: httpx.Response, status: int | tuple[int, ...], code: str | None = None):
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    safe(response)
    if code is not None:
        payload = response.json()
        assert payload["errors"][0]["extensions"]["code"] == code, payload
        assert set(codes(payload)) == {code}, payload
        assert payload.get("data") is None, payload


def create_body(tenant: Tenant, **fields: object) -> dict:
    values = {"name": "Probe", "email": EMAIL, "phone": PHONE, **fields}
    return {"query": CREATE, "variables": {"b": tenant.business_id, "input": values}}


def inline_create(tenant: Tenant) -> str:
    return (
        f'mutation {{ createCustomer(businessId: "{tenant.business_id}", input: '
        f'{{name: "Probe", email: "{EMAIL}", phone: "{PHONE}"}}) {{ customer {{ id }} }} }}'
    )


@pytest.fixture(scope="session")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """Overrides conftest's: an exception in the app is a 500 answer, as on a real server."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def rows(raw_db, tenant: Tenant) -> int:
    sql = "SELECT count(*) FROM customer WHERE business_id = $1"
    return await raw_db.fetchval(sql, tenant.business_id)


@asynccontextmanager
async def nothing_written(raw_db, tenant: Tenant) -> AsyncIterator[None]:
    before = await rows(raw_db, tenant)
    yield
    assert await rows(raw_db, tenant) == before, "a customer was written"


async def post(client: httpx.AsyncClient, tenant: Tenant, query: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=tenant.headers)


async def test_control_the_probe_mutation_writes_when_sent_properly(client, tenant, raw_db):
    """Without this, "nothing was written" below would prove nothing."""
    response = await client.post("/graphql", json=create_body(tenant), headers=tenant.headers)
    assert response.status_code == 200 and response.json()["data"]["createCustomer"]["customer"]
    assert await rows(raw_db, tenant) == 1


# Alias overloading ----------------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    ['customers(businessId: "b", limit: 1) { id }', "__typename"],
    ids=["16-costly", "101-typename"],
)
async def test_alias_overloading_is_refused(client, tenant, alias):
    count = 101 if alias == "__typename" else 16
    query = "query { " + " ".join(f"a{n}: {alias}" for n in range(count)) + " }"
    refused(await post(client, tenant, query), 400, VALIDATION)


# Batched queries ------------------------------------------------------------


async def test_batched_operations_are_refused(client, tenant, raw_db):
    batch = [create_body(tenant, email=f"batch{n}@example.com") for n in range(10)]
    async with nothing_written(raw_db, tenant):
        response = await client.post("/graphql", json=batch, headers=tenant.headers)
    refused(response, 400)


# GET ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/json", 405),
        ("application/graphql-response+json", 405),
        ("*/*", 405),
        ("text/html", 406),  # a browser's navigation: no GraphQL answer it could read
    ],
)
async def test_get_never_executes_a_mutation(client, tenant, raw_db, accept, status):
    headers = {**tenant.headers, "Accept": accept}
    async with nothing_written(raw_db, tenant):
        response = await client.get(
            "/graphql", params={"query": inline_create(tenant)}, headers=headers
        )
    refused(response, status, "BAD_USER_INPUT")
    if status == 405:
        assert response.headers["allow"] == "POST"


async def test_get_with_an_encoded_query_name_and_no_key_is_not_executed(client, tenant, raw_db):
    """`%71uery` is `query` once decoded: it must not pass for a plain GraphiQL GET."""
    url = "/graphql?" + str(httpx.QueryParams({"query": inline_create(tenant)}))
    async with nothing_written(raw_db, tenant):
        response = await client.get(
            url.replace("?query=", "?%71uery="), headers={"Accept": "text/html"}
        )
    refused(response, (400, 401, 405))


async def test_get_for_html_without_a_query_only_serves_graphiql(client):
    # In development the page answers only to a Host of this machine (test_graphiql.py).
    response = await client.get("/graphql", headers={"Accept": "text/html", "Host": "127.0.0.1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower() and '"data"' not in response.text


# CSRF-style simple requests -------------------------------------------------


TEXT_PLAIN = {"Content-Type": "text/plain"}


def simple_requests(tenant: Tenant) -> dict[str, dict]:
    variables = json.dumps(create_body(tenant)["variables"])
    return {
        "form-urlencoded": {"data": {"query": CREATE, "variables": variables}},
        "multipart": {"files": {"query": (None, CREATE), "variables": (None, variables)}},
        "multipart-operations": {
            "files": {"operations": (None, json.dumps(create_body(tenant))), "map": (None, "{}")}
        },
        "text-plain": {"content": json.dumps(create_body(tenant)), "headers": TEXT_PLAIN},
        "query-string-no-body": {"params": {"query": inline_create(tenant)}},
    }


@pytest.mark.parametrize("kind", list(simple_requests(Tenant("b", "k"))))
async def test_simple_cross_site_posts_are_refused(client, tenant, raw_db, kind):
    request = simple_requests(tenant)[kind]
    headers = {**tenant.headers, **request.pop("headers", {})}
    async with nothing_written(raw_db, tenant):
        response = await client.post("/graphql", headers=headers, **request)
    refused(response, (400, 415))


# Field duplication ----------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["__typename", 'customers(businessId: "b", limit: 100) { id name }'],
    ids=["graphql-cop-typename", "costly-field"],
)
async def test_field_duplication_is_refused_before_execution(client, tenant, field):
    query = "query { " + f"{field} \n" * 500 + "}"
    refused(await post(client, tenant, query), 400, VALIDATION)


# Directive overloading ------------------------------------------------------


@pytest.mark.parametrize(
    "directives",
    ["@aa" * 10, "@aa" * 300, "@include(if: true)" * 100, "@include(if: true)" * 300],
    ids=["graphql-cop-10-unknown", "300-unknown", "100-include", "300-include"],
)
async def test_directive_overloading_is_refused(client, tenant, directives):
    refused(await post(client, tenant, f"query {{ __typename {directives} }}"), 400, VALIDATION)


# Circular and deep introspection ---------------------------------------------

CIRCULAR = "query { __schema { types { fields { type { fields { type { fields { type { fields {"
CIRCULAR += " type { name } } } } } } } } } } }"
OF_TYPE_12 = "query { __schema { types { fields { type { " + "ofType { " * 12 + "name"
OF_TYPE_12 += " }" * 12 + " } } } } }"
FRAGMENTS = """query { __schema { ...A } }
fragment A on __Schema { __typename ...B }
fragment B on __Schema { ...A }"""


@pytest.mark.parametrize(
    "query", [CIRCULAR, OF_TYPE_12, FRAGMENTS], ids=["graphql-cop-circular", "ofType-12", "cycle"]
)
async def test_deep_or_circular_introspection_is_refused(client, tenant, query):
    refused(await post(client, tenant, query), 400, VALIDATION)


async def test_control_the_standard_introspection_query_still_works(client, tenant):
    """GraphiQL and codegen tools send this one (ofType nested 9 times): keep it working."""
    response = await post(client, tenant, get_introspection_query(descriptions=True))
    assert response.status_code == 200, response.text[:300]
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


# Tracing, debug and masked errors ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": "query { __typename }"}, 200, None),
        ({"query": "query { __typename }", "extensions": {"tracing": True}}, 200, None),
        ({"query": "query { nope }"}, 400, VALIDATION),
        ({"query": "qwerty cop { abc }"}, 400, "GRAPHQL_PARSE_FAILED"),  # graphql-cop
    ],
    ids=["plain", "tracing-asked", "invalid", "unparsable"],
)
async def test_no_tracing_timing_or_exception_details(client, tenant, body, status, code):
    response = safe(await client.post("/graphql", json=body, headers=tenant.headers))
    assert response.status_code == status
    payload = response.json()
    assert "extensions" not in payload, payload
    assert [error["extensions"] for error in payload.get("errors", [])] == (
        [{"code": code}] if code else []
    )
    for word in ("tracing", "stacktrace", "exception", "duration"):
        assert word not in response.text.lower()


async def test_internal_error_message_is_exactly_masked(gql, tenant, raw_db):
    ids = []
    for email in (EMAIL, "donor.pii@example.com"):
        data = await gql.data(tenant, CREATE, create_body(tenant, email=email)["variables"])
        ids.append(data["createCustomer"]["customer"]["id"])
    swap = "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2"
    await raw_db.execute(swap, ids[1], ids[0])  # a moved ciphertext must refuse to open
    response = await gql(tenant, "query($id: ID!) { customer(id: $id) { email } }", {"id": ids[0]})
    safe(response, "donor.pii@example.com")
    payload = response.json()
    assert response.status_code == 200 and "extensions" not in payload
    assert [(e["message"], e["extensions"]) for e in payload["errors"]] == [
        ("Internal server error", {"code": "INTERNAL_SERVER_ERROR"})
    ]


# Field suggestions ----------------------------------------------------------

TYPO_IN_INPUT = (
    'mutation { createCustomer(businessId: "b", input: {nmae: "x", email: "y"}) { __typename } }'
)


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ('{ customer(id: "x") { emial } }', None, VALIDATION),
        ('{ customerz(id: "x") { id } }', None, VALIDATION),
        ('{ customers(businessId: "b", limt: 1) { id } }', None, VALIDATION),
        ("query($b: Idd!) { customers(businessId: $b) { id } }", None, VALIDATION),
        ('{ customer(id: "x") { ... on Custmer { id } } }', None, VALIDATION),
        (TYPO_IN_INPUT, None, VALIDATION),
        (CREATE, {"b": "b", "input": {"nmae": "x", "email": "y"}}, "BAD_USER_INPUT"),
    ],
    ids=["field", "root-field", "argument", "type", "type-condition", "input-field", "variable"],
)
async def test_misspellings_get_no_suggestions(gql, tenant, query, variables, code):
    response = await gql(tenant, query, variables)
    refused(response, 400 if code == VALIDATION else 200, code)  # bad input: 200, spec-wise
    assert "did you mean" not in response.text.lower(), response.text


# GraphiQL in production -----------------------------------------------------


async def test_graphiql_is_off_in_production(settings, tenant):
    production = create_app(dataclasses.replace(settings, env="production", graphiql=False))
    try:
        transport = httpx.ASGITransport(app=production)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for headers in ({}, tenant.headers):
                page = await http.get("/graphql", headers={**headers, "Accept": "text/html"})
                assert page.status_code in (401, 404), page.text[:300]
                assert "graphiql" not in page.text.lower()
    finally:
        logs.configure(json_lines=False)  # create_app switched this process to JSON logs


# Rate limit per API key -------------------------------------------------------


async def test_a_burst_beyond_the_limit_gets_429_and_other_keys_do_not(
    settings, tenant, other, raw_db, monkeypatch
):
    monkeypatch.setenv("FINORA_RATE_LIMIT_PER_SECOND", "0.1")
    monkeypatch.setenv("FINORA_RATE_LIMIT_BURST", "3")
    limited = create_app(Settings.from_env())  # the ORM is already open (session app)
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        statuses = []
        for n in range(6):
            body = create_body(tenant, email=f"burst{n}@example.com")
            burst = await http.post("/graphql", json=body, headers=tenant.headers)
            statuses.append(burst.status_code)
        assert statuses == [200, 200, 200, 429, 429, 429]
        refused(burst, 429, "RATE_LIMITED")
        assert await rows(raw_db, tenant) == 3  # refused requests did not run
        other_key = await http.post("/graphql", json=create_body(other), headers=other.headers)
        assert other_key.status_code == 200 and await rows(raw_db, other) == 1


# Cost limit -----------------------------------------------------------------


@pytest.mark.parametrize("limit", ["100", "$n"])
async def test_ten_aliases_of_a_hundred_customers_are_refused(gql, tenant, limit):
    fields = " ".join(
        f"a{n}: customers(businessId: $b, limit: {limit}) {{ id }}" for n in range(10)
    )
    query = f"query($b: ID!{', $n: Int!' if limit == '$n' else ''}) {{ {fields} }}"
    refused(await gql(tenant, query, {"b": tenant.business_id, "n": 100}), 400, VALIDATION)


async def test_control_one_list_of_a_hundred_is_fine(gql, tenant):
    query = "query($b: ID!) { customers(businessId: $b, limit: 100) { id } }"
    assert (await gql.data(tenant, query, {"b": tenant.business_id}))["customers"] == []


# Bad input on mutations -------------------------------------------------------


async def test_inline_values_are_not_echoed_by_validation_errors(client, tenant, raw_db):
    query = (
        f'mutation {{ createCustomer(businessId: "{tenant.business_id}", input: '
        f'{{email: "{EMAIL}", phone: "{PHONE}"}}) {{ customer {{ id }} }} }}'
    )  # `name` is missing
    async with nothing_written(raw_db, tenant):
        refused(await post(client, tenant, query), 400, VALIDATION)


@pytest.mark.parametrize("sent", ["with-length", "streamed"])
async def test_body_over_a_megabyte_is_413(client, tenant, raw_db, sent):
    body = json.dumps(create_body(tenant, address="x" * 1_100_000)).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    headers = {**tenant.headers, "Content-Type": "application/json"}
    async with nothing_written(raw_db, tenant):
        content = body if sent == "with-length" else chunks()
        response = await client.post("/graphql", content=content, headers=headers)
    refused(response, 413, "BAD_USER_INPUT")


MALFORMED = {
    "empty": b"",
    "not-json": b"mutation { deleteCustomer(id: 1) }",
    "truncated": b'{"query": ',
    "no-query": b"{}",
    "empty-batch": b"[]",
    "null": b"null",
    "string": b'"query"',
    "null-query": b'{"query": null}',
    "empty-query": b'{"query": ""}',
    "number-query": b'{"query": 5}',
    "string-variables": b'{"query": "{ __typename }", "variables": "[]"}',
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_bodies_are_400(client, tenant, body):
    headers = {**tenant.headers, "Content-Type": "application/json"}
    refused(await client.post("/graphql", content=body, headers=headers), 400)


async def test_invalid_utf8_in_a_json_body_is_400(client, tenant, raw_db):
    body = json.dumps(create_body(tenant, name="@@NAME@@")).encode()
    body = body.replace(b"@@NAME@@", b"Ok\xff\xfe\xc3(")
    headers = {**tenant.headers, "Content-Type": "application/json"}
    async with nothing_written(raw_db, tenant):
        refused(await client.post("/graphql", content=body, headers=headers), 400)


@pytest.mark.parametrize("variable", ["input", "b"])
async def test_null_for_a_non_null_argument_is_bad_user_input(client, tenant, raw_db, variable):
    body = create_body(tenant)
    body["variables"][variable] = None
    async with nothing_written(raw_db, tenant):
        response = await client.post("/graphql", json=body, headers=tenant.headers)
    refused(response, 200, "BAD_USER_INPUT")  # a request error: 200 under application/json


@pytest.mark.parametrize("field", ["name", "email", "phone", "address", "companyName", "tin"])
async def test_a_300k_string_in_each_field_is_a_user_error(gql, tenant, raw_db, field):
    value = "7" * 300_000
    async with nothing_written(raw_db, tenant):
        response = await gql(tenant, CREATE, create_body(tenant, **{field: value})["variables"])
    safe(response, value[:64])
    assert response.status_code == 200
    payload = response.json()["data"]["createCustomer"]
    assert payload["customer"] is None
    assert [(e["field"], e["code"] in ("TOO_LONG", "INVALID")) for e in payload["userErrors"]] == [
        (["input", field], True)
    ], payload


async def test_unknown_operation_name_is_400(client, tenant, raw_db):
    body = {**create_body(tenant), "operationName": "NotThere"}
    body["query"] = body["query"].replace("mutation(", "mutation Create(", 1)
    async with nothing_written(raw_db, tenant):
        refused(await client.post("/graphql", json=body, headers=tenant.headers), 400)
