"""Shop connections: the rules in the service, and the same through GraphQL."""

from __future__ import annotations

import asyncio

import pytest

from app.services import shop_sync, shops
from app.services.access import Caller, Scope
from app.services.errors import Forbidden, InvalidInput
from app.settings import Settings
from app.shops import deliveries, domains, topics
from app.shops.deliveries import Delivery
from tests.conftest import make_tenant
from tests.shops import (
    BIG_ID,
    CREATE_CONNECTION,
    WOO_SECRET,
    connect,
    shopify_customer,
    shopify_headers,
    shopify_json,
)


def caller(tenant, scope=Scope.WRITE) -> Caller:
    return Caller(tenant.business_id, "fin_test", scope)


def test_domains_are_normalised_and_checked_per_platform():
    assert domains.checked("shopify", "https://Acme.MyShopify.com/") == "acme.myshopify.com"
    assert domains.checked("shopify", "acme-ng.myshopify.com.") == "acme-ng.myshopify.com"
    assert (
        domains.checked("woocommerce", "https://shop.example.ng/store/") == "shop.example.ng/store"
    )
    assert domains.checked("woocommerce", "http://Shop.Example.NG:8080") == "shop.example.ng:8080"
    assert domains.checked("woocommerce", "https://shop.example.ng:443/") == "shop.example.ng"
    assert domains.checked("woocommerce", "shop.example.ng:80") == "shop.example.ng"
    for platform, bad in [
        ("shopify", "acme.com"),
        ("shopify", "acme.myshopify.com/admin"),
        ("shopify", "https://evil.com/acme.myshopify.com"),
        ("woocommerce", "localhost"),
        ("woocommerce", "https://-bad-.example.ng"),
        ("woocommerce", "https://shop.example.ng:99999/"),
        ("woocommerce", "x" * 600),
        ("woocommerce", "ftp://shop.example.ng"),
        ("woocommerce", "https://user:pw@shop.example.ng"),
        ("woocommerce", "https://shop.example.ng\\@evil.com"),
    ]:
        with pytest.raises(domains.BadDomain):
            domains.checked(platform, bad)
    assert domains.same("https://shop.example.ng/store", "shop.example.ng/store")
    assert not domains.same("https://shop.example.ng/", "shop.example.ng/store")
    assert not domains.same(None, "shop.example.ng")


async def test_create_checks_everything_at_once_and_keeps_the_secret_sealed(tenant, raw_db):
    with pytest.raises(InvalidInput) as refused:
        await shops.create_connection(
            caller(tenant),
            business_id=tenant.business_id,
            platform="shopify",
            shop_domain="acme.com",
            secret="short",
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [
        (("shopDomain",), "INVALID"),
        (("secret",), "BLANK"),
    ]
    with pytest.raises(InvalidInput) as long:
        await shops.create_connection(
            caller(tenant),
            business_id=tenant.business_id,
            platform="woocommerce",
            shop_domain=" ",
            secret="s" * 257,
        )
    assert [(e.field, e.code) for e in long.value.errors] == [
        (("shopDomain",), "BLANK"),
        (("secret",), "TOO_LONG"),
    ]
    made = await shops.create_connection(
        caller(tenant),
        business_id=tenant.business_id,
        platform="woocommerce",
        shop_domain="https://shop.example.ng/",
        secret=WOO_SECRET,
    )
    stored = await raw_db.fetchval("SELECT secret FROM shop_connection WHERE id = $1", made.id)
    assert WOO_SECRET.encode() not in stored
    live = await shops.live_connection(made.id)
    assert live is not None and live.secret == WOO_SECRET and live.shop_domain == "shop.example.ng"
    with pytest.raises(InvalidInput) as taken:
        await shops.create_connection(
            caller(tenant),
            business_id=tenant.business_id,
            platform="woocommerce",
            shop_domain="HTTPS://SHOP.EXAMPLE.NG",
            secret=WOO_SECRET,
        )
    assert [(e.field, e.code) for e in taken.value.errors] == [(("shopDomain",), "TAKEN")]
    await shops.delete_connection(caller(tenant), connection_id=made.id)
    assert await shops.live_connection(made.id) is None
    again = await shops.create_connection(  # a deleted connection frees its shop
        caller(tenant),
        business_id=tenant.business_id,
        platform="woocommerce",
        shop_domain="shop.example.ng",
        secret=WOO_SECRET,
    )
    assert again.id != made.id


async def test_scopes_other_businesses_and_the_limit(tenant, other):
    for scope in (Scope.READ, Scope.READ_MASKED):
        with pytest.raises(Forbidden):
            await shops.create_connection(
                caller(tenant, scope),
                business_id=tenant.business_id,
                platform="shopify",
                shop_domain="a.myshopify.com",
                secret=WOO_SECRET,
            )
    with pytest.raises(Forbidden):
        await shops.list_connections(caller(tenant), business_id=other.business_id)
    theirs = await shops.create_connection(
        caller(other),
        business_id=other.business_id,
        platform="shopify",
        shop_domain="theirs.myshopify.com",
        secret=WOO_SECRET,
    )
    with pytest.raises(InvalidInput) as missing:
        await shops.delete_connection(caller(tenant), connection_id=theirs.id)
    assert missing.value.errors[0].code == "NOT_FOUND"
    assert await shops.live_connection(theirs.id) is not None
    made = await asyncio.gather(
        *(
            shops.create_connection(
                caller(tenant),
                business_id=tenant.business_id,
                platform="shopify",
                shop_domain=f"s{n}.myshopify.com",
                secret=WOO_SECRET,
            )
            for n in range(shops.MAX_CONNECTIONS + 3)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(m, Exception) for m in made) == shops.MAX_CONNECTIONS
    listed = await shops.list_connections(caller(tenant), business_id=tenant.business_id)
    assert len(listed) == shops.MAX_CONNECTIONS


async def test_graphql_connection_and_its_webhook_url(gql, client, tenant, monkeypatch):
    monkeypatch.setenv("FINORA_PUBLIC_URL", "https://api.finora.ng/")
    shop = await connect(gql, client, tenant, domain="https://Acme-NG.myshopify.com/")
    connection = shop.connection
    assert connection["id"].startswith("shop_") and connection["platform"] == "SHOPIFY"
    assert connection["shopDomain"] == "acme-ng.myshopify.com"
    assert connection["webhookUrl"] == f"https://api.finora.ng/v1/shops/{shop.id}/webhooks"
    assert connection["lastDeliveryAt"] is None
    second = await gql.data(
        tenant,
        CREATE_CONNECTION,
        {"b": tenant.business_id, "p": "SHOPIFY", "d": "acme-ng.myshopify.com", "s": WOO_SECRET},
    )
    assert second["createShopConnection"]["userErrors"][0]["code"] == "TAKEN"
    schema_secret = await gql(
        tenant,
        "query($b: ID!) { shopConnections(businessId: $b) { secret } }",
        {"b": tenant.business_id},
    )
    assert schema_secret.status_code == 400  # there is no such field: never returned
    monkeypatch.delenv("FINORA_PUBLIC_URL")
    assert shops.webhook_url("shop_x", Settings.from_env()).startswith("http://127.0.0.1:")


async def test_two_deliveries_of_one_new_shopper_racing_make_one_customer(tenant, raw_db):
    """In the service: the advisory lock and the email index settle every race."""
    made = await shops.create_connection(
        caller(tenant),
        business_id=tenant.business_id,
        platform="shopify",
        shop_domain="race.myshopify.com",
        secret=WOO_SECRET,
    )
    connection = await shops.live_connection(made.id)
    assert connection is not None
    for round_ in range(5):
        shopper = BIG_ID + round_
        body = shopify_json(shopify_customer(id=shopper, email=f"race{round_}@example.ng"))
        attempts = []
        for n in range(6):
            topic = "customers/create" if n % 2 else "orders/create"
            payload = (
                shopify_customer(id=shopper, email=f"race{round_}@example.ng")
                if n % 2
                else {
                    "id": n,
                    "email": f"race{round_}@example.ng",
                    "customer": shopify_customer(id=shopper, email=f"race{round_}@example.ng"),
                }
            )
            delivery = Delivery(topic, f"d{round_}-{n}", f"sig{n}", body)
            attempts.append(
                shop_sync.apply(connection, delivery, topics.action("shopify", topic, payload))
            )
        results = await asyncio.gather(*attempts)
        assert sum(r.created for r in results) == 1
        assert len({r.customer_id for r in results}) == 1
    counts = await raw_db.fetchrow(
        "SELECT (SELECT count(*) FROM customer WHERE business_id = $1) AS customers, "
        "(SELECT count(*) FROM customer_external_id WHERE connection_id = $2) AS links",
        tenant.business_id,
        made.id,
    )
    assert dict(counts) == {"customers": 5, "links": 5}


def test_a_delivery_is_verified_on_its_raw_bytes_in_one_hmac():
    body = shopify_json(shopify_customer())
    headers = {k.lower(): v for k, v in shopify_headers("customers/create", body).items()}
    delivery = deliveries.verified(
        "shopify", "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", "acme-ng.myshopify.com", headers, body
    )
    assert (
        delivery.topic == "customers/create"
        and delivery.signature == headers["x-shopify-hmac-sha256"]
    )
    # Shopify's newer lower-case names are read too.
    newer = {k.replace("x-shopify-", "shopify-"): v for k, v in headers.items()}
    assert deliveries.verified(
        "shopify", "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", "acme-ng.myshopify.com", newer, body
    ).delivery_id
    with pytest.raises(deliveries.Refused):
        deliveries.verified("shopify", "another secret", "acme-ng.myshopify.com", headers, body)
    assert deliveries.is_ping("woocommerce", {}, b"webhook_id=12")
    assert not deliveries.is_ping("shopify", {}, b"webhook_id=12")
    assert not deliveries.is_ping(
        "woocommerce", {"x-wc-webhook-topic": "customer.created"}, b"webhook_id=1"
    )


async def test_problems_are_kept_a_week_and_at_least_the_last_hundred(tenant, raw_db):
    made = await shops.create_connection(
        caller(tenant),
        business_id=tenant.business_id,
        platform="shopify",
        shop_domain="old.myshopify.com",
        secret=WOO_SECRET,
    )
    await raw_db.execute(
        "INSERT INTO shop_problem (connection_id, occurred_at, topic, field, code) "
        "SELECT $1, now() - interval '30 days' + n * interval '1 second', 'customers/update', "
        "'phone', 'INVALID' FROM generate_series(1, 130) AS n",
        made.id,
    )
    await raw_db.execute(
        "INSERT INTO shop_delivery (connection_id, delivery_id, signature, received_at) "
        "VALUES ($1, 'old', 's', now() - interval '8 days'), ($1, 'new', 's', now())",
        made.id,
    )
    await shop_sync.prune(raw_db)
    kept = await raw_db.fetchval(
        "SELECT count(*) FROM shop_problem WHERE connection_id = $1", made.id
    )
    assert kept == shop_sync.KEEP_PROBLEMS
    remembered = await raw_db.fetch(
        "SELECT delivery_id FROM shop_delivery WHERE connection_id = $1", made.id
    )
    assert [r["delivery_id"] for r in remembered] == ["new"]
    assert len(await shops.problems(made.id, 100)) == 100
    with pytest.raises(Exception, match="first must be between"):
        await shops.problems(made.id, 101)


async def test_a_masked_key_reads_a_linked_customer_masked(gql, client, tenant):
    from app.services import businesses

    shop = await connect(gql, client, tenant)
    await shop.shopify("customers/create", shopify_customer())
    issued = await businesses.create_api_key(tenant.business_id, scope="read_masked")
    masked = type(tenant)(tenant.business_id, issued.key)
    data = await gql.data(
        masked,
        "query($c: ID!, $x: String!) { customerByExternalId(connectionId: $c, externalId: $x) "
        "{ email externalIds { id } } }",
        {"c": shop.id, "x": str(BIG_ID)},
    )
    found = data["customerByExternalId"]
    assert found["email"] != "bob@biller.com" and found["externalIds"] == [{"id": str(BIG_ID)}]
    stranger = await make_tenant("Stranger")
    none = await gql.data(
        stranger,
        "query($c: ID!, $x: String!) "
        "{ customerByExternalId(connectionId: $c, externalId: $x) { id } }",
        {"c": shop.id, "x": str(BIG_ID)},
    )
    assert none["customerByExternalId"] is None
