"""The REST API of the reference, on the same services as GraphQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, GraphQL, Tenant, running_server
from tests.test_api import CREATE, DELETE, FIND_OR_CREATE, GET, LIST, SEARCH, UPDATE
from tests.test_cli import production_env

REFERENCE_FIELDS = [
    "id",
    "name",
    "email",
    "phone",
    "address",
    "tin",
    "companyName",
    "accountBalanceKobo",
    "accountBalance",
    "isActive",
    "createdAt",
]
ACME = {
    "name": "Acme Ltd",
    "email": "finance@acme.com",
    "phone": "+2348012345678",
    "address": "15 Adeola Odeku St, Victoria Island, Lagos",
    "tin": "12345678-0001",
    "companyName": "Acme Technologies Ltd",
}


class Rest:
    def __init__(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        self.client, self.tenant = client, tenant

    async def __call__(self, method: str, path: str, **kw) -> httpx.Response:
        params = kw.pop("params", {})
        if kw.pop("scoped", False):
            params = {"businessId": self.tenant.business_id, **params}
        headers = {**self.tenant.headers, **kw.pop("headers", {})}
        return await self.client.request(method, f"/v1{path}", params=params, headers=headers, **kw)


@pytest.fixture
def rest(client, tenant) -> Rest:
    return Rest(client, tenant)


def ok(response: httpx.Response, status: int = 200):
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is True
    return body["data"]


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is False and body["error"]["code"] == code
    assert body["error"]["field"] == field
    assert set(body["error"]) == {"code", "message", "field"}


async def test_the_reference_example_shape(rest):
    created = ok(await rest("POST", "/customers", scoped=True, json=ACME), 201)
    assert list(created) == REFERENCE_FIELDS
    assert created["accountBalanceKobo"] == 0 and created["accountBalance"] == 0
    assert created["isActive"] is True and created["createdAt"].endswith("Z")
    assert ok(await rest("GET", f"/customers/{created['id']}")) == created
    found = ok(await rest("GET", "/customers/search", scoped=True, params={"q": "acme"}))
    assert found == {"customers": [created], "count": 1}
    listed = ok(await rest("GET", "/customers", scoped=True, params={"limit": 10}))
    assert listed == [created]


async def test_find_or_create_update_and_delete(rest):
    first = ok(
        await rest(
            "POST",
            "/customers/find-or-create",
            scoped=True,
            json={"email": "Jane@Example.com", "name": "Jane Doe"},
        ),
        201,
    )
    assert list(first) == ["id", "name", "email", "created"]
    assert first["created"] is True and first["email"] == "jane@example.com"
    again = ok(
        await rest(
            "POST", "/customers/find-or-create", scoped=True, json={"email": "jane@example.com"}
        )
    )
    assert again == {**first, "created": False}

    patched = ok(
        await rest(
            "PATCH",
            f"/customers/{first['id']}",
            json={"phone": "08012345678", "isActive": False, "role": "admin"},
        )
    )
    assert patched["phone"] == "+2348012345678" and patched["isActive"] is True  # unknown: ignored
    cleared = ok(await rest("PATCH", f"/customers/{first['id']}", json={"phone": None}))
    assert cleared["phone"] is None

    deleted = ok(await rest("DELETE", f"/customers/{first['id']}"))
    assert deleted["isActive"] is False
    assert ok(await rest("DELETE", f"/customers/{first['id']}"))["isActive"] is False
    assert ok(await rest("GET", "/customers", scoped=True)) == []
    assert ok(await rest("GET", f"/customers/{first['id']}"))["isActive"] is False


async def test_errors_and_statuses(rest, client, other):
    ok(await rest("POST", "/customers", scoped=True, json={"name": "A", "email": "a@x.ng"}), 201)
    error(
        await rest("POST", "/customers", scoped=True, json={"name": "B", "email": "A@x.ng"}),
        409,
        "TAKEN",
        "email",
    )
    error(
        await rest("POST", "/customers", scoped=True, json={"name": "", "email": "a@x.ng"}),
        400,
        "BLANK",
        "name",
    )
    error(
        await rest("POST", "/customers", scoped=True, json={"name": "C", "email": "nope"}),
        400,
        "INVALID",
        "email",
    )
    error(await rest("GET", "/customers"), 400, "BAD_USER_INPUT", "businessId")
    error(
        await rest("GET", "/customers", scoped=True, params={"limit": "x"}),
        400,
        "BAD_USER_INPUT",
        "limit",
    )
    error(
        await rest("GET", "/customers", scoped=True, params={"limit": 101}), 400, "BAD_USER_INPUT"
    )
    error(
        await rest("GET", "/customers/search", scoped=True, params={"q": " "}),
        400,
        "BAD_USER_INPUT",
    )
    error(
        await rest("GET", "/customers", params={"businessId": other.business_id}), 403, "FORBIDDEN"
    )
    error(await rest("GET", "/customers/cust_nope"), 404, "NOT_FOUND", "id")
    error(await rest("PATCH", "/customers/cust_nope", json={"name": "Z"}), 404, "NOT_FOUND", "id")
    error(await rest("DELETE", "/customers/cust_nope"), 404, "NOT_FOUND", "id")
    error(
        await rest(
            "POST",
            "/customers",
            scoped=True,
            content=b"{nope",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "BAD_USER_INPUT",
    )
    error(
        await rest(
            "POST",
            "/customers",
            scoped=True,
            content=b"name=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
        "BAD_USER_INPUT",
    )
    error(await rest("POST", "/customers", scoped=True, json=[1, 2]), 400, "BAD_USER_INPUT")
    unauthenticated = await client.get("/v1/customers", params={"businessId": "x"})
    error(unauthenticated, 401, "UNAUTHENTICATED")
    big = await rest(
        "POST",
        "/customers",
        scoped=True,
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    error(big, 413, "BAD_USER_INPUT")


async def test_foreign_customers_are_missing_over_rest(rest, client, other):
    theirs = ok(
        await Rest(client, other)(
            "POST", "/customers", scoped=True, json={"name": "T", "email": "t@x.ng"}
        ),
        201,
    )
    for method in ("GET", "DELETE"):
        error(await rest(method, f"/customers/{theirs['id']}"), 404, "NOT_FOUND", "id")
    error(
        await rest("PATCH", f"/customers/{theirs['id']}", json={"name": "Mine"}),
        404,
        "NOT_FOUND",
        "id",
    )
    assert ok(await Rest(client, other)("GET", f"/customers/{theirs['id']}"))["name"] == "T"


def _graphql_as_rest(customer: dict) -> dict:
    return {key: customer[key] for key in REFERENCE_FIELDS}


async def test_rest_and_graphql_agree_field_by_field(rest, gql: GraphQL, tenant):
    """One scenario through both APIs: every value of every step is the same."""
    b = tenant.business_id
    via_rest = ok(
        await rest("POST", "/customers", scoped=True, json={**ACME, "email": "rest@acme.com"}), 201
    )
    via_gql = (
        await gql.data(tenant, CREATE, {"b": b, "input": {**ACME, "email": "gql@acme.com"}})
    )["createCustomer"]["customer"]
    for created in (via_rest, via_gql):
        rest_view = ok(await rest("GET", f"/customers/{created['id']}"))
        gql_view = (await gql.data(tenant, GET, {"id": created["id"]}))["customer"]
        assert rest_view == _graphql_as_rest(gql_view)

    change = {"name": "Acme Nigeria", "phone": "0809 555 0101", "tin": None}
    rest_updated = ok(await rest("PATCH", f"/customers/{via_rest['id']}", json=change))
    gql_updated = (await gql.data(tenant, UPDATE, {"id": via_gql["id"], "input": change}))[
        "updateCustomer"
    ]["customer"]
    for key in REFERENCE_FIELDS:
        if key not in ("id", "email", "createdAt"):
            assert rest_updated[key] == gql_updated[key], key

    rest_list = ok(await rest("GET", "/customers", scoped=True))
    gql_list = (
        await gql.data(
            tenant, LIST.replace("id name email", " ".join(REFERENCE_FIELDS)), {"b": b, "n": 50}
        )
    )["customers"]
    assert rest_list == [_graphql_as_rest(c) for c in gql_list]

    rest_search = ok(await rest("GET", "/customers/search", scoped=True, params={"q": "acme"}))
    gql_search = (await gql.data(tenant, SEARCH, {"b": b, "q": "acme"}))["searchCustomers"]
    assert [c["id"] for c in rest_search["customers"]] == [c["id"] for c in gql_search["customers"]]
    assert rest_search["count"] == gql_search["count"] == 2

    rest_found = ok(
        await rest("POST", "/customers/find-or-create", scoped=True, json={"email": "gql@acme.com"})
    )
    gql_found = (
        await gql.data(tenant, FIND_OR_CREATE, {"b": b, "input": {"email": "rest@acme.com"}})
    )["findOrCreateCustomer"]
    assert rest_found["created"] is gql_found["created"] is False
    assert rest_found["id"] == via_gql["id"] and gql_found["customer"]["id"] == via_rest["id"]

    rest_deleted = ok(await rest("DELETE", f"/customers/{via_gql['id']}"))
    gql_deleted = (await gql.data(tenant, DELETE, {"id": via_rest["id"]}))["deleteCustomer"]
    assert rest_deleted["isActive"] is gql_deleted["customer"]["isActive"] is False


async def test_openapi_document_is_public_and_valid(client):
    response = await client.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.") and "/v1/customers/search" in spec["paths"]


async def test_reference_curl_example_against_a_running_server(settings, app, tenant):
    """`curl "$HOST/v1/customers/search?businessId=$BID&q=acme" -H "Authorization: Bearer $KEY"`."""
    async with (
        running_server(production_env()) as server,
        httpx.AsyncClient(base_url=server.url, headers=tenant.headers) as http,
    ):
        created = await http.post(
            "/v1/customers", params={"businessId": tenant.business_id}, json=ACME
        )
        assert created.status_code == 201
        response = await http.get(f"/v1/customers/search?businessId={tenant.business_id}&q=acme")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is True and body["data"]["count"] == 1
    assert list(body["data"]["customers"][0]) == REFERENCE_FIELDS
    assert body["data"]["customers"][0]["email"] == ACME["email"]


SCHEMATHESIS_CONFIG = """
[parameters]
"query.businessId" = "${FINORA_TEST_BUSINESS}"
"""


async def test_responses_match_the_openapi_document(settings, app, tenant, tmp_path):
    """schemathesis against the running service: every response is a documented one."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    st = str(Path(sys.executable).parent / "st")
    # Thousands of requests from one key: lift the rate limit for this server.
    async with running_server(production_env(FINORA_RATE_LIMIT_PER_SECOND="0")) as server:
        env = {**os.environ, "FINORA_TEST_BUSINESS": tenant.business_id}
        result = await asyncio.to_thread(
            subprocess.run,
            [
                st,
                "--config-file",
                str(config),
                "run",
                f"{server.url}/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {tenant.key}",
                "--checks",
                "not_a_server_error,status_code_conformance,"
                "content_type_conformance,response_schema_conformance",
                "--max-examples",
                os.environ.get("FINORA_SCHEMATHESIS_EXAMPLES", "25"),
                "--generation-deterministic",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
