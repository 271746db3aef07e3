"""What each topic asks of the directory, read from the platform's own payload.

- customer created or updated: upsert that shop customer (its id, its fields);
- order created or updated: upsert the order's customer; a guest (Shopify: no
  ``customer``; WooCommerce: ``customer_id`` 0) is found or created by email,
  with no link (there is no shop customer to link to);
- customer deleted: the link is removed (the directory customer stays);
- customer redacted (Shopify's privacy webhook): the linked customer is erased;
- anything else: ignored (answered 200, so the shop does not retry it).

Ids are kept as text, exactly: Shopify's exceed 2^53, and the body is parsed
with integers intact (orjson), never through a float.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from app.shoppers import rules
from app.shoppers.platforms import READERS, SHOPIFY, WOOCOMMERCE, from_shopify
from app.shoppers.rules import Shopper


class Kind(enum.Enum):
    UPSERT = "upsert"
    #: A guest: find or create by email, link nothing.
    GUEST = "guest"
    REMOVE = "remove"
    REDACT = "redact"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class Action:
    kind: Kind
    external_id: str | None = None
    shopper: Shopper | None = None


UPSERTS = {
    SHOPIFY: {"customers/create", "customers/update"},
    WOOCOMMERCE: {"customer.created", "customer.updated"},
}
ORDERS = {
    SHOPIFY: {"orders/create", "orders/updated"},
    WOOCOMMERCE: {"order.created", "order.updated"},
}
REMOVALS = {SHOPIFY: {"customers/delete"}, WOOCOMMERCE: {"customer.deleted"}}
REDACTIONS = {SHOPIFY: {"customers/redact"}, WOOCOMMERCE: set()}


def handled(platform: str, topic: str) -> bool:
    """Whether the topic does anything here (others are answered 200 unread)."""
    return any(topic in table[platform] for table in (UPSERTS, ORDERS, REMOVALS, REDACTIONS))


external_id = rules.shop_id


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def action(platform: str, topic: str, payload: object) -> Action:
    """What the delivery asks for (its payload parsed, any JSON value)."""
    body = _mapping(payload)
    read = READERS[platform]
    if topic in UPSERTS[platform]:
        return _upsert(external_id(body.get("id")), read(body))
    if topic in ORDERS[platform]:
        return _shopify_order(body) if platform == SHOPIFY else _woocommerce_order(body)
    if topic in REMOVALS[platform]:
        return Action(Kind.REMOVE, external_id(body.get("id")))
    if topic in REDACTIONS[platform]:
        return Action(Kind.REDACT, external_id(_mapping(body.get("customer")).get("id")))
    return Action(Kind.IGNORE)


def _upsert(external: str | None, shopper: Shopper) -> Action:
    return Action(Kind.UPSERT if external else Kind.GUEST, external, shopper)


def _shopify_order(order: Mapping[str, object]) -> Action:
    """The order's ``customer`` (its email, else the order's; its default address,
    then the order's billing address: an order's customer object may be partial);
    a guest's order email with the billing address's name and phone."""
    email = order.get("email") or order.get("contact_email")
    customer = order.get("customer")
    billing = _mapping(order.get("billing_address"))
    if isinstance(customer, Mapping) and external_id(customer.get("id")):
        if not customer.get("email"):
            customer = {**customer, "email": email}
        return _upsert(external_id(customer.get("id")), from_shopify(customer, billing))
    guest = {
        "email": email,
        "first_name": billing.get("first_name"),
        "last_name": billing.get("last_name"),
        "phone": billing.get("phone"),
    }
    return Action(Kind.GUEST, None, READERS[SHOPIFY](guest))


def _woocommerce_order(order: Mapping[str, object]) -> Action:
    """``customer_id`` with the order's billing and shipping (0: a guest, by billing email)."""
    shopper = READERS[WOOCOMMERCE](
        {"billing": order.get("billing"), "shipping": order.get("shipping")}
    )
    return _upsert(external_id(order.get("customer_id")), shopper)
