"""Outbound webhook operations: deliveries listed, endpoints updated, secrets rotated,
pings, retries; the rules against the services, then over the API with a real
`finora worker` and a real receiver (tests.receiver)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.models import WebhookEndpoint
from app.services import webhooks
from app.services.access import Caller, Scope
from app.services.errors import BadUserInput, Forbidden, InvalidInput
from app.webhooks import payload
from tests.conftest import GraphQL, Tenant, make_tenant
from tests.receiver import Receiver
from tests.workers import eventually, running_worker

CLOSED = "http://127.0.0.1:9/hooks"  # nothing listens: no worker runs in the service tests

CREATE_ENDPOINT = """
mutation($b: ID!, $url: String!, $types: [CustomerEventType!]) {
  createWebhookEndpoint(businessId: $b, url: $url, eventTypes: $types) {
    endpoint { id } secret userErrors { code field }
  }
}"""
CREATE = """
mutation($b: ID!, $i: CreateCustomerInput!) {
  createCustomer(businessId: $b, input: $i) { customer { id } userErrors { code } }
}"""
EVENTS = """
query($b: ID!) { customerEvents(businessId: $b, first: 100) { nodes { id type customerId } } }"""
DELIVERY_FIELDS = """id endpointId eventId type status attempts lastAttemptAt lastStatusCode
nextAttemptAt createdAt"""
DELIVERIES = f"""
query($e: ID!, $first: Int! = 20, $after: String, $status: WebhookDeliveryStatus) {{
  webhookDeliveries(endpointId: $e, first: $first, after: $after, status: $status) {{
    edges {{ cursor node {{ id }} }}
    nodes {{ {DELIVERY_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
UPDATE_ENDPOINT = """
mutation($id: ID!, $url: String, $types: [CustomerEventType!], $enabled: Boolean) {
  updateWebhookEndpoint(id: $id, url: $url, eventTypes: $types, enabled: $enabled) {
    endpoint { id url eventTypes enabled } secret userErrors { code field }
  }
}"""
ROTATE = """
mutation($id: ID!) {
  rotateWebhookEndpointSecret(id: $id) { endpoint { id } secret userErrors { code field } }
}"""
PING = f"""
mutation($id: ID!) {{
  pingWebhookEndpoint(id: $id) {{ delivery {{ {DELIVERY_FIELDS} }} userErrors {{ code field }} }}
}}"""
RETRY = f"""
mutation($id: ID!) {{
  retryWebhookDelivery(id: $id) {{ delivery {{ {DELIVERY_FIELDS} }} userErrors {{ code field }} }}
}}"""


def owner(tenant: Tenant, scope: Scope = Scope.WRITE) -> Caller:
    return Caller(tenant.business_id, "test", scope)


async def new_endpoint(tenant: Tenant, url: str = CLOSED, types: list[str] | None = None) -> str:
    endpoint, _ = await webhooks.create_endpoint(
        owner(tenant), business_id=tenant.business_id, url=url, event_types=types
    )
    return endpoint.id


async def create(gql: GraphQL, tenant: Tenant, n: int) -> str:
    """A customer made over the API (its CREATED event fans out to the endpoints)."""
    while True:
        variables = {"b": tenant.business_id, "i": {"name": f"C {n}", "email": f"c{n}@ops.ng"}}
        response = await gql(tenant, CREATE, variables)
        if response.status_code != 429:  # the key's rate limit: nothing was done, again
            break
        await asyncio.sleep(0.05)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]["createCustomer"]["customer"]["id"]


async def rows(raw_db, endpoint_id: str) -> list[tuple]:
    """(status, attempts, last_status, is a ping) of the endpoint's deliveries, oldest first."""
    found = await raw_db.fetch(
        "SELECT status, attempts, last_status, event_id IS NULL AS ping FROM webhook_delivery"
        " WHERE endpoint_id = $1 ORDER BY id",
        endpoint_id,
    )
    return [tuple(r) for r in found]


async def deliveries(gql: GraphQL, tenant: Tenant, endpoint_id: str, **more: object) -> dict:
    data = await gql.data(tenant, DELIVERIES, {"e": endpoint_id, **more})
    return data["webhookDeliveries"]


def codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


# The rules, against the services ------------------------------------------------


async def test_update_changes_only_what_is_given(tenant, gql, raw_db):
    endpoint_id = await new_endpoint(tenant, types=["CREATED"])
    caller = owner(tenant)
    same = await webhooks.update_endpoint(caller, endpoint_id=endpoint_id)
    assert (same.url, same.event_types, same.enabled) == (CLOSED, ["CREATED"], True)
    moved = await webhooks.update_endpoint(
        caller, endpoint_id=endpoint_id, url="  http://127.0.0.1:9/moved  "
    )
    assert (moved.url, moved.event_types, moved.enabled) == (
        "http://127.0.0.1:9/moved",
        ["CREATED"],
        True,
    )
    retyped = await webhooks.update_endpoint(
        caller, endpoint_id=endpoint_id, event_types=["UPDATED", "CREATED"]
    )
    assert retyped.event_types == ["CREATED", "UPDATED"]  # in the contract's order
    off = await webhooks.update_endpoint(caller, endpoint_id=endpoint_id, enabled=False)
    assert (off.url, off.event_types, off.enabled) == (
        "http://127.0.0.1:9/moved",
        retyped.event_types,
        False,
    )
    stored = await WebhookEndpoint.get(id=endpoint_id)
    assert (stored.url, stored.event_types, stored.enabled) == (
        "http://127.0.0.1:9/moved",
        ["CREATED", "UPDATED"],
        False,
    )


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"url": "  "}, ["url"], "BLANK"),
        ({"url": "http://127.0.0.1/" + "a" * 2000}, ["url"], "TOO_LONG"),
        ({"url": "ftp://127.0.0.1/x"}, ["url"], "INVALID"),
        ({"url": "http://10.0.0.7/x"}, ["url"], "INVALID"),  # the SSRF rules, as at create
        ({"url": "http://169.254.169.254/latest"}, ["url"], "INVALID"),
        ({"event_types": []}, ["eventTypes"], "INVALID"),
    ],
)
async def test_update_applies_the_rules_of_create_and_changes_nothing_on_error(
    tenant, change, field, code
):
    endpoint_id = await new_endpoint(tenant)
    with pytest.raises(InvalidInput) as refused:
        await webhooks.update_endpoint(owner(tenant), endpoint_id=endpoint_id, **change)
    assert [(list(e.field or ()), e.code) for e in refused.value.errors] == [(field, code)]
    stored = await WebhookEndpoint.get(id=endpoint_id)
    assert (stored.url, len(stored.event_types)) == (CLOSED, 4)


async def test_another_business_or_no_endpoint_is_not_found(tenant, other):
    endpoint_id = await new_endpoint(tenant)
    stranger = owner(other)
    for unknown in (endpoint_id, "whep_AAAAAAAAAAAAAAAAAAAAAA", "nope"):
        for call in (
            webhooks.update_endpoint(stranger, endpoint_id=unknown, enabled=False),
            webhooks.rotate_secret(stranger, endpoint_id=unknown),
            webhooks.ping_endpoint(stranger, endpoint_id=unknown),
        ):
            with pytest.raises(InvalidInput) as refused:
                await call
            assert [(e.field, e.code) for e in refused.value.errors] == [(("id",), "NOT_FOUND")]
    page = await webhooks.delivery_page(
        stranger, endpoint_id=endpoint_id, first=20, after=None, status=None
    )
    assert page.deliveries == [] and not page.has_next_page
    assert (await WebhookEndpoint.get(id=endpoint_id)).enabled  # nothing changed


async def test_rotation_keeps_the_replaced_secret_for_a_day(tenant):
    caller = owner(tenant)
    endpoint, first = await webhooks.create_endpoint(
        caller, business_id=tenant.business_id, url=CLOSED, event_types=None
    )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    _, second = await webhooks.rotate_secret(caller, endpoint_id=endpoint.id, now=at)
    stored = await WebhookEndpoint.get(id=endpoint.id)
    assert second.startswith("whsec_") and second != first
    assert (stored.secret, stored.previous_secret) == (second, first)
    assert stored.previous_until == at + timedelta(hours=24)
    later = at + timedelta(hours=2)
    _, third = await webhooks.rotate_secret(caller, endpoint_id=endpoint.id, now=later)
    stored = await WebhookEndpoint.get(id=endpoint.id)
    # Twice within the day: the one replaced now is kept, the first is gone.
    assert (stored.secret, stored.previous_secret) == (third, second)
    assert stored.previous_until == later + timedelta(hours=24)


async def test_a_ping_is_a_delivery_without_an_event(tenant, raw_db):
    endpoint_id = await new_endpoint(tenant)
    events_before = await raw_db.fetchval(
        "SELECT count(*) FROM customer_event WHERE business_id = $1", tenant.business_id
    )
    ping = await webhooks.ping_endpoint(owner(tenant), endpoint_id=endpoint_id)
    assert ping.id.startswith("whdl_") and len(ping.id) == 5 + 32
    assert (ping.endpoint_id, ping.event_id, ping.type, ping.status) == (
        endpoint_id,
        None,
        "webhook.ping",
        "PENDING",
    )
    assert (ping.attempts, ping.last_attempt_at, ping.last_status_code) == (0, None, None)
    assert ping.next_attempt_at is not None
    assert ping.next_attempt_at <= datetime.now(UTC)  # due now
    assert await rows(raw_db, endpoint_id) == [("pending", 0, None, True)]
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM customer_event WHERE business_id = $1", tenant.business_id
        )
        == events_before
    )  # no change event


async def test_ping_body_names_the_endpoint_only():
    at = datetime(2026, 12, 7, 12, 0, 1, 250000, tzinfo=UTC)
    body = payload.ping_body({"endpoint_id": "whep_x", "created_at": at})
    assert body == (
        b'{"type":"webhook.ping","timestamp":"2026-12-07T12:00:01.250Z",'
        b'"data":{"endpointId":"whep_x"}}'
    )


async def test_retry_takes_failed_deliveries_only(tenant, other, gql, raw_db):
    endpoint_id = await new_endpoint(tenant)
    await create(gql, tenant, 1)
    [pending] = (
        await webhooks.delivery_page(
            owner(tenant), endpoint_id=endpoint_id, first=5, after=None, status=None
        )
    ).deliveries
    with pytest.raises(InvalidInput) as refused:
        await webhooks.retry_delivery(owner(tenant), delivery_id=pending.id)
    assert [(e.field, e.code) for e in refused.value.errors] == [(("id",), "INVALID")]
    await raw_db.execute(
        "UPDATE webhook_delivery SET status = 'failed', attempts = 3, last_status = 500,"
        " next_attempt_at = now() - interval '1 hour' WHERE uid = $1",
        pending.id,
    )
    for stranger, unknown in (
        (owner(other), pending.id),
        (owner(tenant), "whdl_00000000000000000000000000000000"),
        (owner(tenant), "nope"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await webhooks.retry_delivery(stranger, delivery_id=unknown)
        assert [(e.field, e.code) for e in refused.value.errors] == [(("id",), "NOT_FOUND")]
    again = await webhooks.retry_delivery(owner(tenant), delivery_id=pending.id)
    assert (again.status, again.attempts, again.last_status_code) == ("PENDING", 3, 500)
    assert again.next_attempt_at is not None
    assert abs((again.next_attempt_at - datetime.now(UTC)).total_seconds()) < 5  # due now
    await raw_db.execute(
        "UPDATE webhook_delivery SET status = 'delivered' WHERE uid = $1", again.id
    )
    with pytest.raises(InvalidInput) as refused:
        await webhooks.retry_delivery(owner(tenant), delivery_id=again.id)
    assert refused.value.errors[0].code == "INVALID"


async def test_events_for_a_disabled_endpoint_are_held_pending(tenant, gql, raw_db):
    on, off = await new_endpoint(tenant), await new_endpoint(tenant, "http://127.0.0.1:9/off")
    await webhooks.update_endpoint(owner(tenant), endpoint_id=off, enabled=False)
    await create(gql, tenant, 1)
    assert await rows(raw_db, on) == [("pending", 0, None, False)]
    assert await rows(raw_db, off) == [("pending", 0, None, False)]  # held, not dropped
    await webhooks.delete_endpoint(owner(tenant), endpoint_id=off)
    await create(gql, tenant, 2)  # a deleted endpoint gets nothing
    assert await rows(raw_db, off) == []


async def test_delivery_page_walks_newest_first_and_filters(tenant, gql, raw_db):
    endpoint_id = await new_endpoint(tenant)
    for n in range(5):
        await create(gql, tenant, n)
    ping = await webhooks.ping_endpoint(owner(tenant), endpoint_id=endpoint_id)
    ids = await raw_db.fetch(
        "SELECT uid FROM webhook_delivery WHERE endpoint_id = $1 ORDER BY id DESC", endpoint_id
    )
    newest_first = [r["uid"] for r in ids]
    assert newest_first[0] == ping.id
    await raw_db.execute(
        "UPDATE webhook_delivery SET status = 'failed' WHERE uid = ANY($1::text[])",
        newest_first[1:3],
    )
    caller = owner(tenant, Scope.READ)  # a read key may list
    walked, after = [], None
    while True:
        page = await webhooks.delivery_page(
            caller, endpoint_id=endpoint_id, first=2, after=after, status=None
        )
        walked += [d.id for d in page.deliveries]
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert walked == newest_first
    failed = await webhooks.delivery_page(
        caller, endpoint_id=endpoint_id, first=100, after=None, status="FAILED"
    )
    assert [d.id for d in failed.deliveries] == newest_first[1:3]
    assert all(d.next_attempt_at is None for d in failed.deliveries)  # only when pending
    for first in (0, 101):
        with pytest.raises(BadUserInput):
            await webhooks.delivery_page(
                caller, endpoint_id=endpoint_id, first=first, after=None, status=None
            )
    made_up = [base64.urlsafe_b64encode(raw).decode() for raw in (b"e1:1", b"d1:" + b"9" * 20)]
    for cursor in ("nope", *made_up):  # another list's cursor, an id past bigint
        with pytest.raises(BadUserInput):
            await webhooks.delivery_page(
                caller, endpoint_id=endpoint_id, first=5, after=cursor, status=None
            )


async def test_scopes_at_the_services(tenant):
    endpoint_id = await new_endpoint(tenant)
    masked, reader = owner(tenant, Scope.READ_MASKED), owner(tenant, Scope.READ)
    with pytest.raises(Forbidden):
        await webhooks.delivery_page(
            masked, endpoint_id=endpoint_id, first=5, after=None, status=None
        )
    for caller in (masked, reader):
        for call in (
            webhooks.update_endpoint(caller, endpoint_id=endpoint_id, enabled=False),
            webhooks.rotate_secret(caller, endpoint_id=endpoint_id),
            webhooks.ping_endpoint(caller, endpoint_id=endpoint_id),
            webhooks.retry_delivery(caller, delivery_id="whdl_00000000000000000000000000000000"),
        ):
            with pytest.raises(Forbidden):
                await call
    assert (await WebhookEndpoint.get(id=endpoint_id)).enabled


# Over the API, without a worker ----------------------------------------------------


async def test_webhook_deliveries_over_the_api(gql, tenant, other):
    made = await gql.data(tenant, CREATE_ENDPOINT, {"b": tenant.business_id, "url": CLOSED})
    endpoint_id = made["createWebhookEndpoint"]["endpoint"]["id"]
    customer_ids = [await create(gql, tenant, n) for n in range(3)]
    events = (await gql.data(tenant, EVENTS, {"b": tenant.business_id}))["customerEvents"]
    event_ids = [e["id"] for e in events["nodes"] if e["customerId"] in customer_ids]
    first = await deliveries(gql, tenant, endpoint_id, first=2)
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in first["edges"]] == [n["id"] for n in first["nodes"]]
    second = await deliveries(gql, tenant, endpoint_id, after=first["pageInfo"]["endCursor"])
    assert second["pageInfo"] == {"hasNextPage": False, "endCursor": second["edges"][-1]["cursor"]}
    nodes = first["nodes"] + second["nodes"]
    assert [n["eventId"] for n in nodes] == event_ids[::-1]  # newest first
    for node in nodes:
        assert node["id"].startswith("whdl_") and node["endpointId"] == endpoint_id
        assert (node["type"], node["status"], node["attempts"]) == (
            "customer.created",
            "PENDING",
            0,
        )
        assert node["lastAttemptAt"] is None and node["lastStatusCode"] is None
        assert node["nextAttemptAt"] is not None and node["createdAt"] is not None
    none = await deliveries(gql, tenant, endpoint_id, status="DELIVERED")
    assert none == {"edges": [], "nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert await deliveries(gql, other, endpoint_id) == none  # another business: empty
    assert await deliveries(gql, tenant, "whep_AAAAAAAAAAAAAAAAAAAAAA") == none
    for bad in (0, 101):
        body = (await gql(tenant, DELIVERIES, {"e": endpoint_id, "first": bad})).json()
        assert codes(body) == ["BAD_USER_INPUT"] and body["data"] is None


async def test_mutations_over_the_api_and_their_user_errors(gql, tenant, other):
    made = await gql.data(tenant, CREATE_ENDPOINT, {"b": tenant.business_id, "url": CLOSED})
    endpoint_id = made["createWebhookEndpoint"]["endpoint"]["id"]
    updated = await gql.data(
        tenant, UPDATE_ENDPOINT, {"id": endpoint_id, "types": ["DELETED"], "enabled": False}
    )
    assert updated["updateWebhookEndpoint"] == {
        "endpoint": {"id": endpoint_id, "url": CLOSED, "eventTypes": ["DELETED"], "enabled": False},
        "secret": None,
        "userErrors": [],
    }
    bad = await gql.data(tenant, UPDATE_ENDPOINT, {"id": endpoint_id, "url": "ftp://x/"})
    assert bad["updateWebhookEndpoint"]["userErrors"] == [{"code": "INVALID", "field": ["url"]}]
    rotated = (await gql.data(tenant, ROTATE, {"id": endpoint_id}))["rotateWebhookEndpointSecret"]
    assert rotated["secret"].startswith("whsec_") and rotated["userErrors"] == []
    assert rotated["secret"] != made["createWebhookEndpoint"]["secret"]
    ping = (await gql.data(tenant, PING, {"id": endpoint_id}))["pingWebhookEndpoint"]
    assert ping["userErrors"] == []
    assert (ping["delivery"]["type"], ping["delivery"]["eventId"], ping["delivery"]["status"]) == (
        "webhook.ping",
        None,
        "PENDING",
    )
    listed = await deliveries(gql, tenant, endpoint_id)
    assert listed["nodes"] == [ping["delivery"]]
    retry = (await gql.data(tenant, RETRY, {"id": ping["delivery"]["id"]}))["retryWebhookDelivery"]
    assert retry == {"delivery": None, "userErrors": [{"code": "INVALID", "field": ["id"]}]}
    not_found = [{"code": "NOT_FOUND", "field": ["id"]}]
    for query, name, variables in (
        (UPDATE_ENDPOINT, "updateWebhookEndpoint", {"id": endpoint_id, "enabled": True}),
        (ROTATE, "rotateWebhookEndpointSecret", {"id": endpoint_id}),
        (PING, "pingWebhookEndpoint", {"id": endpoint_id}),
        (RETRY, "retryWebhookDelivery", {"id": ping["delivery"]["id"]}),
    ):
        answer = (await gql.data(other, query, variables))[name]
        assert answer["userErrors"] == not_found, name
        assert answer.get("endpoint", answer.get("delivery")) is None


async def test_scopes_over_the_api(gql, tenant):
    from tests.test_scopes import scoped

    made = await gql.data(tenant, CREATE_ENDPOINT, {"b": tenant.business_id, "url": CLOSED})
    endpoint_id = made["createWebhookEndpoint"]["endpoint"]["id"]
    ping = (await gql.data(tenant, PING, {"id": endpoint_id}))["pingWebhookEndpoint"]["delivery"]
    reader, masked = await scoped(tenant, "read"), await scoped(tenant, "read_masked")
    assert (await deliveries(gql, reader, endpoint_id))["nodes"] == [ping]
    refused = (await gql(masked, DELIVERIES, {"e": endpoint_id})).json()
    assert codes(refused) == ["FORBIDDEN"] and refused["data"] is None
    for key in (reader, masked):
        for query, variables in (
            (UPDATE_ENDPOINT, {"id": endpoint_id, "enabled": False}),
            (ROTATE, {"id": endpoint_id}),
            (PING, {"id": endpoint_id}),
            (RETRY, {"id": ping["id"]}),
        ):
            body = (await gql(key, query, variables)).json()
            assert codes(body) == ["FORBIDDEN"] and body["data"] is None, query
    assert (await deliveries(gql, tenant, endpoint_id))["nodes"] == [ping]  # nothing changed
    assert (await WebhookEndpoint.get(id=endpoint_id)).enabled


# With a real worker and a real receiver -------------------------------------------


@pytest.fixture
async def hooked(app, raw_db, gql) -> AsyncIterator[tuple[Tenant, Receiver, str]]:
    """A new business with a receiver of its own, registered as its endpoint.

    A worker serves every business of the database: the endpoints other tests
    left are switched off so that only this receiver is in play.
    """
    await raw_db.execute("UPDATE webhook_endpoint SET enabled = false")
    tenant = await make_tenant("Operated")
    receiver = Receiver().start()
    made = await gql.data(tenant, CREATE_ENDPOINT, {"b": tenant.business_id, "url": receiver.url})
    created = made["createWebhookEndpoint"]
    receiver.control(secret=created["secret"])
    yield tenant, receiver, created["endpoint"]["id"]
    receiver.stop()


async def test_410_holds_events_until_enabled_then_sends_them_in_order(
    gql, database_url, hooked, raw_db
):
    tenant, receiver, endpoint_id = hooked
    receiver.control(status=410)
    async with running_worker(database_url):
        gone = await create(gql, tenant, 0)
        await eventually(lambda: receiver.requests() >= 1)

        async def disabled() -> bool:
            return not (await WebhookEndpoint.get(id=endpoint_id)).enabled

        await eventually(disabled, timeout=10)
        held = [await create(gql, tenant, n) for n in range(1, 4)]
        await asyncio.sleep(1.0)  # the worker has polled at least once: nothing goes
        assert receiver.requests() == 1
        listed = await deliveries(gql, tenant, endpoint_id)
        assert [n["status"] for n in listed["nodes"]] == ["PENDING"] * 3 + ["FAILED"]
        assert listed["nodes"][-1]["lastStatusCode"] == 410
        receiver.control(status=200)
        enabled = await gql.data(tenant, UPDATE_ENDPOINT, {"id": endpoint_id, "enabled": True})
        assert enabled["updateWebhookEndpoint"]["endpoint"]["enabled"] is True
        await eventually(lambda: len(receiver.got()) >= 3, timeout=20)
        await asyncio.sleep(0.3)  # room for anything else to show up
    got = receiver.got()
    assert [e.body["data"]["customerId"] for e in got] == held  # in event order
    assert all(e.verified for e in got)
    assert gone not in {e.body["data"]["customerId"] for e in got}
    assert await rows(raw_db, endpoint_id) == [
        ("failed", 1, 410, False),  # it stays failed
        ("delivered", 1, 200, False),
        ("delivered", 1, 200, False),
        ("delivered", 1, 200, False),
    ]


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    gql, database_url, hooked, raw_db
):
    tenant, receiver, endpoint_id = hooked
    old = receiver.secret
    assert old is not None
    receiver.control(keys=[old])
    async with running_worker(database_url):
        await create(gql, tenant, 0)
        await eventually(lambda: len(receiver.got()) >= 1)
        rotated = await gql.data(tenant, ROTATE, {"id": endpoint_id})
        new = rotated["rotateWebhookEndpointSecret"]["secret"]
        receiver.control(secret=new, keys=[new, old])
        await create(gql, tenant, 1)
        await eventually(lambda: len(receiver.got()) >= 2)
        await raw_db.execute(
            "UPDATE webhook_endpoint SET previous_until = now() - interval '1 second'"
            " WHERE id = $1",
            endpoint_id,
        )
        await create(gql, tenant, 2)
        await eventually(lambda: len(receiver.got()) >= 3)
    before, during, after = receiver.got()
    assert (before.verified_with, before.signed_by) == ([True], [0])
    # During the overlap: either secret verifies, the new one's signature first.
    assert during.verified and (during.verified_with, during.signed_by) == ([True, True], [0, 1])
    # Afterwards only the new one signs.
    assert after.verified and (after.verified_with, after.signed_by) == ([True, False], [0])


async def test_a_ping_goes_while_an_event_delivery_backs_off(gql, database_url, hooked, raw_db):
    tenant, receiver, endpoint_id = hooked
    receiver.control(status_for={"customer.created": 500})
    async with running_worker(database_url, FINORA_WEBHOOK_RETRY_SECONDS="30,30"):
        await create(gql, tenant, 0)
        await eventually(lambda: receiver.requests() >= 1)
        await create(gql, tenant, 1)  # waits behind the first, in event order
        ping = (await gql.data(tenant, PING, {"id": endpoint_id}))["pingWebhookEndpoint"]
        await eventually(lambda: len(receiver.got()) >= 1, timeout=10)
        listed = (await deliveries(gql, tenant, endpoint_id))["nodes"]
    [got] = receiver.got()
    assert got.verified and got.id == ping["delivery"]["id"]  # webhook-id: the delivery's id
    assert got.body == {
        "type": "webhook.ping",
        "timestamp": got.body["timestamp"],
        "data": {"endpointId": endpoint_id},
    }
    assert receiver.requests() == 2  # the failed event, then the ping; the second event waits
    pinged, second, first = listed
    assert (pinged["id"], pinged["status"], pinged["attempts"], pinged["lastStatusCode"]) == (
        ping["delivery"]["id"],
        "DELIVERED",
        1,
        200,
    )
    assert pinged["nextAttemptAt"] is None and pinged["lastAttemptAt"] is not None
    assert (first["status"], first["attempts"], first["lastStatusCode"]) == ("PENDING", 1, 500)
    retry_in = datetime.fromisoformat(first["nextAttemptAt"]) - datetime.now(UTC)
    assert timedelta(seconds=15) < retry_in < timedelta(seconds=34)  # 30 s, jittered
    assert (second["status"], second["attempts"], second["lastAttemptAt"]) == ("PENDING", 0, None)


async def test_a_failing_ping_holds_no_event_back(gql, database_url, hooked, raw_db):
    tenant, receiver, endpoint_id = hooked
    receiver.control(status_for={"webhook.ping": 503})
    async with running_worker(database_url, FINORA_WEBHOOK_RETRY_SECONDS="30"):
        ping = (await gql.data(tenant, PING, {"id": endpoint_id}))["pingWebhookEndpoint"]
        await eventually(lambda: receiver.requests() >= 1)
        customers = [await create(gql, tenant, n) for n in range(2)]
        await eventually(lambda: len(receiver.got()) >= 2, timeout=10)
    assert [e.body["data"]["customerId"] for e in receiver.got()] == customers
    listed = (await deliveries(gql, tenant, endpoint_id, status="PENDING"))["nodes"]
    assert [(n["id"], n["attempts"], n["lastStatusCode"]) for n in listed] == [
        (ping["delivery"]["id"], 1, 503)
    ]


async def test_attempts_status_codes_and_a_retry_of_a_failed_delivery(
    gql, database_url, hooked, raw_db
):
    tenant, receiver, endpoint_id = hooked
    receiver.control(status=500)
    async with running_worker(database_url, FINORA_WEBHOOK_RETRY_SECONDS="1"):
        await create(gql, tenant, 0)
        await eventually(lambda: receiver.requests() >= 1)
        await asyncio.sleep(0.2)
        [waiting] = (await deliveries(gql, tenant, endpoint_id))["nodes"]
        assert (waiting["status"], waiting["attempts"], waiting["lastStatusCode"]) == (
            "PENDING",
            1,
            500,
        )
        assert waiting["nextAttemptAt"] > waiting["lastAttemptAt"]
        await eventually(lambda: receiver.requests() >= 2, timeout=10)  # "1": two attempts

        async def failed() -> bool:
            [node] = (await deliveries(gql, tenant, endpoint_id))["nodes"]
            return node["status"] == "FAILED"

        await eventually(failed, timeout=10)
        [dead] = (await deliveries(gql, tenant, endpoint_id, status="FAILED"))["nodes"]
        assert (dead["attempts"], dead["lastStatusCode"], dead["nextAttemptAt"]) == (2, 500, None)
        receiver.control(status=200)
        retried = (await gql.data(tenant, RETRY, {"id": dead["id"]}))["retryWebhookDelivery"]
        assert retried["userErrors"] == []
        assert (retried["delivery"]["status"], retried["delivery"]["attempts"]) == ("PENDING", 2)
        await eventually(lambda: len(receiver.got()) >= 1, timeout=10)

        async def delivered() -> bool:
            [node] = (await deliveries(gql, tenant, endpoint_id))["nodes"]
            return node["status"] == "DELIVERED"

        await eventually(delivered, timeout=10)
    [done] = (await deliveries(gql, tenant, endpoint_id))["nodes"]
    assert (done["attempts"], done["lastStatusCode"], done["nextAttemptAt"]) == (3, 200, None)
    assert done["lastAttemptAt"] > dead["lastAttemptAt"]
    assert receiver.requests() == 3


async def test_no_answer_is_recorded_as_a_null_status(gql, database_url, hooked, raw_db):
    tenant, receiver, endpoint_id = hooked
    receiver.stop()  # refused: no HTTP answer at all
    async with running_worker(database_url, FINORA_WEBHOOK_RETRY_SECONDS="30"):
        await create(gql, tenant, 0)

        async def attempted() -> bool:
            [node] = (await deliveries(gql, tenant, endpoint_id))["nodes"]
            return node["attempts"] == 1

        await eventually(attempted, timeout=10)
    [node] = (await deliveries(gql, tenant, endpoint_id))["nodes"]
    assert (node["status"], node["lastStatusCode"]) == ("PENDING", None)
    assert node["lastAttemptAt"] is not None and node["nextAttemptAt"] is not None
