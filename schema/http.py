"""The GraphQL HTTP view: context from the authenticated caller, coded errors,
GraphQL over HTTP (both media types, queries by GET, 405 for a mutation by GET,
406 when neither media type is acceptable), orjson bodies."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app.http.auth import CALLER
from app.http.media import CONTENT_TYPES, GRAPHQL_RESPONSE, JSON, accept_header, negotiate
from app.http.responses import graphql_error
from schema.context import Context
from schema.errors import BAD_USER_INPUT, format_error
from schema.status import executed, status_of

MAX_ERRORS = 5
#: The negotiated media type of the request, kept in its state.
MEDIA = "graphql_media"
NOT_ACCEPTABLE = "Accept must allow application/graphql-response+json or application/json"


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
        """``data`` only when execution started (the spec's request errors have none)."""
        ran = executed(result.data, result.errors)
        data: dict[str, Any] = {"data": result.data} if ran else {}
        if result.errors:
            errors = [format_error(error) for error in result.errors]
            # A few errors say what is wrong; hundreds (repeated directives) only amplify.
            data["errors"] = errors = errors[:MAX_ERRORS]
            codes = {error["extensions"]["code"] for error in errors}
            media = getattr(request.state, MEDIA, JSON)
            status = status_of(codes, ran=ran, has_data=result.data is not None, media=media)
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

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """A GET's ``variables`` and ``extensions`` are JSON text in the query string."""
        parsed: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            if parsed.get(name):
                try:
                    parsed[name] = orjson.loads(parsed[name])
                except orjson.JSONDecodeError as exc:
                    raise HTTPException(400, f"The `{name}` parameter must be JSON") from exc
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry checks the type of every parameter but ``operationName``."""
        data = await super().parse_http_body(request)
        name = getattr(data, "operation_name", None)  # a batch (a list) is refused before
        if name is not None and not isinstance(name, str):
            raise HTTPException(400, "The `operationName` must be a string or null, if provided.")
        return data

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """A mutation by GET is a method the operation does not allow: 405, not 400."""
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, exc.reason) from exc.__cause__
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers refusals in plain text; ours are GraphQL errors with a code,
        in the negotiated media type."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media = negotiate(accept_header(scope))
        if media is None and not self.should_render_graphql_ide(
            self.request_adapter_class(request)
        ):
            await graphql_error(406, BAD_USER_INPUT, NOT_ACCEPTABLE)(scope, receive, send)
            return
        media = media or JSON
        setattr(request.state, MEDIA, media)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = graphql_error(exc.status_code, BAD_USER_INPUT, exc.reason, media)
            if exc.status_code == 405:
                response.headers["Allow"] = "POST" if request.method == "GET" else "GET, POST"
        else:
            if media == GRAPHQL_RESPONSE and response.media_type == JSON:
                response.headers["Content-Type"] = CONTENT_TYPES[media]
        await response(scope, receive, send)
