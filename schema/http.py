"""The GraphQL HTTP view: context from the authenticated caller, coded errors,
GraphQL-over-HTTP status codes, orjson bodies."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from app.http.auth import CALLER
from app.http.responses import graphql_error
from schema.context import Context
from schema.errors import BAD_USER_INPUT, PARSE_FAILED, UNAVAILABLE, VALIDATION_FAILED, format_error

_REFUSED = {PARSE_FAILED, VALIDATION_FAILED}
MAX_ERRORS = 5


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
            # A few errors say what is wrong; hundreds (repeated directives) only amplify.
            data["errors"] = errors = errors[:MAX_ERRORS]
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

    def decode_json(self, data: str | bytes) -> object:
        """orjson, and only an object (or a batch list, which is then refused) is a request."""
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:  # also invalid UTF-8
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers refusals in plain text; ours are GraphQL errors with a code."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = graphql_error(exc.status_code, BAD_USER_INPUT, exc.reason)
        await response(scope, receive, send)
