"""What the process keeps of clients' documents is bounded (schema/documents.py,
schema/bounded.py), and documents holding a string literal are kept nowhere."""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
import psutil

from app.http.app import create_web_app
from schema import documents
from schema.bounded import BoundedStore
from schema.http import GraphQLView
from schema.persisted import sha256_hex
from schema.schema import build_schema
from tests.conftest import GraphQL, running_server
from tests.test_cli import production_env


def test_the_store_is_bounded_in_entries_and_weight():
    store: BoundedStore[str] = BoundedStore(max_entries=100, max_weight=16_000)
    for n in range(10_000):  # a flood of distinct documents
        store.put(f"k{n}", "x", 50)
    assert len(store) == 100 and store.get("k9999") == "x" and store.get("k0") is None
    for n in range(1_000):  # the heaviest that are kept: a sixteenth of the store each
        store.put(f"big{n}", "y", 1_000)
    assert store.weight <= 16_000 and len(store) == 16
    store.put("huge", "z", 1_001)  # heavier than a sixteenth: not kept, nothing evicted
    assert store.get("huge") is None and len(store) == 16


def test_a_document_weighs_its_text_and_its_tokens_and_literals_are_never_kept():
    query = "query($b: ID!) { customers(businessId: $b) { id } }"
    tokens = 22  # 20 punctuators and names, with <SOF> and <EOF>
    assert documents.weight(query, documents.parse(query)) == len(query) + 400 * tokens
    literal = 'query { customers(businessId: "biz_x") { id } }'
    assert documents.weight(literal, documents.parse(literal)) is None
    block = 'query { searchCustomers(businessId: "b", q: """ada@x.ng""") { count } }'
    assert documents.weight(block, documents.parse(block)) is None


def _comment(size: int, tag: str) -> str:
    return "#" + "x" * size + f"\n{{ __typename }} # {tag}"


async def test_a_document_longer_than_the_limit_is_refused_before_it_is_parsed(
    gql, tenant, monkeypatch
):
    parsed = []
    real = documents.parse
    monkeypatch.setattr(documents, "parse", lambda *a, **k: parsed.append(1) or real(*a, **k))
    response = await gql(tenant, _comment(900_000, "long"))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"] == "The document is longer than 50,000 characters."
    assert parsed == []
    fits = await gql(tenant, _comment(documents.MAX_QUERY_CHARS - 100, uuid.uuid4().hex))
    assert fits.json() == {"data": {"__typename": "Query"}}


async def test_documents_with_a_string_literal_are_neither_cached_compiled_nor_persisted(
    settings, tenant, app
):
    """After an erasure nothing of the customer may be reachable: a literal can be an
    email, so such a document is kept nowhere; the same shape with variables is."""
    view = GraphQLView(build_schema(), graphql_ide=None, allow_queries_via_get=True)
    web = create_web_app(replace(settings, rate_per_second=0), view)  # the ORM is open
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://t")
    gql = GraphQL(client)
    tag = uuid.uuid4().hex[:8]
    literal = f'query L{tag} {{ searchCustomers(businessId: "{tenant.business_id}", q: "ada@x.ng") {{ count }} }}'  # noqa: E501
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(literal)}}
    for _ in range(2):
        sent = await client.post(
            "/graphql", json={"query": literal, "extensions": hashed}, headers=tenant.headers
        )
        assert sent.json()["data"]["searchCustomers"]["count"] == 0
    alone = await client.post("/graphql", json={"extensions": hashed}, headers=tenant.headers)
    assert alone.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert literal not in documents.DOCUMENTS
    assert (literal, None) not in view.plans
    assert all(key[1] != sha256_hex(literal) for key in view.persisted.local._items)

    variables = f"query V{tag}($b: ID!, $q: String!) {{ searchCustomers(businessId: $b, q: $q) {{ count }} }}"  # noqa: E501
    for _ in range(2):
        await gql(tenant, variables, {"b": tenant.business_id, "q": "ada@x.ng"})
    assert variables in documents.DOCUMENTS and (variables, None) in view.plans
    await client.aclose()


async def test_a_worker_does_not_grow_with_large_distinct_documents(tenant):
    """The review's attack on a real server: 200 documents of about 900 KB (one long
    comment each) grew a worker from 140 to 454 MiB.  Now those are refused before
    parsing, and 300 distinct documents just under the limit fill the cache only up
    to its bound."""
    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0")
    async with running_server(env) as server:
        process = psutil.Process(server.process.pid)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {tenant.key}"}
            warm = await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
            assert warm.status_code == 200
            before = process.memory_info().rss
            for n in range(200):
                body = {"query": _comment(900_000, f"{n}")}
                assert (await http.post("/graphql", json=body, headers=headers)).status_code == 400
            for n in range(300):
                body = {"query": _comment(documents.MAX_QUERY_CHARS - 100, f"{n}")}
                assert (await http.post("/graphql", json=body, headers=headers)).status_code == 200
            grown = (process.memory_info().rss - before) / 2**20
    assert grown < 64, f"the worker grew {grown:.0f} MiB"
