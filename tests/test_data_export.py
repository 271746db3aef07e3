"""The data subject's copy (exportCustomerData, GET /v1/customers/{id}/export): every
field, every event, every external id, and nothing the database holds about the
customer left out (checked against the catalog and the rows themselves)."""

from __future__ import annotations

import logging

from app.services import businesses
from app.services.data_export import export_customer
from app.services.errors import Forbidden
from tests.conftest import Tenant
from tests.shops import BIG_ID, connect, linked, shopify_customer
from tests.test_api import FIELDS, UPDATE, codes, create
from tests.test_shop_webhooks import events_of

EXPORT = f"""query($id: ID!) {{ exportCustomerData(id: $id) {{
  format exportedAt
  customer {{ {FIELDS} erasedAt }}
  events {{ id type customerId changedFields actor occurredAt }}
  externalIds {{ platform connectionId id linkedAt removedAt }} }} }}"""
GET = f"query($id: ID!) {{ customer(id: $id) {{ {FIELDS} erasedAt }} }}"
EVENT_IDS = """query($b: ID!, $c: ID) { customerEvents(businessId: $b, first: 100, customerId: $c) {
  edges { node { id type customerId changedFields actor occurredAt } } } }"""
#: The tables that name a customer, and where the export holds their rows.
COVERED = {
    "customer": "customer",
    "customer_event": "events",
    "customer_external_id": "externalIds",
}


async def _a_customer_with_a_history(gql, client, tenant) -> tuple[str, str]:
    """A shopper linked from Shopify, then changed twice: a customer, three events
    and an external id.  Returns its id and its shop connection's."""
    shop = await connect(gql, client, tenant)
    assert (await shop.shopify("customers/create", shopify_customer())).status_code == 200
    customer = await linked(gql, tenant, shop, str(BIG_ID))
    assert customer is not None
    changed = await gql.data(
        tenant, UPDATE, {"id": customer["id"], "input": {"tin": "12345678-0001"}}
    )
    assert changed["updateCustomer"]["userErrors"] == []
    changed = await gql.data(
        tenant, UPDATE, {"id": customer["id"], "input": {"companyName": "Biller & Sons"}}
    )
    assert changed["updateCustomer"]["userErrors"] == []
    return customer["id"], shop.id


async def test_the_export_holds_every_field_event_and_external_id(gql, client, tenant, caplog):
    customer_id, connection_id = await _a_customer_with_a_history(gql, client, tenant)
    with caplog.at_level(logging.INFO, logger="finora.export"):
        export = (await gql.data(tenant, EXPORT, {"id": customer_id}))["exportCustomerData"]
    assert export["format"] == "finora.customer-export.v1"
    assert export["customer"] == (await gql.data(tenant, GET, {"id": customer_id}))["customer"]
    assert export["customer"]["tin"] == "12345678-0001"  # decrypted
    edges = (await gql.data(tenant, EVENT_IDS, {"b": tenant.business_id, "c": customer_id}))[
        "customerEvents"
    ]["edges"]
    assert export["events"] == [edge["node"] for edge in edges]  # every one, oldest first
    assert [e["type"] for e in export["events"]] == ["CREATED", "UPDATED", "UPDATED"]
    [link] = export["externalIds"]
    assert (link["platform"], link["connectionId"], link["id"]) == (
        "SHOPIFY",
        connection_id,
        str(BIG_ID),
    )
    # Logged: who exported whose data, never a value.
    [record] = [r for r in caplog.records if r.getMessage() == "customer data exported"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["customer_id"] == customer_id and fields["events"] == 3
    assert fields["key_prefix"] == tenant.key[: len(fields["key_prefix"])]
    logged = " ".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    for value in ("bob@biller.com", "12345678-0001", "Allen Avenue", "Biller"):
        assert value not in logged


async def test_rest_answers_the_same_copy_as_an_attachment(gql, client, tenant):
    customer_id, _ = await _a_customer_with_a_history(gql, client, tenant)
    graphql = (await gql.data(tenant, EXPORT, {"id": customer_id}))["exportCustomerData"]
    response = await client.get(f"/v1/customers/{customer_id}/export", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{customer_id}.export.json"'
    )
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"format", "exportedAt", "customer", "events", "externalIds"}
    assert data["format"] == graphql["format"]
    rest_customer = dict(data["customer"])
    assert rest_customer.pop("accountBalance") == graphql["customer"]["accountBalance"]
    graphql_customer = dict(graphql["customer"])
    graphql_customer.pop("accountBalance")
    assert rest_customer == graphql_customer  # every field, the same names and values
    assert data["events"] == graphql["events"]
    [rest_link], [graphql_link] = data["externalIds"], graphql["externalIds"]
    assert rest_link == graphql_link


async def test_nothing_the_database_holds_about_the_customer_is_missing(
    gql, client, tenant, raw_db
):
    """Every table with a column naming a customer is one the export covers, and the
    export holds every row of each for this customer."""
    named = await raw_db.fetch(
        """SELECT DISTINCT c.table_name
           FROM information_schema.columns c
           WHERE c.table_schema = 'public' AND c.column_name = 'customer_id'
           UNION
           SELECT conrelid::regclass::text FROM pg_constraint
           WHERE contype = 'f' AND confrelid = 'customer'::regclass"""
    )
    assert {r[0] for r in named} | {"customer"} == set(COVERED), (
        "a table names customers: add it to the export (app.services.data_export)"
    )
    customer_id, _ = await _a_customer_with_a_history(gql, client, tenant)
    data = (await client.get(f"/v1/customers/{customer_id}/export", headers=tenant.headers)).json()[
        "data"
    ]
    stored = await raw_db.fetchrow("SELECT * FROM customer WHERE id = $1", customer_id)
    assert data["customer"]["id"] == stored["id"]
    assert data["customer"]["businessId"] == stored["business_id"]
    assert data["customer"]["accountBalanceKobo"] == stored["account_balance_kobo"]
    columns = set(stored.keys())
    shown = {"id", "business_id", "name", "email", "phone", "address", "tin", "company_name"}
    shown |= {"account_balance_kobo", "is_active", "created_at", "updated_at", "erased_at"}
    # The rest are derived for search, sorting and uniqueness (digests, tokens, a
    # lowercased name, flags), not data of the customer's own; a soft delete's time is
    # its DELETED event's.
    derived = {"email_hash", "search_tokens", "short_tokens", "name_lower", "name_from_email"}
    derived |= {"deleted_at", "key_id"}  # key_id: which data key seals the row
    assert columns - shown <= derived, columns - shown - derived
    events = await raw_db.fetch(
        "SELECT id FROM customer_event WHERE customer_id = $1 ORDER BY seq", customer_id
    )
    assert [e["id"] for e in data["events"]] == [r["id"] for r in events]
    links = await raw_db.fetch(
        "SELECT external_id FROM customer_external_id WHERE customer_id = $1 ORDER BY id",
        customer_id,
    )
    assert [x["id"] for x in data["externalIds"]] == [r["external_id"] for r in links]


async def test_masked_keys_are_refused_read_keys_may_export(gql, client, tenant):
    made = await create(gql, tenant, name="Ada Obi", email="ada.obi@x.ng")
    masked = await businesses.create_api_key(tenant.business_id, "read_masked")
    masked_tenant = Tenant(tenant.business_id, masked.key)
    answer = await gql(masked_tenant, EXPORT, {"id": made["id"]})
    assert codes(answer.json()) == ["FORBIDDEN"]
    rest = await client.get(f"/v1/customers/{made['id']}/export", headers=masked_tenant.headers)
    assert rest.status_code == 403 and "ada.obi" not in rest.text
    reader = await businesses.create_api_key(tenant.business_id, "read")
    copy = await gql.data(Tenant(tenant.business_id, reader.key), EXPORT, {"id": made["id"]})
    assert copy["exportCustomerData"]["customer"]["email"] == "ada.obi@x.ng"


async def test_another_business_and_a_missing_id_get_nothing(gql, client, tenant, other):
    made = await create(gql, tenant, name="Mine Only", email="mine.only@x.ng")
    for who, customer_id in ((other, made["id"]), (tenant, "cust_nope"), (tenant, "x" * 300)):
        data = await gql.data(who, EXPORT, {"id": customer_id})
        assert data["exportCustomerData"] is None
        rest = await client.get(f"/v1/customers/{customer_id}/export", headers=who.headers)
        assert rest.status_code == 404
        assert "mine.only" not in rest.text


async def test_an_erased_customer_exports_its_record_and_history_without_its_data(
    gql, client, tenant
):
    made = await create(gql, tenant, name="Gone Soon", email="gone.soon@x.ng", phone="08031234567")
    erased = await gql.data(
        tenant,
        "mutation($id: ID!) { eraseCustomer(id: $id) { userErrors { code } } }",
        {"id": made["id"]},
    )
    assert erased["eraseCustomer"]["userErrors"] == []
    export = (await gql.data(tenant, EXPORT, {"id": made["id"]}))["exportCustomerData"]
    assert export["customer"]["erasedAt"] is not None
    assert export["customer"]["email"] == "" and export["customer"]["phone"] is None
    assert [e["type"] for e in export["events"]] == ["CREATED", "ERASED"]
    assert [e["type"] for e in await events_of(gql, tenant, made["id"])] == ["CREATED", "ERASED"]


async def test_the_service_refuses_masked_callers_before_reading_anything(tenant):
    from app.services.access import Caller, Scope

    caller = Caller(tenant.business_id, "fin_test", Scope.READ_MASKED)
    try:
        await export_customer(caller, "cust_whatever")
    except Forbidden:
        pass
    else:
        raise AssertionError("a masked caller got an export")


async def test_a_path_no_route_takes_answers_json_in_its_api_shape(client, tenant):
    """Found by schemathesis: an id with a line feed missed Starlette's mounts and got
    its plain-text 404."""
    for path in ("/v1/customers/A%0A/export", "/v1/customers/A%0A/erase", "/v1/nope"):
        answer = await client.get(path, headers=tenant.headers)
        assert answer.status_code in (404, 405), (path, answer.text)
        assert answer.headers["content-type"].startswith("application/json"), path
        assert answer.json()["success"] is False
