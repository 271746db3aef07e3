"""/metrics: Prometheus counters and histograms per operation, pool gauges, no PII."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.test_api import CREATE, LIST


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
