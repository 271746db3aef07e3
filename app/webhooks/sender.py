"""One delivery attempt over HTTP, to the address the rules checked.

The request goes to the resolved IP itself, with the real name in the Host
header and in TLS (SNI and certificate check), so the address connected to is
the one that was checked.  No redirects are followed, no proxy from the
environment is used, and the whole attempt has 15 seconds: a 2xx within them is
delivered, anything else is retried.  The answer's body is never read.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import httpx

from app.webhooks import signing
from app.webhooks.addresses import IPAddress, Policy, Target, parse, resolve

TIMEOUT_S = 15.0
USER_AGENT = "finora-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    #: the HTTP status, or None when there was no answer
    status: int | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for the process: building one (loading the CA bundle) costs ~10 ms."""
    return httpx.create_ssl_context()


class Session:
    """Sends the deliveries of one endpoint, over one client, to one checked address.

    A session per endpoint (not one shared pool) keeps TLS connections of
    different names on one address apart.
    """

    def __init__(self, target: Target, addresses: list[IPAddress]) -> None:
        self.target = target
        #: the checked addresses; the first that accepts a connection is kept
        self.urls = [target.url_for(address) for address in addresses]
        self.client = httpx.AsyncClient(
            timeout=TIMEOUT_S,
            verify=_tls(),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    @classmethod
    async def open(cls, url: str, policy: Policy) -> Session:
        """Check the URL and resolve it now (raises addresses.Refused)."""
        target = parse(url, policy)
        return cls(target, await resolve(target, policy))

    async def send(
        self, secret: str, message_id: str, body: bytes, *, previous: Sequence[str] = ()
    ) -> Outcome:
        """One attempt, signed with `secret` (and `previous`, during a rotation's overlap)."""
        headers = signing.headers(secret, message_id, int(time.time()), body, previous=previous)
        headers["host"] = self.target.host_header
        headers["user-agent"] = USER_AGENT
        extensions = {"sni_hostname": self.target.host} if self.target.scheme == "https" else {}
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    request = self.client.build_request(
                        "POST", self.urls[0], content=body, headers=headers, extensions=extensions
                    )
                    try:
                        response = await self.client.send(request, stream=True)
                        break
                    except httpx.ConnectError:
                        if len(self.urls) == 1:
                            raise
                        self.urls.pop(0)  # e.g. an IPv6 address without a route: the next one
                await response.aclose()
        except (httpx.HTTPError, TimeoutError, OSError):
            return Outcome(None)
        return Outcome(response.status_code)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.aclose()
