"""Webhook endpoints over the API, their secrets, the signature, and the SSRF rules."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.services.access import Caller
from app.services.errors import InvalidInput
from app.services.webhooks import MAX_ENDPOINTS, create_endpoint
from app.settings import Settings
from app.webhooks import signing, store
from app.webhooks.addresses import Policy, Refused, check
from tests.conftest import GraphQL, Tenant

CREATE_ENDPOINT = """
mutation($b: ID!, $url: String!, $types: [CustomerEventType!]) {
  createWebhookEndpoint(businessId: $b, url: $url, eventTypes: $types) {
    endpoint { id url eventTypes enabled createdAt } secret userErrors { code field }
  }
}"""
DELETE_ENDPOINT = """
mutation($id: ID!) {
  deleteWebhookEndpoint(id: $id) { deletedEndpointId userErrors { code field } }
}"""
ENDPOINTS = "query($b: ID!) { webhookEndpoints(businessId: $b) { id url eventTypes enabled } }"
CREATE = """
mutation($b: ID!, $i: CreateCustomerInput!) {
  createCustomer(businessId: $b, input: $i) { customer { id } }
}"""
DELETE = "mutation($id: ID!) { deleteCustomer(id: $id) { deletedCustomerId } }"

PRODUCTION = Policy(production=True, allow_private=False)
DEVELOPMENT = Policy(production=False, allow_private=False)
PRIVATE_OK = Policy(production=True, allow_private=True)


async def add(gql: GraphQL, tenant: Tenant, url: str, types: list[str] | None = None) -> dict:
    variables = {"b": tenant.business_id, "url": url, "types": types}
    return (await gql.data(tenant, CREATE_ENDPOINT, variables))["createWebhookEndpoint"]


async def test_create_shows_the_secret_once_and_stores_it_encrypted(gql, tenant, raw_db):
    created = await add(gql, tenant, "http://127.0.0.1:9/hooks")
    endpoint, secret = created["endpoint"], created["secret"]
    assert created["userErrors"] == []
    assert endpoint["id"].startswith("whep_") and endpoint["enabled"] is True
    assert endpoint["eventTypes"] == ["CREATED", "UPDATED", "DELETED", "ERASED"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    listed = await gql.data(tenant, ENDPOINTS, {"b": tenant.business_id})
    assert listed["webhookEndpoints"] == [
        {k: endpoint[k] for k in ("id", "url", "eventTypes", "enabled")}
    ]
    stored = await raw_db.fetchval(
        "SELECT secret FROM webhook_endpoint WHERE id = $1", endpoint["id"]
    )
    assert secret.encode() not in stored and base64.b64decode(secret[6:]) not in stored
    second = await add(gql, tenant, "http://127.0.0.1:9/other")
    assert second["secret"] != secret  # one secret per endpoint


async def test_event_types_choose_what_is_delivered(gql, tenant, raw_db):
    chosen = await add(gql, tenant, "http://127.0.0.1:9/a", ["DELETED", "CREATED"])
    assert chosen["endpoint"]["eventTypes"] == ["CREATED", "DELETED"]
    everything = await add(gql, tenant, "http://127.0.0.1:9/b")
    data = await gql.data(
        tenant, CREATE, {"b": tenant.business_id, "i": {"name": "A", "email": "a@x.ng"}}
    )
    customer_id = data["createCustomer"]["customer"]["id"]
    await gql.data(
        tenant,
        'mutation($id: ID!) { updateCustomer(id: $id, input: {name: "B"}) { customer { id } } }',
        {"id": customer_id},
    )
    await gql.data(tenant, DELETE, {"id": customer_id})
    rows = await raw_db.fetch(
        "SELECT d.endpoint_id, e.type FROM webhook_delivery d"
        " JOIN customer_event e ON e.seq = d.event_id WHERE e.customer_id = $1 ORDER BY e.seq",
        customer_id,
    )
    got = {(r["endpoint_id"], r["type"]) for r in rows}
    a, b = chosen["endpoint"]["id"], everything["endpoint"]["id"]
    assert got == {(a, "CREATED"), (a, "DELETED"), (b, "CREATED"), (b, "UPDATED"), (b, "DELETED")}


async def test_delete_drops_pending_deliveries_and_hides_it(gql, tenant, other, raw_db):
    endpoint_id = (await add(gql, tenant, "http://127.0.0.1:9/x"))["endpoint"]["id"]
    await gql.data(tenant, CREATE, {"b": tenant.business_id, "i": {"name": "A", "email": "d@x.ng"}})
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM webhook_delivery WHERE endpoint_id = $1", endpoint_id
        )
        == 1
    )
    foreign = await gql.data(other, DELETE_ENDPOINT, {"id": endpoint_id})
    assert foreign["deleteWebhookEndpoint"] == {
        "deletedEndpointId": None,
        "userErrors": [{"code": "NOT_FOUND", "field": ["id"]}],
    }
    deleted = await gql.data(tenant, DELETE_ENDPOINT, {"id": endpoint_id})
    assert deleted["deleteWebhookEndpoint"] == {"deletedEndpointId": endpoint_id, "userErrors": []}
    again = await gql.data(tenant, DELETE_ENDPOINT, {"id": endpoint_id})
    assert again["deleteWebhookEndpoint"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM webhook_delivery WHERE endpoint_id = $1", endpoint_id
        )
        == 0
    )
    assert (await gql.data(tenant, ENDPOINTS, {"b": tenant.business_id}))["webhookEndpoints"] == []
    await gql.data(tenant, CREATE, {"b": tenant.business_id, "i": {"name": "A", "email": "e@x.ng"}})
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM webhook_delivery WHERE endpoint_id = $1", endpoint_id
        )
        == 0
    )
    malformed = await gql.data(tenant, DELETE_ENDPOINT, {"id": "nope"})
    assert malformed["deleteWebhookEndpoint"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_another_business_is_forbidden(gql, tenant, other):
    for query, variables in (
        (ENDPOINTS, {"b": other.business_id}),
        (CREATE_ENDPOINT, {"b": other.business_id, "url": "http://127.0.0.1:9/"}),
    ):
        body = (await gql(tenant, query, variables)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.data(other, ENDPOINTS, {"b": other.business_id}))["webhookEndpoints"] == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "BLANK"),
        ("   ", "BLANK"),
        ("http://127.0.0.1/" + "a" * 2000, "TOO_LONG"),
        ("ftp://127.0.0.1/x", "INVALID"),
        ("http://user:pw@127.0.0.1/x", "INVALID"),
        ("http:///nohost", "INVALID"),
        ("http://127.0.0.1:99999/", "INVALID"),
        ("http://10.0.0.7/x", "INVALID"),  # private: only with FINORA_WEBHOOK_ALLOW_PRIVATE
        ("http://169.254.169.254/latest/meta-data", "INVALID"),
        ("http://no-such-host.invalid/x", "INVALID"),
    ],
)
async def test_bad_urls_are_user_errors_and_nothing_is_created(gql, tenant, url, code):
    created = await add(gql, tenant, url)
    assert created["endpoint"] is None and created["secret"] is None
    assert created["userErrors"][0]["code"] == code
    assert (await gql.data(tenant, ENDPOINTS, {"b": tenant.business_id}))["webhookEndpoints"] == []


async def test_empty_event_type_list_is_invalid(gql, tenant):
    created = await add(gql, tenant, "http://127.0.0.1:9/", [])
    assert created["userErrors"] == [{"code": "INVALID", "field": ["eventTypes"]}]


async def test_endpoints_per_business_are_bounded(tenant):
    caller = Caller(tenant.business_id, "test")
    for n in range(MAX_ENDPOINTS):
        await create_endpoint(
            caller, business_id=tenant.business_id, url=f"http://127.0.0.1:9/{n}", event_types=None
        )
    with pytest.raises(InvalidInput) as refused:
        await create_endpoint(
            caller, business_id=tenant.business_id, url="http://127.0.0.1:9/x", event_types=None
        )
    assert refused.value.errors[0].code == "INVALID"


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hooks",  # http
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.1/hooks",
        "https://192.168.1.1/hooks",
        "https://100.64.0.1/hooks",  # shared address space
        "https://169.254.169.254/hooks",  # link-local: cloud metadata
        "https://[fe80::1]/hooks",
        "https://[fc00::1]/hooks",
        "https://0.0.0.0/hooks",
        "https://240.0.0.1/hooks",  # reserved
        "https://224.0.0.1/hooks",  # multicast
        # IPv6 forms that reach an IPv4 host behind NAT64 or a 6to4 relay, and
        # reserved or site-local ones (the security review's list):
        "https://[fec0::1]/hooks",  # site-local
        "https://[::127.0.0.1]/hooks",  # IPv4-compatible
        "https://[::ffff:0:127.0.0.1]/hooks",  # IPv4-translated
        "https://[64:ff9b::127.0.0.1]/hooks",  # NAT64
        "https://[64:ff9b::169.254.169.254]/hooks",
        "https://[64:ff9b:1::a00:1]/hooks",  # NAT64, local use
        "https://[2002:7f00:1::1]/hooks",  # 6to4 of 127.0.0.1
        "https://[2002:a9fe:a9fe::1]/hooks",  # 6to4 of 169.254.169.254
        "https://[::]/hooks",
        "https://[4000::1]/hooks",  # reserved (unassigned)
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",  # Teredo
    ],
)
async def test_production_refuses_http_and_non_public_addresses(url):
    with pytest.raises(Refused):
        await check(url, PRODUCTION)
    await check(url, PRIVATE_OK)  # FINORA_WEBHOOK_ALLOW_PRIVATE=1 lifts both rules


async def test_production_accepts_https_to_a_public_address():
    target = await check("https://93.184.216.34:8443/in?a=1", PRODUCTION)
    assert target.host_header == "93.184.216.34:8443" and target.target == "/in?a=1"
    for public in ("2606:4700::1111", "64:ff9b::8.8.8.8", "2002:808:808::1"):
        await check(f"https://[{public}]/in", PRODUCTION)  # carrying a public IPv4


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::ffff:0:127.0.0.1", "127.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),
        ("64:ff9b::169.254.169.254", "169.254.169.254"),
        ("64:ff9b:1::a00:1", "10.0.0.1"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("2002:7f00:1::1", "127.0.0.1"),
        ("2606:4700::1111", None),
    ],
)
def test_the_ipv4_address_an_ipv6_form_carries(address, carried):
    import ipaddress

    from app.webhooks.addresses import embedded_ipv4

    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert (str(found) if found else None) == carried


async def test_a_name_that_does_not_resolve_and_a_forbidden_address_get_one_answer(tenant):
    """Endpoint creation must not tell which internal names exist."""
    caller = Caller(tenant.business_id, "test")
    answers = []
    for url in ("http://no-such-host.invalid/x", "http://10.0.0.7/x", "http://[fec0::1]/x"):
        with pytest.raises(InvalidInput) as refused:
            await create_endpoint(caller, business_id=tenant.business_id, url=url, event_types=None)
        answers.append([(e.field, e.code, e.message) for e in refused.value.errors])
    assert answers[0] == answers[1] == answers[2]


def test_a_worker_left_to_its_defaults_applies_production_url_rules():
    """FINORA_ENV unset is development for the server (on loopback only), but the worker
    then applies production's rules; `finora dev` tells its worker it is development."""
    unset = Settings.from_env({})
    assert Policy.from_settings(unset, unset_is_production=True) == PRODUCTION
    assert Policy.from_settings(unset) == DEVELOPMENT
    told = Settings.from_env({"FINORA_ENV": "development"})
    assert Policy.from_settings(told, unset_is_production=True) == DEVELOPMENT


async def test_development_allows_http_and_loopback_only():
    await check("http://127.0.0.1:8080/x", DEVELOPMENT)
    await check("http://localhost/x", DEVELOPMENT)
    for url in ("http://10.0.0.1/x", "http://169.254.169.254/x", "http://[fe80::1]/x"):
        with pytest.raises(Refused):
            await check(url, DEVELOPMENT)


def test_policy_and_schedule_come_from_the_environment():
    env = {"FINORA_ENV": "production", "FINORA_WEBHOOK_ALLOW_PRIVATE": "1"}
    assert Policy.from_settings(Settings.from_env(env)) == PRIVATE_OK
    assert Settings.from_env({"FINORA_WEBHOOK_RETRY_SECONDS": "1,1,2"}).webhook_retry_seconds == (
        1,
        1,
        2,
    )
    assert Settings.from_env({}).webhook_retry_seconds[:2] == (5, 300)


def test_retry_schedule_counts_attempts_and_jitters():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = (1.0, 1.0, 2.0)  # four attempts in all
    third = [store.next_attempt(3, schedule, now) - now for _ in range(200)]
    assert all(timedelta(seconds=1.8) <= d <= timedelta(seconds=2.2) for d in third)
    assert len(set(third)) > 1  # jitter
    assert store.next_attempt(4, schedule, now) is None


def test_signature_verifies_with_the_standard_webhooks_library():
    secret = signing.new_secret()
    body = b'{"type":"customer.created"}'
    now = int(time.time())
    headers = signing.headers(secret, "evt_abc", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "customer.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


@pytest.fixture
def receiver():
    from tests.receiver import Receiver

    started = Receiver().start()
    yield started
    started.stop()


async def test_sender_connects_to_the_checked_address_with_the_name_as_host(receiver):
    from app.webhooks.sender import Session

    secret = signing.new_secret()
    receiver.control(secret=secret)
    url = f"http://localhost:{receiver.port}/hooks?x=1"  # may resolve to ::1 first: falls back
    async with await Session.open(url, DEVELOPMENT) as session:
        assert all("localhost" not in u for u in session.urls)  # the address, not the name
        outcome = await session.send(secret, "evt_one", b'{"a": 1}')
    assert outcome.delivered and outcome.status == 200
    [got] = receiver.got()
    assert (got.host, got.path, got.id, got.verified) == (
        f"localhost:{receiver.port}",
        "/hooks?x=1",
        "evt_one",
        True,
    )


@pytest.mark.parametrize(("status", "gone"), [(302, False), (500, False), (410, True)])
async def test_redirects_and_errors_are_not_delivered(receiver, status, gone):
    from app.webhooks.sender import Session

    receiver.control(status=status)
    async with await Session.open(receiver.url, DEVELOPMENT) as session:
        outcome = await session.send(signing.new_secret(), "evt_x", b"{}")
    assert (outcome.status, outcome.delivered, outcome.gone) == (status, False, gone)
    assert receiver.requests() == 1  # no redirect followed


async def test_a_closed_port_is_no_answer():
    from app.webhooks.sender import Session
    from tests.receiver import free_port

    async with await Session.open(f"http://127.0.0.1:{free_port()}/", DEVELOPMENT) as session:
        outcome = await session.send(signing.new_secret(), "evt_x", b"{}")
    assert (outcome.status, outcome.delivered) == (None, False)


def test_lock_keys_are_64_bit_under_their_class():
    from app.db.migrate import MIGRATION_LOCK

    ids = [f"whep_{n:022d}" for n in range(10_000)]
    keys = {store.lock_key(endpoint_id) for endpoint_id in ids}
    assert len(keys) == len(ids)  # 56 bits of hash: no two agree
    assert all(key >> 56 == store.LOCK_CLASS and 0 < key < 2**63 for key in keys)
    assert max(keys) - min(keys) > 2**40  # the hash is spread over far more than 32 bits
    assert store.lock_key(ids[0]) == store.lock_key(ids[0])  # the same in every worker
    assert MIGRATION_LOCK >> 56 == 0x46 != store.LOCK_CLASS  # the classes cannot meet


async def test_endpoints_that_agree_under_hashtext_lock_apart(raw_db, database_url):
    """Two endpoint ids with the same 32-bit hashtext (found by brute force in
    PostgreSQL: 300,000 ids make a pair all but surely) and 1,000 others: each is
    locked independently, and one endpoint is still locked by one connection only."""
    import asyncpg

    from app.settings import parse_database_url

    pair = await raw_db.fetchval(
        "SELECT array_agg(s) FROM (SELECT 'whep_' || substr(md5(i::text), 1, 22) AS s"
        " FROM generate_series(1, 300000) AS i) AS ids GROUP BY hashtext(s)"
        " HAVING count(*) > 1 LIMIT 1"
    )
    a, b = pair[:2]
    assert await raw_db.fetchval("SELECT hashtext($1) = hashtext($2)", a, b)
    others = [f"whep_{n:022d}" for n in range(1000)]
    first, second = [await asyncpg.connect(**parse_database_url(database_url)) for _ in "12"]
    try:
        assert await store.try_lock(first, a)
        assert await store.try_lock(second, b)  # hashtext agrees; the key does not
        assert not await store.try_lock(second, a)  # an endpoint is still one sender's
        assert all([await store.try_lock(first, endpoint_id) for endpoint_id in others[:500]])
        assert all([await store.try_lock(second, endpoint_id) for endpoint_id in others[500:]])
        held = await raw_db.fetch(
            "SELECT (classid::bigint << 32 | objid::bigint) AS key, objsubid FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = $1",
            first.get_server_pid(),
        )
        assert {row["key"] for row in held} == {store.lock_key(i) for i in [a, *others[:500]]}
        assert {row["objsubid"] for row in held} == {1}  # the single-bigint form
        await store.unlock(first, a)
        assert await store.try_lock(second, a)
    finally:
        await first.close()
        await second.close()
