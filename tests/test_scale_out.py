"""Scale-out on real processes: `finora serve` processes behind a real HAProxy
(tests/cluster.py), with the database the test suite made."""

from __future__ import annotations

import httpx

from tests.cluster import cluster
from tests.conftest import make_tenant

LIST = "query($b: ID!) { customers(businessId: $b, limit: 5) { id } }"


async def test_haproxy_spreads_requests_over_both_servers(app, database_url):
    tenant = await make_tenant("Spread")
    async with cluster(database_url, servers=2, env={"FINORA_RATE_LIMIT_PER_SECOND": "0"}) as c:
        async with httpx.AsyncClient(base_url=c.url, timeout=30) as http:
            for _ in range(20):
                answer = await http.post(
                    "/graphql",
                    json={"query": LIST, "variables": {"b": tenant.business_id}},
                    headers=tenant.headers,
                )
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        assert await c.states() == {"s0": "UP", "s1": "UP"}
        # Round robin: each answered about half, by its own log and by HAProxy's.
        served = [s.served() for s in c.servers]
        assert sum(served) == 20 and min(served) >= 5, served
        for server in c.servers:
            assert f"finora/{server.name} " in c.haproxy_output(), c.haproxy_output()
