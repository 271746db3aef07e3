"""Which webhook URLs may be called: the SSRF rules of the contract.

In production a URL must be https and its host must resolve only to public
addresses (no loopback, private, link-local, shared or reserved ones).
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
RESOLVE_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """A URL or address the rules do not allow; the message never repeats the URL."""


@dataclass(frozen=True)
class Policy:
    production: bool
    allow_private: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(production=settings.is_production, allow_private=settings.webhook_allow_private)


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


def allowed(address: IPAddress, policy: Policy) -> bool:
    if policy.allow_private:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return not policy.production
    return address.is_global and not address.is_multicast and not address.is_unspecified


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
            raise Refused("the host does not resolve") from None
        found = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    if not found or not all(allowed(address, policy) for address in found):
        raise Refused("the host resolves to an address that is not allowed")
    return found


async def check(url: str, policy: Policy) -> Target:
    """Parse and resolve: what endpoint creation runs."""
    target = parse(url, policy)
    await resolve(target, policy)
    return target
