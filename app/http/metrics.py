"""Prometheus metrics: requests and latency per operation and status, pool usage.

Labels hold only names from our own code (a route, or the root fields of a
GraphQL operation, which validation limits to the schema's): never a value
from a request, so no PII and a bounded number of series.  Each worker process
counts its own requests; scrape every worker, or run one per container.
"""

from __future__ import annotations

from typing import Any

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


FIXED_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/graphql"}


def operation_of(scope: Scope) -> str:
    """The handler's own name for the request (set in state), or its fixed path."""
    named = scope.get("state", {}).get("operation")
    if named:
        return named
    return scope["path"] if scope["path"] in FIXED_PATHS else "other"


#: The labelled children, found once per (operation, status): ``labels()`` takes a
#: lock and checks its arguments on every call.  Bounded like the label values.
_children: dict[tuple[str, int], tuple[Any, Any]] = {}
_MAX_CHILDREN = 10_000


def record(operation: str, status: int, seconds: float) -> None:
    children = _children.get((operation, status))
    if children is None:
        children = (REQUESTS.labels(operation, str(status)), LATENCY.labels(operation))
        if len(_children) < _MAX_CHILDREN:
            _children[(operation, status)] = children
    children[0].inc()
    children[1].observe(seconds)
