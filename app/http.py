"""Small HTTP helpers shared by the ASGI layers."""

from __future__ import annotations

import orjson
from starlette.responses import Response


def json_response(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str) -> Response:
    """A GraphQL-shaped error body, for failures before GraphQL runs."""
    return json_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status)
