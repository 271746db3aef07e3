"""Automatic persisted queries (Apollo's protocol) by POST and GET, over the real app."""

from __future__ import annotations

import json
import uuid

from schema.persisted import sha256_hex
from tests.test_api import create

NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}


def _query(tag: str) -> str:
    """A document of its own per test (the store lives as long as the app)."""
    return f"query Q{tag}($b: ID!) {{ customers(businessId: $b, limit: 2) {{ id name }} }}"


def _ext(query: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}


async def test_unknown_hash_then_hash_and_query_then_hash_alone(client, gql, tenant):
    await create(gql, tenant, name="Ada P", email="ada.p@example.ng")
    query = _query(uuid.uuid4().hex[:8])
    variables = {"b": tenant.business_id}
    for accept in ("application/json", "application/graphql-response+json"):
        response = await client.post(
            "/graphql",
            json={"variables": variables, "extensions": _ext(query)},
            headers={**tenant.headers, "accept": accept},
        )
        assert response.status_code == 200
        assert response.json() == NOT_FOUND
    registered = await client.post(
        "/graphql",
        json={"query": query, "variables": variables, "extensions": _ext(query)},
        headers=tenant.headers,
    )
    expected = {"data": {"customers": [{"id": registered.json()["data"]["customers"][0]["id"],
                                        "name": "Ada P"}]}}  # fmt: skip
    assert registered.json() == expected
    for _ in range(2):  # the general path once, then the compiled plan: the same answer
        by_post = await client.post(
            "/graphql", json={"variables": variables, "extensions": _ext(query)},
            headers=tenant.headers,
        )  # fmt: skip
        by_get = await client.get(
            "/graphql",
            params={"variables": json.dumps(variables), "extensions": json.dumps(_ext(query))},
            headers=tenant.headers,
        )
        assert by_post.status_code == by_get.status_code == 200
        assert by_post.content == by_get.content == registered.content


async def test_unknown_hash_by_get(client, tenant):
    query = _query(uuid.uuid4().hex[:8])
    response = await client.get(
        "/graphql", params={"extensions": json.dumps(_ext(query))}, headers=tenant.headers
    )
    assert (response.status_code, response.json()) == (200, NOT_FOUND)


async def test_a_hash_that_does_not_match_is_refused_and_not_stored(client, tenant):
    query, other = _query(uuid.uuid4().hex[:8]), _query(uuid.uuid4().hex[:8])
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"b": tenant.business_id}, "extensions": _ext(other)},
        headers=tenant.headers,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "sha256Hash" in response.json()["errors"][0]["message"]
    for hashed in (query, other):
        again = await client.post(
            "/graphql", json={"extensions": _ext(hashed)}, headers=tenant.headers
        )
        assert again.json() == NOT_FOUND


async def test_documents_that_fail_validation_or_a_limit_are_not_stored(client, tenant):
    too_deep = 'query { customers(businessId: "x") { ' + "id " * 70 + "} }"  # width limit
    for query in ("query { customers { nope } }", "query {", too_deep):
        response = await client.post(
            "/graphql", json={"query": query, "extensions": _ext(query)}, headers=tenant.headers
        )
        assert response.status_code == 400
        code = response.json()["errors"][0]["extensions"]["code"]
        assert code in ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED")
        again = await client.post("/graphql", json={"extensions": _ext(query)},
                                  headers=tenant.headers)  # fmt: skip
        assert again.json() == NOT_FOUND


async def test_bad_versions_and_hashes_are_refused(client, tenant):
    for persisted in (
        {"version": 2, "sha256Hash": "0" * 64},
        {"sha256Hash": "0" * 64},
        {"version": 1, "sha256Hash": "abc"},
        {"version": 1, "sha256Hash": 5},
        "yes",
    ):
        response = await client.post(
            "/graphql", json={"extensions": {"persistedQuery": persisted}}, headers=tenant.headers
        )
        assert response.status_code == 400, persisted
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_key_is_checked_before_any_persisted_query(client):
    response = await client.post("/graphql", json={"extensions": _ext("query { x }")})
    assert response.status_code == 401


async def test_a_browser_get_with_a_known_hash_never_runs_it_without_a_key(client, tenant):
    """GraphiQL's page is served keyless to a browser GET without `query`: a persisted
    hash in such a GET must not slip past the key check."""
    query = _query(uuid.uuid4().hex[:8])
    variables = json.dumps({"b": tenant.business_id})
    await client.post(
        "/graphql",
        json={"query": query, "variables": {"b": tenant.business_id}, "extensions": _ext(query)},
        headers=tenant.headers,
    )
    params = {"extensions": json.dumps(_ext(query)), "variables": variables}
    browser = await client.get("/graphql", params=params, headers={"accept": "text/html"})
    # The page (or, from a host that is not this machine, its refusal): never an answer.
    assert browser.headers["content-type"].startswith(("text/html", "text/plain"))
    assert '"data"' not in browser.text and tenant.business_id not in browser.text
    keyless = await client.get("/graphql", params=params)
    assert keyless.status_code == 401


async def test_another_business_probing_a_hash_learns_nothing(client, tenant, other):
    """The store is keyed by business: B asking for the hash of A's search is answered
    exactly as for a hash nobody ever sent, never FORBIDDEN (which told B that A had
    run that document)."""
    query = _query(uuid.uuid4().hex[:8])
    sent = {"query": query, "variables": {"b": tenant.business_id}, "extensions": _ext(query)}
    assert (await client.post("/graphql", json=sent, headers=tenant.headers)).status_code == 200
    again = {"variables": {"b": tenant.business_id}, "extensions": _ext(query)}
    assert "data" in (await client.post("/graphql", json=again, headers=tenant.headers)).json()
    probe = await client.post("/graphql", json=again, headers=other.headers)
    never = {"variables": {"b": tenant.business_id}, "extensions": _ext(query + " ")}
    unknown = await client.post("/graphql", json=never, headers=other.headers)
    assert probe.status_code == unknown.status_code == 200
    assert probe.json() == unknown.json() == NOT_FOUND
