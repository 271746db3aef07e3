"""A shop's domain, normalised: the same shop is one spelling, so a second connection
to it is TAKEN and a delivery's origin compares equal.

Lowercased, without scheme, port-less default, query, fragment, trailing dot or
slash: ``https://Acme.MyShopify.com/`` is ``acme.myshopify.com``.  WooCommerce
sites may live under a path (``https://shop.example.ng/store/`` is
``shop.example.ng/store``), which is kept; Shopify's are a bare
``*.myshopify.com`` host.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from app.shoppers.platforms import SHOPIFY

DOMAIN_MAX = 255
#: One DNS label: letters, digits and inner hyphens.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SHOPIFY_HOST = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_PATH_PART = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$")


class BadDomain(ValueError):
    """Not a shop address the platform could have."""


def normalise(text: str) -> str:
    """The normalised form of a domain or URL (not checked: see ``checked``)."""
    text = text.strip()
    if "://" not in text:
        text = "//" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").rstrip(".")
    port = f":{parts.port}" if _explicit_port(parts) else ""
    path = parts.path.strip("/")
    return f"{host}{port}/{path}".lower().rstrip("/") if path else f"{host}{port}".lower()


def _explicit_port(parts: object) -> bool:
    try:
        port = parts.port  # type: ignore[attr-defined]
    except ValueError:
        raise BadDomain("port") from None
    scheme = parts.scheme  # type: ignore[attr-defined]
    # Without a scheme, 80 and 443 are the defaults of the schemes a site may use.
    defaults = {80, 443} if not scheme else {80 if scheme == "http" else 443}
    return port is not None and port not in defaults


def checked(platform: str, text: str) -> str:
    """The normalised domain, or BadDomain when the platform could not have it: an
    http(s) site, no user info, no backslash (parsers disagree on what they mean)."""
    if len(text) > DOMAIN_MAX * 2:
        raise BadDomain("too long")
    scheme, sep, _ = text.strip().partition("://")
    if (sep and scheme.lower() not in ("http", "https")) or "@" in text or "\\" in text:
        raise BadDomain("not a site address")
    try:
        domain = normalise(text)
    except ValueError:
        raise BadDomain("unreadable") from None
    if not domain or len(domain) > DOMAIN_MAX:
        raise BadDomain("length")
    host, _, path = domain.partition("/")
    host = host.split(":", 1)[0]
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise BadDomain("host")
    if platform == SHOPIFY:
        if path or not _SHOPIFY_HOST.match(domain):
            raise BadDomain("not a myshopify.com domain")
    elif path and not all(_PATH_PART.match(part) for part in path.split("/")):
        raise BadDomain("path")
    return domain


def same(given: str | None, domain: str) -> bool:
    """Whether a header's domain or URL names the connection's shop."""
    if not given:
        return False
    try:
        return normalise(given) == domain
    except ValueError:
        return False
