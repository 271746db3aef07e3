"""/metrics: Prometheus counters and histograms per operation, pool gauges, no PII, a credential."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import running_server
from tests.test_api import CREATE, LIST
from tests.test_cli import production_env


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def count(text: str, operation: str, status: str) -> float:
    key = ("finora_requests_total", (("operation", operation), ("status", status)))
    return samples(text).get(key, 0.0)


async def test_metrics_count_operations_without_pii(client, gql, tenant):
    before = (await client.get("/metrics")).text
    secret = "metrics.secret.person@example.com"
    await gql(tenant, CREATE, {"b": tenant.business_id, "input": {"name": "M", "email": secret}})
    await gql(tenant, LIST, {"b": tenant.business_id, "n": 5})
    await gql(tenant, LIST, {"b": "biz_notmine", "n": 5})
    await client.get(
        "/v1/customers", params={"businessId": tenant.business_id}, headers=tenant.headers
    )
    await client.get(f"/v1/customers/search?businessId=x&q={secret}")  # 401
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    assert (
        count(after, "graphql.mutation.createCustomer", "200")
        == count(before, "graphql.mutation.createCustomer", "200") + 1
    )
    assert count(after, "graphql.query.customers", "200") >= 2
    assert count(after, "rest.list_customers", "200") >= 1
    # Refused before any handler ran: counted, under no request-derived label.
    assert count(after, "other", "401") == count(before, "other", "401") + 1
    assert "finora_request_duration_seconds_bucket" in after
    assert samples(after)[("finora_db_pool_connections", ())] >= 1
    assert secret not in after and tenant.business_id not in after


def operations(text: str) -> set[str]:
    return {
        dict(labels)["operation"]
        for (name, labels), _ in samples(text).items()
        if name == "finora_requests_total"
    }


async def test_the_label_is_the_operation_that_ran(client, gql, tenant):
    document = """
      query Few($b: ID!) { customers(businessId: $b, limit: 1) { id } }
      query Page($b: ID!) { customerConnection(businessId: $b, first: 1) { totalCount } }
      mutation Wipe { deleteCustomer(id: "cust_nope") { deletedCustomerId } }
    """
    before = (await client.get("/metrics")).text
    body = {"query": document, "operationName": "Page", "variables": {"b": tenant.business_id}}
    assert (await client.post("/graphql", json=body, headers=tenant.headers)).status_code == 200
    spread = (
        "query($b: ID!) { ...Root } fragment Root on Query { customers(businessId: $b) { id } }"
    )
    await gql.data(tenant, spread, {"b": tenant.business_id})
    after = (await client.get("/metrics")).text
    assert count(after, "graphql.query.customerConnection", "200") == (
        count(before, "graphql.query.customerConnection", "200") + 1
    )
    assert count(after, "graphql.query.customers", "200") == (
        count(before, "graphql.query.customers", "200") + 1
    )
    # Nothing named after operations that did not run, or after all of them at once.
    for merged in ("customerConnection+customers", "customerConnection+customers+deleteCustomer"):
        label = f"graphql.query.{merged}"
        assert count(after, label, "200") == count(before, label, "200")
    assert "graphql.query.deleteCustomer" not in operations(after)
    wipe = "graphql.mutation.deleteCustomer"
    assert [count(after, wipe, status) for status in ("200", "400")] == [
        count(before, wipe, status) for status in ("200", "400")
    ]


async def test_development_serves_metrics_to_loopback_only(app):
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as remote:
        refused = await remote.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "finora_requests_total" not in refused.text


async def test_metrics_need_the_token_when_one_is_set(settings, app):
    token = "metrics-token-for-the-test"
    async with (
        running_server(production_env(FINORA_METRICS_TOKEN=token)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert right.status_code == 200 and "finora_requests_total" in right.text
    assert "finora_open_connections" in right.text


def test_request_stats_count_buckets_as_prometheus_does_and_cap_operations():
    """Plain-number stats, exposed in Prometheus' text format: a value on a bound is in
    that bound's bucket (le), past the last only in +Inf; operations past the cap are "other"."""
    from prometheus_client import CollectorRegistry, generate_latest

    from app.http.metrics import RequestStats

    stats = RequestStats(buckets=(0.01, 0.1), max_operations=2)
    registry = CollectorRegistry()
    registry.register(stats)
    for seconds in (0.01, 0.05, 0.1, 3.0):
        stats.record("a", 200, seconds)
    stats.record("b", 500, 0.2)
    stats.record("c", 200, 0.001)  # a third operation: over the cap
    found = samples(generate_latest(registry).decode())
    bucket, total = "finora_request_duration_seconds_bucket", "finora_request_duration_seconds_sum"
    buckets = [found[(bucket, (("le", le), ("operation", "a")))] for le in ("0.01", "0.1", "+Inf")]
    assert buckets == [1, 3, 4]
    assert found[(total, (("operation", "a"),))] == pytest.approx(3.16)
    assert found[("finora_requests_total", (("operation", "a"), ("status", "200")))] == 4
    assert found[("finora_requests_total", (("operation", "b"), ("status", "500")))] == 1
    assert found[("finora_requests_total", (("operation", "other"), ("status", "200")))] == 1
    assert not any(dict(labels).get("operation") == "c" for _, labels in found)
