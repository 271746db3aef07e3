"""Shopify's and WooCommerce's own customer objects, as their REST APIs and
webhooks send them, read into a shopper (app.shoppers.rules decides the rest).

- Shopify (``/admin/api/.../customers.json``, ``customers/*`` webhooks):
  ``email``, ``first_name``, ``last_name``, ``phone``, and ``default_address``
  (else the first of ``addresses``) with its names, company, parts and phone.
- WooCommerce (``GET /wp-json/wc/v3/customers``, ``customer.*`` webhooks):
  ``email`` (else ``billing.email``), ``first_name``, ``last_name``, then
  ``billing`` before ``shipping``, each with names, company, parts and phone.

Each reader also says which keys it read, so an import can list the others.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.shoppers.rules import Address, Shopper

SHOPIFY, WOOCOMMERCE = "shopify", "woocommerce"

#: Top-level keys each platform's reader reads.
READ_KEYS: dict[str, frozenset[str]] = {
    SHOPIFY: frozenset(
        {"email", "first_name", "last_name", "phone", "default_address", "addresses"}
    ),
    WOOCOMMERCE: frozenset({"email", "first_name", "last_name", "billing", "shipping"}),
}
#: Keys of a nested address each reader reads.
ADDRESS_KEYS: dict[str, frozenset[str]] = {
    SHOPIFY: frozenset(
        {
            *("first_name", "last_name", "name", "company", "address1", "address2", "city"),
            *("province", "province_code", "zip", "country", "country_code", "phone"),
        }
    ),
    WOOCOMMERCE: frozenset(
        {
            *("first_name", "last_name", "company", "address_1", "address_2", "city"),
            *("state", "postcode", "country", "email", "phone"),
        }
    ),
}


def platform_of(record: Mapping[str, object]) -> str | None:
    """Which platform's customer object this is, by the keys only that platform sends."""
    if "billing" in record or "shipping" in record or "username" in record:
        return WOOCOMMERCE
    if "default_address" in record or "addresses" in record or "admin_graphql_api_id" in record:
        return SHOPIFY
    return None


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _shopify_address(raw: Mapping[str, object]) -> Address:
    return Address(
        first_name=raw.get("first_name"),
        last_name=raw.get("last_name"),
        name=raw.get("name"),
        company=raw.get("company"),
        line1=raw.get("address1"),
        line2=raw.get("address2"),
        city=raw.get("city"),
        region=raw.get("province") or raw.get("province_code"),
        postcode=raw.get("zip"),
        country=raw.get("country") or raw.get("country_code"),
        phone=raw.get("phone"),
    )


def from_shopify(customer: Mapping[str, object]) -> Shopper:
    default = customer.get("default_address")
    if not isinstance(default, Mapping):
        others = customer.get("addresses")
        default = others[0] if isinstance(others, list) and others else None
    return Shopper(
        email=customer.get("email"),
        first_name=customer.get("first_name"),
        last_name=customer.get("last_name"),
        phone=customer.get("phone"),
        addresses=(_shopify_address(_mapping(default)),),
    )


def _woocommerce_address(raw: Mapping[str, object]) -> Address:
    return Address(
        first_name=raw.get("first_name"),
        last_name=raw.get("last_name"),
        company=raw.get("company"),
        line1=raw.get("address_1"),
        line2=raw.get("address_2"),
        city=raw.get("city"),
        region=raw.get("state"),
        postcode=raw.get("postcode"),
        country=raw.get("country"),
        phone=raw.get("phone"),
    )


def from_woocommerce(customer: Mapping[str, object]) -> Shopper:
    billing = _mapping(customer.get("billing"))
    shipping = _mapping(customer.get("shipping"))
    email = customer.get("email")
    return Shopper(
        email=email if email not in (None, "") else billing.get("email"),
        first_name=customer.get("first_name"),
        last_name=customer.get("last_name"),
        addresses=(_woocommerce_address(billing), _woocommerce_address(shipping)),
    )


READERS = {SHOPIFY: from_shopify, WOOCOMMERCE: from_woocommerce}


def unread_keys(platform: str, record: Mapping[str, object]) -> list[str]:
    """The keys of `record` the platform's reader does not read (nested as ``billing.x``)."""
    read, nested = READ_KEYS[platform], ADDRESS_KEYS[platform]
    unread = [name for name in record if name not in read]
    for name in ("default_address", "billing", "shipping"):
        inner = record.get(name)
        if name in read and isinstance(inner, Mapping):
            unread.extend(f"{name}.{k}" for k in inner if k not in nested)
    return unread
