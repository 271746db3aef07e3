"""Bearer API keys: every request to the API names the business it acts for.

A missing, malformed, unknown or revoked key gets HTTP 401 with code
UNAUTHENTICATED before any GraphQL work is done.  The caller found is left in
the ASGI scope's state for the layers below.

An unknown key costs one indexed lookup, and made-up keys never repeat, so
caching cannot absorb a flood of them: each client address has a small budget
of failed lookups (a bucket of the door, app.http.door, so shared by every
worker when the limits are).  Once it is spent, that address's keys get 429
without a lookup unless this process already knows them as valid; other
addresses, and every key already in use, are not touched.  The key's own rate
limit is the door's too, taken with its business's slot (app.http.admission).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.door import Door, Limit
from app.http.ratelimit import retry_after_header
from app.http.responses import error_response
from app.models import keyring
from app.services.access import Caller
from app.services.businesses import authenticate, known
from app.services.health import is_unavailable

log = logging.getLogger("finora.auth")

CALLER = "caller"


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def client_address(scope: Scope) -> str:
    """The peer's address (behind a proxy: the proxy's, unless it is trusted)."""
    client = scope.get("client")
    return client[0] if client else ""


def caller_of(request: Request) -> Caller:
    return request.state.caller


def wants_ide(scope: Scope) -> bool:
    """A browser opening GraphiQL: a plain GET for HTML, with no operation in it."""
    if scope["method"] != "GET":
        return False
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "query" in params:
        return False
    accept = dict(scope.get("headers", ())).get(b"accept", b"")
    return b"text/html" in accept


class RequireApiKey:
    """ASGI middleware in front of the API: no valid key, no entry."""

    def __init__(self, app: ASGIApp, *, open_ide: bool, door: Door, unknown_keys: Limit) -> None:
        self.app = app
        self.open_ide = open_ide
        self.door = door
        self.unknown_keys = unknown_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.open_ide and wants_ide(scope)):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        caller = known(token) if token else None
        address = client_address(scope)
        if token and caller is None and await self.door.exhausted(self.unknown_keys, address):
            wait = await self.door.take(self.unknown_keys, address)
            response = error_response(
                scope, 429, "RATE_LIMITED", "Too many unknown API keys from this address"
            )
            response.headers["Retry-After"] = retry_after_header(wait)
            await response(scope, receive, send)
            return
        try:
            if token and caller is None:
                caller = await authenticate(token)
            if caller is not None:
                # Its business's data keys, loaded once per FINORA_DATA_KEY_CACHE_S: the
                # values the request reads open by them.  Offboarded: as a revoked key.
                await keyring.of(caller.business_id)
        except keyring.KeysGone:
            caller = None
        except Exception as exc:
            unavailable = is_unavailable(exc)
            log.error("key lookup failed", extra={"fields": {"error_type": type(exc).__name__}})
            status, code = (
                (503, "SERVICE_UNAVAILABLE") if unavailable else (500, "INTERNAL_SERVER_ERROR")
            )
            message = (
                "The service is temporarily unavailable" if unavailable else "Internal server error"
            )
            await error_response(scope, status, code, message)(scope, receive, send)
            return
        if caller is None:
            if token:
                await self.door.take(self.unknown_keys, address)
            response = error_response(
                scope,
                401,
                "UNAUTHENTICATED",
                "A valid API key is required (Authorization: Bearer <key>)",
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER] = caller
        await self.app(scope, receive, send)
