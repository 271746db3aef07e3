"""Shop deliveries received as Shopify and WooCommerce send them, through the real ASGI
app and PostgreSQL: signatures over raw bytes, origins, topics, repeats, answers."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQL, Tenant, make_tenant
from tests.shops import (
    BIG_ID,
    SHOP_DOMAIN,
    SHOPIFY_SECRET,
    WOO_SECRET,
    connect,
    linked,
    problems,
    shopify_customer,
    shopify_headers,
    shopify_json,
    sign,
    woo_customer,
    woo_headers,
    woo_json,
)

EVENTS = """
query($b: ID!, $c: ID!) {
  customerEvents(businessId: $b, customerId: $c, first: 50) {
    nodes { type changedFields actor }
  }
}"""
CUSTOMERS = "query($b: ID!) { customers(businessId: $b, limit: 100) { id email name } }"
UPDATE = """
mutation($id: ID!, $i: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $i) { customer { id } userErrors { code } }
}"""
CREATE = """
mutation($b: ID!, $i: CreateCustomerInput!) {
  createCustomer(businessId: $b, input: $i) { customer { id } userErrors { code } }
}"""


async def events_of(gql: GraphQL, tenant: Tenant, customer_id: str) -> list[dict]:
    data = await gql.data(tenant, EVENTS, {"b": tenant.business_id, "c": customer_id})
    return data["customerEvents"]["nodes"]


async def test_shopify_customer_create_then_update_after_an_email_change(gql, client, tenant):
    shop = await connect(gql, client, tenant)
    answer = await shop.shopify("customers/create", shopify_customer())
    assert answer.status_code == 200, answer.text
    customer = await linked(gql, tenant, shop, str(BIG_ID))
    assert customer is not None
    assert customer["name"] == "Bob Biller" and customer["email"] == "bob@biller.com"
    assert customer["phone"] == "+2348031234567"  # the default address's: the customer's is null
    assert customer["address"] == "12 Allen Avenue, Suite 4, Ikeja, Lagos, 100271, Nigeria"
    assert customer["companyName"] == "Biller Ventures"
    [link] = customer["externalIds"]
    assert link["id"] == "706405506930370084"  # exact: beyond 2^53
    assert link["platform"] == "SHOPIFY" and link["connectionId"] == shop.id
    assert link["removedAt"] is None

    changed = shopify_customer(email="Bob.New@Biller.com", last_name="Biller-Okoro", phone="")
    assert (await shop.shopify("customers/update", changed)).status_code == 200
    after = await linked(gql, tenant, shop, str(BIG_ID))
    assert after["id"] == customer["id"]  # the same shopper, even with a new email
    assert after["email"] == "bob.new@biller.com" and after["name"] == "Bob Biller-Okoro"
    assert after["phone"] == "+2348031234567"  # an empty value never clears a field
    listed = (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"]
    assert [c["id"] for c in listed] == [customer["id"]]
    actor = f"shop:{shop.id}"
    assert await events_of(gql, tenant, customer["id"]) == [
        {"type": "CREATED", "changedFields": [], "actor": actor},
        {"type": "UPDATED", "changedFields": ["name", "email"], "actor": actor},
    ]
    connections = await gql.data(
        tenant,
        "query($b: ID!) { shopConnections(businessId: $b) { lastDeliveryAt } }",
        {"b": tenant.business_id},
    )
    assert connections["shopConnections"][0]["lastDeliveryAt"] is not None


async def test_a_repeat_changes_nothing_but_a_new_body_with_the_same_id_applies(
    gql, client, tenant, raw_db
):
    shop = await connect(gql, client, tenant, "WOOCOMMERCE")
    body = woo_json(woo_customer())
    headers = woo_headers("customer.created", body, delivery_id="991")
    for _ in range(3):
        assert (await shop.post(body, headers)).json() in (
            {"status": "applied"},
            {"status": "repeat"},
        )
    customer = await linked(gql, tenant, shop, "25")
    assert len(await events_of(gql, tenant, customer["id"])) == 1
    # WooCommerce's delivery id changes once a second: another body may share it.
    second = woo_json(woo_customer(first_name="Chidinma"))
    answer = await shop.post(second, woo_headers("customer.updated", second, delivery_id="991"))
    assert answer.json() == {"status": "applied"}
    assert (await linked(gql, tenant, shop, "25"))["name"] == "Chidinma Okafor\u00e9"
    assert (
        await shop.post(second, woo_headers("customer.updated", second, delivery_id="991"))
    ).json() == {"status": "repeat"}
    remembered = await raw_db.fetchval(
        "SELECT count(*) FROM shop_delivery WHERE connection_id = $1", shop.id
    )
    assert remembered == 2


async def test_woocommerce_customer_lifecycle_and_its_ping(gql, client, tenant):
    shop = await connect(gql, client, tenant, "WOOCOMMERCE")
    assert shop.connection["shopDomain"] == "shop.example.ng/store"
    # The creation ping: unsigned, a form body, no topic; answered 200, nothing changed.
    ping = await client.post(
        shop.path,
        content=b"webhook_id=12",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        },
    )
    assert ping.status_code == 200
    assert (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"] == []

    assert (await shop.woo("customer.created", woo_customer())).status_code == 200
    customer = await linked(gql, tenant, shop, "25")
    assert customer["name"] == "Chidi Okafor\u00e9" and customer["phone"] == "+2348031234568"
    assert customer["address"] == "5 Broad Street, Lagos Island, LA, 101001, NG"
    assert customer["companyName"] == "Okafor & Sons"
    assert (await shop.woo("customer.deleted", {"id": 25})).status_code == 200
    after = await linked(gql, tenant, shop, "25")
    assert after["id"] == customer["id"] and after["isActive"] is True  # not the shop's to delete
    removed = after["externalIds"][0]["removedAt"]
    assert removed is not None
    # An update that arrives after the deletion (shops deliver out of order) still
    # reaches the customer, and the link stays removed.
    late = woo_customer(first_name="Chike")
    assert (await shop.woo("customer.updated", late)).status_code == 200
    again = await linked(gql, tenant, shop, "25")
    assert again["name"] == "Chike Okafor\u00e9" and again["externalIds"][0]["removedAt"] == removed


async def test_orders_upsert_their_customer_and_guests_link_nothing(gql, client, tenant, raw_db):
    shopify = await connect(gql, client, tenant)
    woo = await connect(gql, client, tenant, "WOOCOMMERCE")
    order = {
        "id": 820982911946154508,
        "email": "ngozi@example.ng",
        "name": "#9999",
        "total_price": "15000.00",
        "currency": "NGN",
        "customer": {
            "id": 115310627314723954,
            "email": "ngozi@example.ng",
            "first_name": "Ngozi",
            "last_name": "Eze",
            "phone": "+2348051112222",
            "default_address": None,
        },
        "billing_address": {
            "first_name": "Ngozi",
            "last_name": "Eze",
            "phone": "+2348059999999",
            "address1": "1 Marina",
            "city": "Lagos",
            "country": "Nigeria",
        },
        "shipping_address": None,
    }
    assert (await shopify.shopify("orders/create", order)).status_code == 200
    ngozi = await linked(gql, tenant, shopify, "115310627314723954")
    assert ngozi["name"] == "Ngozi Eze" and ngozi["phone"] == "+2348051112222"
    # orders/updated may come first or twice: the same customer.
    assert (await shopify.shopify("orders/updated", order)).status_code == 200
    assert (await linked(gql, tenant, shopify, "115310627314723954"))["id"] == ngozi["id"]

    guest = {
        **order,
        "id": 820982911946154509,
        "email": "guest@example.ng",
        "customer": None,
        "billing_address": {
            "first_name": "Tunde",
            "last_name": "Bakare",
            "phone": "08062223333",
            "address1": "3 Awolowo Road",
        },
    }
    assert (await shopify.shopify("orders/create", guest)).status_code == 200
    woo_guest = {
        "id": 727,
        "status": "processing",
        "customer_id": 0,
        "billing": {
            **woo_customer()["billing"],
            "email": "amaka@example.ng",
            "first_name": "Amaka",
            "last_name": "Obi",
        },
        "shipping": woo_customer()["shipping"],
        "line_items": [],
    }
    assert (await woo.woo("order.created", woo_guest)).status_code == 200
    woo_member = {**woo_guest, "id": 728, "customer_id": 25, "billing": woo_customer()["billing"]}
    assert (await woo.woo("order.created", woo_member)).status_code == 200

    listed = (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"]
    assert sorted(c["email"] for c in listed) == [
        "amaka@example.ng",
        "chidi@example.ng",
        "guest@example.ng",
        "ngozi@example.ng",
    ]
    tunde = next(c for c in listed if c["email"] == "guest@example.ng")
    assert tunde["name"] == "Tunde Bakare"
    links = await raw_db.fetch(
        "SELECT external_id FROM customer_external_id l JOIN shop_connection s "
        "ON s.id = l.connection_id WHERE s.business_id = $1 ORDER BY l.id",
        tenant.business_id,
    )
    assert [r["external_id"] for r in links] == ["115310627314723954", "25"]  # guests: no link


async def test_a_found_customer_is_linked_and_updated_and_a_taken_email_is_left_out(
    gql, client, tenant
):
    made = await gql.data(
        tenant, CREATE, {"b": tenant.business_id, "i": {"name": "Bob B", "email": "bob@biller.com"}}
    )
    existing = made["createCustomer"]["customer"]["id"]
    other = await gql.data(
        tenant, CREATE, {"b": tenant.business_id, "i": {"name": "Ada", "email": "ada@example.ng"}}
    )
    shop = await connect(gql, client, tenant)
    await shop.shopify("customers/create", shopify_customer())
    customer = await linked(gql, tenant, shop, str(BIG_ID))
    assert customer["id"] == existing and customer["name"] == "Bob Biller"  # found, then updated
    # An email change to one another active customer holds: the email is left out.
    await shop.shopify(
        "customers/update", shopify_customer(email="ada@example.ng", first_name="Robert")
    )
    after = await linked(gql, tenant, shop, str(BIG_ID))
    assert after["email"] == "bob@biller.com" and after["name"] == "Robert Biller"
    assert other["createCustomer"]["customer"]["id"] != after["id"]
    found = await problems(gql, tenant, shop)
    assert [(p["topic"], p["externalId"], p["field"], p["code"]) for p in found] == [
        ("customers/update", str(BIG_ID), "email", "TAKEN")
    ]


async def test_invalid_values_are_left_out_and_recorded_and_no_email_creates_nothing(
    gql, client, tenant
):
    shop = await connect(gql, client, tenant)
    bad = shopify_customer(
        id=9007199254740993,
        email="kemi@example.ng",
        phone="12",
        first_name="K" * 300,
        default_address=None,
        addresses=[],
    )
    assert (await shop.shopify("customers/create", bad)).status_code == 200
    kemi = await linked(gql, tenant, shop, "9007199254740993")
    assert kemi["email"] == "kemi@example.ng" and kemi["phone"] is None
    assert kemi["name"] == "kemi"  # the name was refused: defaulted from the email
    none = shopify_customer(id=5, email=None, phone="12", default_address=None, addresses=[])
    assert (await shop.shopify("customers/create", none)).status_code == 200  # retrying won't help
    broken = shopify_customer(id=6, email="not-an-email")
    assert (await shop.shopify("customers/create", broken)).status_code == 200
    long = shopify_customer(id=7, email="a" * 250 + "@example.ng")
    assert (await shop.shopify("customers/create", long)).status_code == 200
    assert await linked(gql, tenant, shop, "5") is None
    assert await linked(gql, tenant, shop, "6") is None
    # A refused shopper has one problem, the whole customer's: BLANK (no email) or
    # INVALID (one that cannot be used); nothing of fields never written.
    found = [(p["externalId"], p["field"], p["code"]) for p in await problems(gql, tenant, shop)]
    assert found == [
        ("7", None, "INVALID"),
        ("6", None, "INVALID"),
        ("5", None, "BLANK"),
        ("9007199254740993", "name", "TOO_LONG"),
        ("9007199254740993", "phone", "INVALID"),
    ]


async def test_redact_erases_the_linked_customer(gql, client, tenant):
    shop = await connect(gql, client, tenant)
    await shop.shopify("customers/create", shopify_customer())
    customer = await linked(gql, tenant, shop, str(BIG_ID))
    redact = {
        "shop_id": 954889,
        "shop_domain": SHOP_DOMAIN,
        "customer": {"id": BIG_ID, "email": "bob@biller.com", "phone": "+2348031234567"},
        "orders_to_redact": [299938, 280263],
    }
    assert (await shop.shopify("customers/redact", redact)).status_code == 200
    after = await linked(gql, tenant, shop, str(BIG_ID))
    assert after["id"] == customer["id"] and after["erasedAt"] is not None
    assert after["email"] == "" and after["phone"] is None and after["address"] is None
    assert (await events_of(gql, tenant, customer["id"]))[-1] == {
        "type": "ERASED",
        "changedFields": [],
        "actor": f"shop:{shop.id}",
    }
    # Later updates cannot bring the data back.
    await shop.shopify("customers/update", shopify_customer())
    assert (await linked(gql, tenant, shop, str(BIG_ID)))["email"] == ""
    unknown = {**redact, "customer": {"id": 42, "email": "x@example.ng"}}
    assert (await shop.shopify("customers/redact", unknown)).status_code == 200


@pytest.mark.parametrize(
    "case",
    ["missing", "wrong_secret", "other_bytes", "wrong_domain", "no_domain", "woo_wrong_source"],
)
async def test_refused_deliveries_are_401_say_nothing_and_change_nothing(
    gql, client, tenant, raw_db, case
):
    platform = "WOOCOMMERCE" if case.startswith("woo") else "SHOPIFY"
    shop = await connect(gql, client, tenant, platform)
    if platform == "SHOPIFY":
        body = shopify_json(shopify_customer())
        headers = shopify_headers("customers/create", body)
    else:
        body = woo_json(woo_customer())
        headers = woo_headers("customer.created", body)
    if case == "missing":
        del headers["X-Shopify-Hmac-Sha256"]
    elif case == "wrong_secret":
        headers["X-Shopify-Hmac-Sha256"] = sign("not-the-secret", body)
    elif case == "other_bytes":  # the same JSON, re-serialised: a different byte string
        headers["X-Shopify-Hmac-Sha256"] = sign(SHOPIFY_SECRET, body.replace(b"\\/", b"/"))
    elif case == "wrong_domain":
        headers["X-Shopify-Shop-Domain"] = "evil.myshopify.com"
    elif case == "no_domain":
        del headers["X-Shopify-Shop-Domain"]
    elif case == "woo_wrong_source":
        headers["X-WC-Webhook-Source"] = "https://shop.example.ng/other/"
    answer = await shop.post(body, headers)
    assert answer.status_code == 401
    assert answer.json() == {"status": "unauthorized"} and b"bob" not in answer.content
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM customer WHERE business_id = $1", tenant.business_id
        )
        == 0
    )
    assert (
        await raw_db.fetchval("SELECT last_delivery_at FROM shop_connection WHERE id = $1", shop.id)
        is None
    )


async def test_answers_for_unknown_deleted_large_unparsable_and_ignored(gql, client, tenant):
    shop = await connect(gql, client, tenant)
    body = shopify_json(shopify_customer())
    headers = shopify_headers("customers/create", body)
    assert (
        await client.post("/v1/shops/shop_nope/webhooks", content=body, headers=headers)
    ).status_code == 404
    big = b'{"id": 1, "note": "' + b"x" * 1_000_001 + b'"}'
    assert (await shop.post(big, shopify_headers("customers/create", big))).status_code == 413
    not_json = b"id=1&email=bob"
    answer = await shop.post(not_json, shopify_headers("customers/create", not_json))
    assert answer.status_code == 400 and b"bob" not in answer.content
    products = b'{"id":632910392,"title":"IPod Nano - 8GB"}'
    answer = await shop.post(products, shopify_headers("products/create", products))
    assert answer.status_code == 200 and answer.json() == {"status": "ignored"}
    deleted = await gql.data(
        tenant,
        "mutation($id: ID!) { deleteShopConnection(id: $id) { deletedConnectionId } }",
        {"id": shop.id},
    )
    assert deleted["deleteShopConnection"]["deletedConnectionId"] == shop.id
    assert (await shop.post(body, shopify_headers("customers/create", body))).status_code == 404


async def test_two_shops_of_two_businesses_with_the_same_email_stay_apart(gql, client, tenant):
    second = await make_tenant("Tenant Z")
    one = await connect(gql, client, tenant)
    two = await connect(gql, client, second)  # the same shop domain, another business
    await one.shopify("customers/create", shopify_customer())
    await two.shopify(
        "customers/create", shopify_customer(first_name="Roberto"), secret=SHOPIFY_SECRET
    )
    a = await linked(gql, tenant, one, str(BIG_ID))
    b = await linked(gql, second, two, str(BIG_ID))
    assert a["id"] != b["id"] and a["name"] == "Bob Biller" and b["name"] == "Roberto Biller"
    # Neither business sees the other's connection or its customer.
    assert await linked(gql, tenant, two, str(BIG_ID)) is None
    assert await linked(gql, second, one, str(BIG_ID)) is None


async def test_an_updated_customer_by_the_api_then_by_the_shop(gql, client, tenant):
    shop = await connect(gql, client, tenant, "WOOCOMMERCE", secret=WOO_SECRET)
    await shop.woo("customer.created", woo_customer())
    customer = await linked(gql, tenant, shop, "25")
    await gql.data(tenant, UPDATE, {"id": customer["id"], "i": {"tin": "12345678-0001"}})
    await shop.woo("customer.updated", woo_customer(first_name="Chidiebere"))
    data = await gql.data(
        tenant, "query($id: ID!) { customer(id: $id) { name tin } }", {"id": customer["id"]}
    )
    assert data["customer"] == {"name": "Chidiebere Okafor\u00e9", "tin": "12345678-0001"}


async def test_a_shop_change_is_fanned_out_to_outbound_webhooks(gql, client, tenant, raw_db):
    made = await gql.data(
        tenant,
        'mutation($b: ID!) { createWebhookEndpoint(businessId: $b, url: "http://127.0.0.1:9/h")'
        " { endpoint { id } } }",
        {"b": tenant.business_id},
    )
    endpoint = made["createWebhookEndpoint"]["endpoint"]["id"]
    shop = await connect(gql, client, tenant)
    await shop.shopify("customers/create", shopify_customer())
    await shop.shopify("customers/update", shopify_customer(first_name="Robert"))
    rows = await raw_db.fetch(
        "SELECT e.type, e.actor, e.changed_fields FROM webhook_delivery d "
        "JOIN customer_event e ON e.seq = d.event_id WHERE d.endpoint_id = $1 ORDER BY e.seq",
        endpoint,
    )
    actor = f"shop:{shop.id}"
    assert [(r["type"], r["actor"], list(r["changed_fields"])) for r in rows] == [
        ("CREATED", actor, []),
        ("UPDATED", actor, ["name"]),
    ]


async def test_a_page_of_customers_reads_its_links_in_one_query(gql, client, tenant, monkeypatch):
    from app.services import shops as service

    shop = await connect(gql, client, tenant, "WOOCOMMERCE")
    for n in range(5):
        await shop.woo("customer.created", woo_customer(id=40 + n, email=f"p{n}@example.ng"))
    calls: list[int] = []
    real = service.links_of

    async def counted(customer_ids):
        calls.append(len(customer_ids))
        return await real(customer_ids)

    monkeypatch.setattr(service, "links_of", counted)
    data = await gql.data(
        tenant,
        "query($b: ID!) { customers(businessId: $b, limit: 10) { email externalIds { id } } }",
        {"b": tenant.business_id},
    )
    links = {c["email"]: [x["id"] for x in c["externalIds"]] for c in data["customers"]}
    assert links == {f"p{n}@example.ng": [str(40 + n)] for n in range(5)}
    assert calls == [5]  # one read for the page, not one per customer


async def test_an_order_s_partial_customer_takes_the_billing_address(gql, client, tenant):
    shop = await connect(gql, client, tenant)
    order = {
        "id": 820982911946154600,
        "email": "pat@example.ng",
        "contact_email": "pat@example.ng",
        "customer": {
            "id": 88,
            "email": None,
            "first_name": None,
            "last_name": None,
            "phone": None,
            "default_address": None,
        },
        "billing_address": {
            "first_name": "Pat",
            "last_name": "Obi",
            "phone": "08031112222",
            "address1": "9 Adeola Odeku",
            "city": "Victoria Island",
            "province": "Lagos",
            "country": "Nigeria",
            "company": None,
        },
    }
    assert (await shop.shopify("orders/create", order)).status_code == 200
    pat = await linked(gql, tenant, shop, "88")
    assert pat["email"] == "pat@example.ng" and pat["name"] == "Pat Obi"
    assert pat["phone"] == "+2348031112222"
    assert pat["address"] == "9 Adeola Odeku, Victoria Island, Lagos, Nigeria"


async def test_ids_that_are_no_ids_link_nothing_and_gids_are_the_rest_number(gql, client, tenant):
    shop = await connect(gql, client, tenant, "WOOCOMMERCE")
    nul = woo_customer(id="12\u00003", email="nul@example.ng")
    assert (
        await shop.woo("customer.created", nul)
    ).status_code == 200  # not a 500, retried forever
    listed = (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"]
    assert [c["email"] for c in listed] == ["nul@example.ng"]  # a guest: found or created
    shopify = await connect(gql, client, tenant)
    gid = shopify_customer(id="gid://shopify/Customer/4", email="gid@example.ng")
    assert (await shopify.shopify("customers/create", gid)).status_code == 200
    assert (await linked(gql, tenant, shopify, "4"))["email"] == "gid@example.ng"
