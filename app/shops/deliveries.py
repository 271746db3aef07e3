"""A shop's webhook delivery, trusted or refused before anything in it is parsed.

Both platforms sign the raw body: base64 of HMAC-SHA256 under the connection's
secret.  The check runs on the bytes as received (a re-serialised copy would
differ) and in constant time.  Then the origin: Shopify names its shop in
``X-Shopify-Shop-Domain``, WooCommerce its site in ``X-WC-Webhook-Source``
(optional, but checked when sent).  Header names are matched case-insensitively,
and Shopify's newer ``shopify-*`` spellings are read as well as ``X-Shopify-*``.

WooCommerce's creation ping (a form body ``webhook_id=N`` without a topic) is
sent unsigned; it must get a 2xx or the shop will not save the webhook, and it
is answered without touching anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.shoppers.platforms import SHOPIFY, WOOCOMMERCE
from app.shops import domains

#: Per platform, the header names of each part of a delivery, in the order tried.
HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    SHOPIFY: {
        "signature": ("x-shopify-hmac-sha256", "shopify-hmac-sha256"),
        "topic": ("x-shopify-topic", "shopify-topic"),
        "delivery": ("x-shopify-webhook-id", "shopify-webhook-id"),
        "origin": ("x-shopify-shop-domain", "shopify-shop-domain"),
    },
    WOOCOMMERCE: {
        "signature": ("x-wc-webhook-signature",),
        "topic": ("x-wc-webhook-topic",),
        "delivery": ("x-wc-webhook-delivery-id", "x-wc-delivery-id"),
        "origin": ("x-wc-webhook-source",),
    },
}
#: Whether the platform always names its origin (Shopify) or only may (WooCommerce).
ORIGIN_REQUIRED = {SHOPIFY: True, WOOCOMMERCE: False}
_WOO_PING = re.compile(rb"^webhook_id=\d{1,20}$")
#: Longest delivery id kept (the column's size); a longer one is not a platform's.
DELIVERY_ID_MAX = 200


class Refused(Exception):
    """The delivery is not the shop's: answered 401, saying no more."""


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    #: The platform's delivery id ("" when none was sent: then no repeat is detected).
    delivery_id: str
    #: The verified signature: a keyed digest of the body, which stands for it.
    signature: str
    body: bytes


def _header(headers: Mapping[str, str], platform: str, part: str) -> str | None:
    for name in HEADERS[platform][part]:
        value = headers.get(name)
        if value is not None:
            return value.strip()
    return None


def signature_of(secret: str, body: bytes) -> str:
    """What the platforms send: base64 of HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def is_ping(platform: str, headers: Mapping[str, str], body: bytes) -> bool:
    """WooCommerce's creation ping: no topic, a form body ``webhook_id=N``."""
    return (
        platform == WOOCOMMERCE
        and _header(headers, platform, "topic") is None
        and _WOO_PING.match(body.strip()) is not None
    )


def verified(
    platform: str, secret: str, domain: str, headers: Mapping[str, str], body: bytes
) -> Delivery:
    """The delivery, once its signature and origin are the connection's; else Refused.

    `headers` has lowercased names (as ASGI gives them).  One HMAC, whatever is sent.
    """
    given = _header(headers, platform, "signature")
    expected = signature_of(secret, body)
    if given is None or not hmac.compare_digest(expected.encode(), given.encode("latin-1")):
        raise Refused
    origin = _header(headers, platform, "origin")
    if origin is None and ORIGIN_REQUIRED[platform]:
        raise Refused
    if origin is not None and not domains.same(origin, domain):
        raise Refused
    delivery_id = _header(headers, platform, "delivery") or ""
    return Delivery(
        topic=(_header(headers, platform, "topic") or "").lower(),
        delivery_id=delivery_id[:DELIVERY_ID_MAX],
        signature=expected,
        body=body,
    )
