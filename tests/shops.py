"""Shopify and WooCommerce as they send: payloads in the platforms' own bytes, headers
by their real names, base64 HMAC-SHA256 over the raw body.

Shopify's JSON escapes slashes (``gid:\\/\\/shopify\\/Customer\\/...``) and WordPress's
``wp_json_encode`` escapes them and non-ASCII letters (``\\u00e9``): a receiver that
re-serialised the body before checking the signature would fail on these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # bench/shops.py sends these payloads too: no test set-up on import
    from tests.conftest import GraphQL, Tenant

SHOPIFY_SECRET = "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"
WOO_SECRET = "wc-secret: K8#x!p2 Lq"
SHOP_DOMAIN = "acme-ng.myshopify.com"
WOO_SITE = "https://shop.example.ng/store/"
BIG_ID = 706405506930370084  # Shopify's own sample: beyond 2^53, a float would change it

CREATE_CONNECTION = """
mutation($b: ID!, $p: ShopPlatform!, $d: String!, $s: String!) {
  createShopConnection(businessId: $b, platform: $p, shopDomain: $d, secret: $s) {
    connection { id platform shopDomain webhookUrl createdAt lastDeliveryAt }
    userErrors { field code message }
  }
}"""
BY_EXTERNAL_ID = """
query($c: ID!, $x: String!) {
  customerByExternalId(connectionId: $c, externalId: $x) {
    id name email phone address companyName isActive erasedAt
    externalIds { platform connectionId id linkedAt removedAt }
  }
}"""
PROBLEMS = """
query($b: ID!) {
  shopConnections(businessId: $b) {
    id lastDeliveryAt problems(first: 100) { occurredAt topic externalId field code }
  }
}"""

_deliveries = itertools.count(1)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_json(payload: dict[str, Any]) -> bytes:
    """JSON the way Shopify writes it: compact, slashes escaped."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def woo_json(payload: dict[str, Any]) -> bytes:
    """``trim(wp_json_encode(...))``: compact, slashes and non-ASCII escaped."""
    return (
        json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()
    )


def shopify_headers(
    topic: str,
    body: bytes,
    *,
    secret: str = SHOPIFY_SECRET,
    domain: str = SHOP_DOMAIN,
    webhook_id: str | None = None,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id
        or f"b54557e4-bdd9-4b37-8a5f-bf7d70bc{next(_deliveries):04d}",
        "X-Shopify-Triggered-At": "2026-12-07T10:00:00.000000Z",
        "X-Shopify-Event-Id": f"98880550-7158-44d4-b7cd-2c97c8a{next(_deliveries):05d}",
    }


def woo_headers(
    topic: str,
    body: bytes,
    *,
    secret: str = WOO_SECRET,
    source: str | None = WOO_SITE,
    delivery_id: str | None = None,
) -> dict[str, str]:
    resource, event = topic.split(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(secret, body),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id or str(next(_deliveries)),
    }
    if source is not None:
        headers["X-WC-Webhook-Source"] = source
    return headers


def shopify_customer(
    id: int = BIG_ID, email: str = "bob@biller.com", **overrides: Any
) -> dict[str, Any]:
    """Shopify's customers/create sample, with a Nigerian default address."""
    address = {
        "id": 1053317300,
        "customer_id": id,
        "first_name": "Bob",
        "last_name": "Biller",
        "company": "Biller Ventures",
        "address1": "12 Allen Avenue",
        "address2": "Suite 4",
        "city": "Ikeja",
        "province": "Lagos",
        "country": "Nigeria",
        "zip": "100271",
        "phone": "+2348031234567",
        "name": "Bob Biller",
        "province_code": "LA",
        "country_code": "NG",
        "country_name": "Nigeria",
        "default": True,
    }
    customer = {
        "id": id,
        "email": email,
        "created_at": "2026-12-07T11:00:00+01:00",
        "updated_at": "2026-12-07T11:00:00+01:00",
        "first_name": "Bob",
        "last_name": "Biller",
        "orders_count": 0,
        "state": "disabled",
        "total_spent": "0.00",
        "last_order_id": None,
        "note": "This customer loves ice cream",
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "tags": "",
        "currency": "NGN",
        "phone": None,
        "addresses": [address],
        "default_address": address,
        "tax_exemptions": [],
        "email_marketing_consent": None,
        "sms_marketing_consent": None,
        "admin_graphql_api_id": f"gid://shopify/Customer/{id}",
    }
    customer.update(overrides)
    return customer


def woo_customer(id: int = 25, email: str = "chidi@example.ng", **overrides: Any) -> dict[str, Any]:
    """WooCommerce's customer JSON (GET /wp-json/wc/v3/customers/<id>)."""
    customer = {
        "id": id,
        "date_created": "2026-12-07T11:00:00",
        "date_created_gmt": "2026-12-07T10:00:00",
        "date_modified": "2026-12-07T11:00:00",
        "date_modified_gmt": "2026-12-07T10:00:00",
        "email": email,
        "first_name": "Chidi",
        "last_name": "Okafor\u00e9",
        "role": "customer",
        "username": "chidi.okafor",
        "billing": {
            "first_name": "Chidi",
            "last_name": "Okafor",
            "company": "Okafor & Sons",
            "address_1": "5 Broad Street",
            "address_2": "",
            "city": "Lagos Island",
            "state": "LA",
            "postcode": "101001",
            "country": "NG",
            "email": email,
            "phone": "08031234568",
        },
        "shipping": {
            "first_name": "Chidi",
            "last_name": "Okafor",
            "company": "",
            "address_1": "",
            "address_2": "",
            "city": "",
            "state": "",
            "postcode": "",
            "country": "",
        },
        "is_paying_customer": False,
        "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
        "meta_data": [],
    }
    customer.update(overrides)
    return customer


class Shop:
    """One connection of a tenant, and a way to post deliveries to it."""

    def __init__(self, client: httpx.AsyncClient, connection: dict[str, Any]) -> None:
        self.client = client
        self.connection = connection
        self.id: str = connection["id"]
        self.path = f"/v1/shops/{self.id}/webhooks"

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(self.path, content=body, headers=headers)

    async def shopify(self, topic: str, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        body = shopify_json(payload)
        return await self.post(body, shopify_headers(topic, body, **kw))

    async def woo(self, topic: str, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        body = woo_json(payload)
        return await self.post(body, woo_headers(topic, body, **kw))


async def connect(
    gql: GraphQL,
    client: httpx.AsyncClient,
    tenant: Tenant,
    platform: str = "SHOPIFY",
    domain: str | None = None,
    secret: str | None = None,
) -> Shop:
    variables = {
        "b": tenant.business_id,
        "p": platform,
        "d": domain or (SHOP_DOMAIN if platform == "SHOPIFY" else WOO_SITE),
        "s": secret or (SHOPIFY_SECRET if platform == "SHOPIFY" else WOO_SECRET),
    }
    payload = (await gql.data(tenant, CREATE_CONNECTION, variables))["createShopConnection"]
    assert payload["userErrors"] == [], payload
    return Shop(client, payload["connection"])


async def linked(gql: GraphQL, tenant: Tenant, shop: Shop, external_id: str) -> dict | None:
    data = await gql.data(tenant, BY_EXTERNAL_ID, {"c": shop.id, "x": external_id})
    return data["customerByExternalId"]


async def problems(gql: GraphQL, tenant: Tenant, shop: Shop) -> list[dict]:
    data = await gql.data(tenant, PROBLEMS, {"b": tenant.business_id})
    return next(c for c in data["shopConnections"] if c["id"] == shop.id)["problems"]
