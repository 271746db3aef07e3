"""The server's log of a whole session holds no PII, even for failing requests."""

from __future__ import annotations

import httpx

from tests.conftest import running_server
from tests.test_api import CREATE, FIND_OR_CREATE, SEARCH, UPDATE
from tests.test_cli import production_env

PII = {
    "email": "Kemi.Adeyemi@Secret-Mail.ng",
    "phone": "08035550142",
    "address": "3 Hidden Close, Asokoro, Abuja",
    "tin": "34567890-0003",
}


async def test_server_log_has_no_pii(settings, app, tenant, raw_db):
    async with (
        running_server(production_env()) as server,
        httpx.AsyncClient(base_url=server.url, headers=tenant.headers) as http,
    ):

        async def post(query: str, variables: dict) -> dict:
            body = {"query": query, "variables": variables}
            return (await http.post("/graphql", json=body)).json()

        b = tenant.business_id
        created = await post(CREATE, {"b": b, "input": {"name": "Kemi", **PII}})
        customer_id = created["data"]["createCustomer"]["customer"]["id"]
        await post(CREATE, {"b": b, "input": {"name": "Kemi", **PII}})  # TAKEN
        bad = {
            "name": "",
            "email": PII["email"] + "@",
            "phone": PII["address"],
            "tin": PII["email"],
        }
        await post(CREATE, {"b": b, "input": bad})
        await post(FIND_OR_CREATE, {"b": b, "input": {"email": PII["email"], "phone": "1"}})
        await post(UPDATE, {"id": customer_id, "input": {"email": PII["tin"]}})
        await post(SEARCH, {"b": b, "q": PII["email"]})
        await post(SEARCH, {"b": "biz_other", "q": PII["email"]})  # FORBIDDEN
        await post("query($n: Int!) { x(n: $n) }", {"n": PII["email"]})  # invalid
        await post(CREATE, {"b": b, "input": {"name": 5, "email": PII["email"]}})  # bad type
        # A masked internal error: the row's ciphertext moved to another row.
        other = await post(CREATE, {"b": b, "input": {"name": "Other", "email": "o@x.ng"}})
        await raw_db.execute(
            "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2",
            customer_id,
            other["data"]["createCustomer"]["customer"]["id"],
        )
        failed = await post(SEARCH, {"b": b, "q": "o@x"})
        assert failed["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    log = server.log
    assert '"path":"/graphql"' in log and "resolver failed" in log  # the log is really there
    for value in (*PII.values(), "+2348035550142", PII["email"].lower()):
        assert value.lower() not in log.lower()
