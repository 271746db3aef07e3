"""The ASGI application factory: probes, auth and the API behind them.

The API itself (the GraphQL endpoint) is passed in by the caller, so this
module does not depend on ``schema/``; ``schema.asgi`` composes the two.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send
from tortoise import Tortoise

from app.db import statistics
from app.db.orm import close_orm, open_orm
from app.http import logs
from app.http.admission import Admit
from app.http.auth import RequireApiKey
from app.http.bodylimit import BodyLimit
from app.http.door import Door, Limit, LocalDoor
from app.http.looplag import LoopLagProbe
from app.http.metrics import metrics_endpoint
from app.http.observe import ObserveRequests
from app.http.responses import error_response, json_response
from app.http.shops import shop_webhooks
from app.http.slots import LONE_S, BusinessSlots
from app.rest.openapi import document
from app.rest.routes import routes as rest_routes
from app.settings import Settings
from app.shared.courier import Courier
from app.shared.door import SharedDoor
from app.shared.link import Link
from app.startup.bootstrap import database_url, install_checked_keys, load_keys

READY_TIMEOUT_S = 2.0
OPENAPI = document()


async def healthz(request: Request) -> Response:
    """The process is up (liveness); says nothing about the database."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers (readiness)."""
    try:
        conn = Tortoise.get_connection("default")
        await asyncio.wait_for(conn.execute_query("SELECT 1"), READY_TIMEOUT_S)
    except Exception:
        return json_response({"status": "unavailable"}, 503)
    return json_response({"status": "ready"})


async def openapi(request: Request) -> Response:
    """The REST API's OpenAPI document (public, like the reference)."""
    return json_response(OPENAPI)


def make_door(settings: Settings, link: Link | None) -> Door:
    """The process's own door, or with Redis the shared one (which falls back to it)."""
    slots = BusinessSlots(
        settings.business_in_flight, settings.business_queue, settings.business_wait_s
    )
    local = LocalDoor(slots)
    if link is None:
        return local
    return SharedDoor(Courier(link, lone_s=LONE_S), local)


def create_web_app(
    settings: Settings,
    api: ASGIApp,
    *,
    routes: Sequence[BaseRoute] = (),
    link: Link | None = None,
) -> ASGIApp:
    """The app around ``api`` (mounted at /graphql); ``routes`` are added as they are;
    ``link``: the Redis of the shared limits (app.shared), if any."""
    logs.configure(json_lines=settings.is_production)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keys = load_keys(settings)
        await open_orm(database_url(settings))
        probe = LoopLagProbe()
        try:
            await install_checked_keys(keys)
            # Full collections walk every tracked object and hold the loop meanwhile:
            # what start-up made (modules, the schema) lives forever, so it is
            # left out of them (about 100 ms less per collection under load).
            gc.collect()
            gc.freeze()
            probe.start()
            await door.start()
            yield
        finally:
            await door.close()
            if link is not None:
                await link.close()
            await probe.stop()
            await statistics.settled()
            await close_orm()

    door = make_door(settings, link)
    keys = Limit("key", settings.rate_per_second, settings.rate_burst)  # one budget for both APIs
    unknown_keys = Limit("unknown", settings.unknown_keys_per_second, settings.unknown_keys_burst)

    def guard(inner: ASGIApp, *, open_ide: bool) -> ASGIApp:
        """Key first (a keyless upload is never buffered), then the door (the key's
        token and the business's turn), then the body."""
        bounded = BodyLimit(inner, max_bytes=settings.max_body_bytes)
        admitted = Admit(bounded, door=door, limit=keys, work_per_token=settings.work_per_token)
        return RequireApiKey(admitted, open_ide=open_ide, door=door, unknown_keys=unknown_keys)

    graphql = guard(api, open_ide=settings.graphiql)
    # Shops sign their deliveries instead of holding a key; each connection has a budget.
    shops = shop_webhooks(door, Limit("shop", settings.shop_rate, settings.shop_burst))
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route(
                "/metrics",
                metrics_endpoint(settings.metrics_token, production=settings.is_production),
                methods=["GET"],
            ),
            Mount(
                "/v1",
                routes=[
                    Route("/openapi.json", openapi, methods=["GET"]),
                    Route("/shops/{connection_id}/webhooks", shops, methods=["POST"]),
                    Mount("", app=guard(Router(rest_routes), open_ide=False)),
                ],
            ),
            *routes,
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: routing_error},
    )
    return ObserveRequests(GraphQLFirst(graphql, app))


#: Codes of the answers Starlette's routing gives itself.
ROUTING_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def routing_error(request: Request, exc: Exception) -> Response:
    """A path no route takes (one with a line feed in it too: Starlette's mounts do
    not match those) answers in the shape of its API, not Starlette's plain text."""
    assert isinstance(exc, HTTPException)
    code = ROUTING_CODES.get(exc.status_code, "BAD_REQUEST")
    response = error_response(request.scope, exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


class GraphQLFirst:
    """Nearly every request is a GET or POST to /graphql: those go straight to its guards.

    Starlette would reach the same app through four layers of its own (error and
    exception middleware, router, route), a few percent of a small request; they
    add nothing here, since the guards and the view answer every error themselves
    and an exception that escapes still becomes Uvicorn's 500.  Everything else
    (other paths, other methods, the lifespan) goes through Starlette as before.
    """

    def __init__(self, graphql: ASGIApp, app: ASGIApp) -> None:
        self.graphql = graphql
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/graphql"
            and scope["method"] in ("GET", "POST", "HEAD")
        ):
            await self.graphql(scope, receive, send)
        else:
            await self.app(scope, receive, send)
