"""The GraphQL HTTP view: context from the authenticated caller, coded errors,
GraphQL-over-HTTP status codes, orjson bodies."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from app.auth import CALLER
from schema.context import Context
from schema.errors import BAD_USER_INPUT, PARSE_FAILED, UNAVAILABLE, VALIDATION_FAILED, format_error

_REFUSED = {PARSE_FAILED, VALIDATION_FAILED}


class GraphQLView(GraphQL):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        request.state.graphql_response = response
        return Context(
            request=request,
            response=response,
            caller=getattr(request.state, CALLER, None),  # type: ignore[arg-type]
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data: dict[str, Any] = {"data": result.data}
        if result.errors:
            errors = [format_error(error) for error in result.errors]
            data["errors"] = errors
            codes = {error["extensions"]["code"] for error in errors}
            status = None
            if codes & _REFUSED or (result.data is None and BAD_USER_INPUT in codes):
                status = 400
            elif UNAVAILABLE in codes:
                status = 503
            if status is not None:
                request.state.graphql_response.status_code = status
        if result.extensions:
            data["extensions"] = result.extensions
        return data  # type: ignore[return-value]

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
