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
        {"id", "email", "first_name", "last_name", "phone", "default_address", "addresses"}
    ),
    WOOCOMMERCE: frozenset({"id", "email", "first_name", "last_name", "billing", "shipping"}),
}
#: Per platform, the keys of a nested address that hold each part of ours, in the
#: order they are tried (Shopify's JSON has the province's name and its code).
ADDRESS_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    SHOPIFY: {
        "first_name": ("first_name",),
        "last_name": ("last_name",),
        "name": ("name",),
        "company": ("company",),
        "line1": ("address1",),
        "line2": ("address2",),
        "city": ("city",),
        "region": ("province", "province_code"),
        "postcode": ("zip",),
        "country": ("country", "country_code"),
        "phone": ("phone",),
    },
    WOOCOMMERCE: {
        "first_name": ("first_name",),
        "last_name": ("last_name",),
        "company": ("company",),
        "line1": ("address_1",),
        "line2": ("address_2",),
        "city": ("city",),
        "region": ("state",),
        "postcode": ("postcode",),
        "country": ("country",),
        "phone": ("phone",),
    },
}
#: Keys of a nested address each reader reads (WooCommerce's billing email too).
ADDRESS_KEYS: dict[str, frozenset[str]] = {
    SHOPIFY: frozenset(k for keys in ADDRESS_PARTS[SHOPIFY].values() for k in keys),
    WOOCOMMERCE: frozenset(
        {"email", *(k for keys in ADDRESS_PARTS[WOOCOMMERCE].values() for k in keys)}
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


def _address(platform: str, raw: Mapping[str, object]) -> Address:
    """A nested address of the platform: each part from the first of its keys that
    holds something."""
    parts = {}
    for part, keys in ADDRESS_PARTS[platform].items():
        parts[part] = next((raw[k] for k in keys if raw.get(k) not in (None, "")), None)
    return Address(**parts)


def from_shopify(customer: Mapping[str, object], *also: Mapping[str, object]) -> Shopper:
    """A Shopify customer; `also` are addresses tried after its own (an order's
    billing address, for the partial customer objects orders carry)."""
    default = customer.get("default_address")
    if not isinstance(default, Mapping):
        others = customer.get("addresses")
        default = others[0] if isinstance(others, list) and others else None
    addresses = (_mapping(default), *also)
    return Shopper(
        email=customer.get("email"),
        first_name=customer.get("first_name"),
        last_name=customer.get("last_name"),
        phone=customer.get("phone"),
        addresses=tuple(_address(SHOPIFY, a) for a in addresses),
        external_id=customer.get("id"),
    )


def from_woocommerce(customer: Mapping[str, object]) -> Shopper:
    billing = _mapping(customer.get("billing"))
    shipping = _mapping(customer.get("shipping"))
    email = customer.get("email")
    return Shopper(
        email=email if email not in (None, "") else billing.get("email"),
        first_name=customer.get("first_name"),
        last_name=customer.get("last_name"),
        addresses=(_address(WOOCOMMERCE, billing), _address(WOOCOMMERCE, shipping)),
        external_id=customer.get("id"),
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
