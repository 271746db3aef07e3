"""Which webhook URLs may be called: the SSRF rules of the contract.

In production a URL must be https and its host must resolve only to public
addresses (no loopback, private, link-local, shared, site-local or reserved
ones; an IPv6 form that carries an IPv4 address, NAT64, 6to4, IPv4-mapped,
-compatible or -translated, is judged as that IPv4 address).
Development also allows http and loopback, so a receiver on the developer's
machine works.  ``FINORA_WEBHOOK_ALLOW_PRIVATE=1`` lifts both rules (tests,
private networks).  The rules are applied when an endpoint is created and again
before every batch of deliveries, to the addresses the name resolves to then;
the sender connects to the checked address itself, so a name that changes its
answer between the check and the connection (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.settings import Settings

URL_MAX = 2000
#: One answer for a host that does not resolve and one that resolves where it may not
#: go, so creating endpoints cannot be used to map internal DNS names.
NOT_ALLOWED = "the host does not resolve to an address webhooks may reach"
RESOLVE_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """A URL or address the rules do not allow; the message never repeats the URL."""


@dataclass(frozen=True)
class Policy:
    production: bool
    allow_private: bool

    @classmethod
    def from_settings(cls, settings: Settings, *, unset_is_production: bool = False) -> Policy:
        """``unset_is_production``: with FINORA_ENV unset, production's rules (the worker:
        it has no listening socket to keep on loopback, and a URL checked in production
        whose name later resolves to 127.0.0.1 must still never be delivered)."""
        production = settings.is_production or (unset_is_production and not settings.env_explicit)
        return cls(production=production, allow_private=settings.webhook_allow_private)


@dataclass(frozen=True)
class Target:
    """A checked URL, split into what the sender needs."""

    scheme: str
    host: str
    port: int
    #: path and query, as sent in the request line
    target: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The URL with the host replaced by the checked address."""
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.target}"


@functools.cache
def current_policy() -> Policy:
    """This process's rules, from the environment (read once)."""
    return Policy.from_settings(Settings.from_env())


def parse(url: str, policy: Policy) -> Target:
    """The URL's form: scheme, host, no credentials, length."""
    if len(url) > URL_MAX:
        raise Refused(f"the URL is longer than {URL_MAX} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused("the URL is malformed") from None
    schemes = ("https",) if policy.production and not policy.allow_private else ("http", "https")
    if parts.scheme not in schemes:
        raise Refused("the URL must use " + " or ".join(schemes))
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise Refused("the URL needs a host and no user or password")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Refused("the URL is malformed")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, target)


#: IPv6 forms that carry an IPv4 address, and where: behind NAT64 or a 6to4 relay
#: (common in IPv6-only clusters) a connection to one of them reaches that IPv4
#: host, so it is judged as that host.  Shifts count bits from the right.
_CARRIERS = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), 0),  # IPv4-mapped
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), 0),  # IPv4-translated (RFC 2765)
    (ipaddress.IPv6Network("::/96"), 0),  # IPv4-compatible (deprecated, still routed)
    (ipaddress.IPv6Network("64:ff9b::/96"), 0),  # NAT64 well-known prefix (RFC 6052)
    (ipaddress.IPv6Network("64:ff9b:1::/48"), 0),  # NAT64 local use (RFC 8215)
    (ipaddress.IPv6Network("2002::/16"), 80),  # 6to4: bits 16 to 48
)
#: Local-use NAT64 prefix: never public, whatever it carries (RFC 8215).
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries, or None."""
    for network, shift in _CARRIERS:
        if address in network:
            return ipaddress.IPv4Address((int(address) >> shift) & 0xFFFFFFFF)
    return None


def allowed(address: IPAddress, policy: Policy) -> bool:
    """Whether a webhook may connect to ``address``: the one rule for creation and delivery."""
    if policy.allow_private:
        return True
    if address.is_loopback:
        return not policy.production
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or address in _LOCAL_NAT64:
            return False
        carried = embedded_ipv4(address)
        if carried is not None:
            return allowed(carried, policy)
    return (
        address.is_global
        and not address.is_reserved
        and not address.is_multicast
        and not address.is_unspecified
    )


async def resolve(target: Target, policy: Policy) -> list[IPAddress]:
    """The addresses to connect to, in the resolver's order; Refused unless every
    address of the name is allowed."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_S,
            )
        except (OSError, TimeoutError):
            raise Refused(NOT_ALLOWED) from None
        found = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    if not found or not all(allowed(address, policy) for address in found):
        raise Refused(NOT_ALLOWED)
    return found


async def check(url: str, policy: Policy) -> Target:
    """Parse and resolve: what endpoint creation runs."""
    target = parse(url, policy)
    await resolve(target, policy)
    return target
