"""Small HTTP helpers shared by the ASGI layers.

Errors raised before an endpoint runs (401, 413, 429, and the connection bounds
of app.http.protocol) take the shape of the API the request is for: the REST
envelope under ``/v1/``, a GraphQL error elsewhere, in the media type the client
accepts (``app.http.media``) where the request got that far.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.responses import Response
from starlette.types import Scope

from app.http.media import CONTENT_TYPES, JSON, media_of

REST_PREFIX = "/v1/"


def json_response(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def rest_error(status: int, code: str, message: str, field: str | None = None) -> Response:
    return json_response(rest_error_payload(code, message, field), status)


def rest_error_payload(code: str, message: str, field: str | None = None) -> dict[str, object]:
    return {"success": False, "error": {"code": code, "message": message, "field": field}}


def graphql_error_payload(code: str, message: str) -> dict[str, object]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def graphql_error(status: int, code: str, message: str, media: str = JSON) -> Response:
    """A request error: ``errors`` and no ``data`` (nothing was executed)."""
    body = orjson.dumps(graphql_error_payload(code, message))
    return Response(body, status_code=status, headers={"Content-Type": CONTENT_TYPES[media]})


def error_payload(path: str, code: str, message: str) -> dict[str, object]:
    """The error body of the API that `path` belongs to."""
    if path.startswith(REST_PREFIX):
        return rest_error_payload(code, message)
    return graphql_error_payload(code, message)


def error_response(scope: Scope, status: int, code: str, message: str) -> Response:
    if scope.get("path", "").startswith(REST_PREFIX):
        return rest_error(status, code, message)
    return graphql_error(status, code, message, media_of(scope))


def format_instant(value: datetime) -> str:
    """UTC, ISO-8601 with milliseconds and a Z: the one timestamp format of both APIs."""
    if value.tzinfo is not UTC:  # asyncpg already gives UTC; models may not
        value = value.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - faster than isoformat
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 1000,
    )
