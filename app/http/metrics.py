"""Prometheus metrics: requests and latency per operation and status, pool usage.

Labels hold only names from our own code (a route, or the root fields of a
GraphQL operation, which validation limits to the schema's): never a value
from a request, so no PII and a bounded number of series.  Each worker process
counts its own requests; scrape every worker, or run one per container.

The endpoint needs a credential (see :func:`metrics_endpoint`): the counters
show which operations each tenant-facing route serves and how often.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from tortoise import Tortoise

from app.http.auth import bearer_token
from app.http.responses import error_response
from app.settings import Secret

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "finora_requests_total",
    "Requests by operation and status",
    ["operation", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "finora_request_duration_seconds",
    "Request latency by operation",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
POOL_SIZE = Gauge("finora_db_pool_connections", "Open database connections", registry=REGISTRY)
POOL_IDLE = Gauge("finora_db_pool_idle_connections", "Idle database connections", registry=REGISTRY)
OPEN_CONNECTIONS = Gauge(
    "finora_open_connections", "Client connections open in this worker", registry=REGISTRY
)
CONNECTIONS_REFUSED = Counter(
    "finora_connections_refused_total",
    "Connections closed by a bound before the app ran (url, headers, header, body, "
    "connections, idle)",
    ["reason"],
    registry=REGISTRY,
)


def _pool() -> object | None:
    try:
        return getattr(Tortoise.get_connection("default"), "_pool", None)
    except Exception:
        return None


async def metrics(request: Request) -> Response:
    pool = _pool()
    if pool is not None:
        POOL_SIZE.set(pool.get_size())
        POOL_IDLE.set(pool.get_idle_size())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_endpoint(
    token: Secret | None, *, production: bool
) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics behind `Authorization: Bearer <FINORA_METRICS_TOKEN>`.

    Without a token, production refuses every scrape (403) and development
    serves loopback clients only, so a laptop's Prometheus needs no set-up.
    """

    async def guarded(request: Request) -> Response:
        if token is not None:
            given = bearer_token(request.scope) or ""
            if hmac.compare_digest(given.encode(), token.reveal().encode()):
                return await metrics(request)
            response = error_response(
                request.scope, 401, "UNAUTHENTICATED", "Metrics need the metrics token"
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if not production and _is_loopback(request):
            return await metrics(request)
        return error_response(
            request.scope, 403, "FORBIDDEN", "Metrics are off: set FINORA_METRICS_TOKEN"
        )

    return guarded


FIXED_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/graphql"}


def operation_of(scope: Scope) -> str:
    """The handler's own name for the request (set in state), or its fixed path."""
    named = scope.get("state", {}).get("operation")
    if named:
        return named
    return scope["path"] if scope["path"] in FIXED_PATHS else "other"


def record(operation: str, status: int, seconds: float) -> None:
    REQUESTS.labels(operation, str(status)).inc()
    LATENCY.labels(operation).observe(seconds)
