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
import itertools
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Metric,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from tortoise import Tortoise

from app.http.auth import bearer_token
from app.http.responses import error_response
from app.settings import Secret
from app.shared import link


class RequestStats:
    """Requests per (operation, status) and latency per operation, as plain numbers.

    ``record`` runs once per request, on the event loop: with prometheus_client's
    labelled children it cost about 1.6 us (a lock per increment, a Python loop
    over the buckets), as much as the rest of the request's bookkeeping together.
    Here it is two dict lookups, a bisect and three additions; the Prometheus
    families are built when /metrics is scraped, which happens on the same loop,
    so nothing is shared between threads.  Operations beyond ``max_operations``
    (never expected: labels are names from our own code) count as "other".
    """

    def __init__(self, buckets: tuple[float, ...], max_operations: int = 10_000) -> None:
        self.buckets = buckets
        self.max_operations = max_operations
        self.requests: dict[tuple[str, int], int] = {}
        #: Per operation: a count per bucket (then +Inf), then the sum of seconds.
        self.latency: dict[str, list[float]] = {}

    def record(self, operation: str, status: int, seconds: float) -> None:
        latency = self.latency.get(operation)
        if latency is None:
            if len(self.latency) >= self.max_operations:
                operation = "other"
            latency = self.latency.setdefault(operation, [0] * (len(self.buckets) + 2))
        key = (operation, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        latency[bisect_left(self.buckets, seconds)] += 1  # the first bound >= seconds
        latency[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "finora_requests", "Requests by operation and status", labels=["operation", "status"]
        )
        for (operation, status), count in self.requests.items():
            requests.add_metric([operation, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "finora_request_duration_seconds", "Request latency by operation", labels=["operation"]
        )
        bounds = [floatToGoString(b) for b in self.buckets] + ["+Inf"]
        for operation, counts in self.latency.items():
            cumulative = list(itertools.accumulate(counts[:-1]))
            latency.add_metric([operation], list(zip(bounds, cumulative, strict=True)), counts[-1])
        yield latency


REGISTRY = CollectorRegistry()
REQUEST_STATS = RequestStats(
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
)
REGISTRY.register(REQUEST_STATS)


class SharedFallbacks:
    """Operations of the shared limits that fell back to this process's own (Redis away)."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "finora_shared_fallbacks",
            "Shared-limit operations served by this process's own limits because Redis "
            "did not answer (door: a key's or shop's token with its slot, unknown, documents)",
            labels=["what"],
        )
        for what, count in sorted(link.FALLBACKS.items()):
            family.add_metric([what], count)
        yield family


REGISTRY.register(SharedFallbacks())
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


#: Count one answered request (app.http.observe).
record = REQUEST_STATS.record
