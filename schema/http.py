"""The GraphQL HTTP view: context from the authenticated caller, coded errors,
GraphQL over HTTP (both media types, queries by GET, 405 for a mutation by GET,
406 when neither media type is acceptable), orjson bodies, persisted queries.

The request is decoded once here (body or query string).  A query seen before
with a compiled plan (``schema.compiled``) is answered from it; everything else,
and anything the plan hands back, goes through Strawberry with the decoded
parameters, and a query that validated there gets its plan for next time.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from graphql import ExecutionResult as GraphQLExecutionResult
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app.http.auth import CALLER
from app.http.media import CONTENT_TYPES, GRAPHQL_RESPONSE, JSON, accept_header, negotiate
from app.http.ratelimit import retry_after_header
from app.http.responses import graphql_error
from app.services.errors import RateLimited
from schema import documents
from schema.bounded import BoundedStore
from schema.compiled import Plan, compile_plan
from schema.context import Context
from schema.errors import BAD_USER_INPUT, format_error
from schema.observability import VALIDATED_DOCUMENT
from schema.persisted import PersistedQueryError, PersistedStore, resolve
from schema.status import executed, status_of

MAX_ERRORS = 5
#: The negotiated media type of the request, kept in its state.
MEDIA = "graphql_media"
#: The decoded request parameters, kept in its state for Strawberry's parser.
PARAMS = "graphql_params"
#: Compiled plans per (document, operation name); None marks a shape plans do not cover.
#: A plan keeps its document's tree alive: it is weighed like the document.
PLAN_ENTRIES = 256
_MISSING = object()
NOT_ACCEPTABLE = "Accept must allow application/graphql-response+json or application/json"


_JSON_TYPE = b"application/json"
#: Accept headers seen, with their negotiated media type: clients send a few values.
_MEDIA_BY_ACCEPT: dict[str | None, str | None] = {}
_MEDIA_CACHE_MAX = 256


def _negotiated(accept: str | None) -> str | None:
    if accept in _MEDIA_BY_ACCEPT:
        return _MEDIA_BY_ACCEPT[accept]
    media = negotiate(accept)
    if len(_MEDIA_BY_ACCEPT) < _MEDIA_CACHE_MAX and (accept is None or len(accept) < 200):
        _MEDIA_BY_ACCEPT[accept] = media
    return media


def _is_json(scope: Scope) -> bool:
    """Strawberry's test of a POST's Content-Type, without its parser for the plain value."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            if value == _JSON_TYPE:
                return True
            content_type, _ = parse_content_type(value.decode("latin-1"))
            return "application/json" in content_type
    return False


async def _body(request: Request) -> bytes:
    """The whole body, read from ``receive`` without Starlette's stream generator and
    kept on the request as ``Request.body()`` keeps it (Strawberry reads it there)."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body
    return body


_CONTENT_TYPES = {media: value.encode("latin-1") for media, value in CONTENT_TYPES.items()}


class _PlanAnswer:
    """A compiled plan's answer: the messages Starlette's Response would send (status,
    Content-Length, Content-Type, body), without building one per request."""

    __slots__ = ("body", "content_type")
    #: Already in the negotiated media type (``__call__`` changes only JSON answers).
    media_type = None

    def __init__(self, body: bytes, content_type: bytes) -> None:
        self.body = body
        self.content_type = content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", self.content_type),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class _RequestAdapter(StarletteRequestAdapter):
    """Keeps the request so the parser can reach the parameters decoded in ``__call__``."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.request = request


def _check_params(data: dict[str, Any]) -> None:
    """Strawberry's checks of a request's parameters (its messages), and ``operationName``."""
    if not isinstance(data.get("query"), str | None):
        raise HTTPException(
            400, "The GraphQL operation's `query` must be a string or null, if provided."
        )
    if not isinstance(data.get("variables"), dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `variables` must be an object or null, if provided."
        )
    if not isinstance(data.get("extensions"), dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `extensions` must be an object or null, if provided."
        )
    if not isinstance(data.get("operationName"), str | None):
        raise HTTPException(400, "The `operationName` must be a string or null, if provided.")


class GraphQLView(GraphQL):
    request_adapter_class = _RequestAdapter

    def __init__(self, *args: Any, persisted: PersistedStore | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.persisted = persisted or PersistedStore()
        self.plans: BoundedStore[Plan | None] = BoundedStore(PLAN_ENTRIES, documents.MAX_BYTES)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        request.state.graphql_response = response
        return self._context(request, response)

    @staticmethod
    def _context(request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        return Context(
            request=request,  # type: ignore[arg-type]
            response=response,  # type: ignore[arg-type]
            caller=request.scope["state"].get(CALLER),
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
            response = request.state.graphql_response
            response.status_code = status
            for error in result.errors:
                if isinstance(error.original_error, RateLimited):
                    response.headers["Retry-After"] = retry_after_header(
                        error.original_error.retry_after
                    )
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
        """The parameters ``__call__`` decoded, else Strawberry's own parsing (batches)."""
        params = getattr(getattr(request, "request", None), "state", None)
        params = getattr(params, PARAMS, None)
        if params is None:
            data = await super().parse_http_body(request)
            if not isinstance(data, list):
                _check_params({"operationName": data.operation_name})
            return data
        transport = self._get_stream_transport_from_headers(request.headers)
        return GraphQLRequestData(
            query=params.get("query"),
            variables=params.get("variables"),
            operation_name=params.get("operationName"),
            extensions=params.get("extensions"),
            protocol=transport.protocol if transport else "http",
        )

    async def _decoded(self, request: Request) -> dict[str, Any] | None:
        """The request's parameters, decoded once; None leaves them to Strawberry."""
        if request.method == "GET":
            if not request.scope.get("query_string"):
                return None
            return self.parse_query_params(request.query_params)
        if request.method != "POST":
            return None
        if not _is_json(request.scope):
            return None
        value = self.decode_json(await _body(request))
        return value if isinstance(value, dict) else None

    async def _answer(self, request: Request) -> Response | _PlanAnswer:
        # The scope's state dict itself: Starlette's ``request.state`` wraps it in an
        # object on first use, which the compiled path does not need.
        state = request.scope["state"]
        params = await self._decoded(request)
        if params is None:
            return await self.run(request)
        _check_params(params)
        caller = state.get(CALLER)
        try:
            register = await resolve(params, self.persisted, caller.business_id if caller else "")
        except PersistedQueryError as exc:
            return graphql_error(exc.status, exc.code, exc.message, state[MEDIA])
        query = params.get("query")
        key = (query, params.get("operationName"))
        plan = self.plans.get(key) if query is not None else None
        if plan is not None and not (plan.is_mutation and request.method == "GET"):
            answer = await plan.run(params.get("variables"), self._context(request, None))
            if answer is not None:
                state["operation"] = plan.operation_label
                if register is not None:
                    await self.persisted.put(register, query)
                if isinstance(answer, GraphQLExecutionResult):
                    return await self._replayed(request, answer)
                media = state[MEDIA]
                return _PlanAnswer(orjson.dumps({"data": answer}), _CONTENT_TYPES[media])
        setattr(request.state, PARAMS, params)
        response = await self.run(request)
        document = getattr(request.state, VALIDATED_DOCUMENT, None)
        # Weighed once, when the document cache kept it; one it did not keep (a string
        # literal, too heavy) is not compiled or persisted either.
        size = documents.DOCUMENTS.weight_of(query) if isinstance(query, str) and document else None
        if size is not None:
            if register is not None:
                await self.persisted.put(register, query)
            if self.plans.get(key, _MISSING) is _MISSING:
                label = getattr(request.state, "operation", "")
                plan = compile_plan(
                    self.schema._schema,  # type: ignore[attr-defined]
                    document,
                    key[1],
                    label,
                    [type(e) for e in self.schema.get_extensions()],
                    resolvers_of=self.schema,  # type: ignore[arg-type]
                )
                self.plans.put(key, plan, size)
        return response

    async def _replayed(self, request: Request, result: GraphQLExecutionResult) -> Response:
        """A plan's mutation that needed an error: answered as Strawberry answers the
        general path's result (errors logged, coded, the status chosen from them)."""
        if result.errors:
            self.schema.process_errors(result.errors)
        sub_response = await self.get_sub_response(request)
        request.state.graphql_response = sub_response
        data = await self.process_result(
            request, ExecutionResult(data=result.data, errors=result.errors)
        )
        return self.create_response(data, sub_response)  # __call__ sets the media type

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
        media = _negotiated(accept_header(scope))
        if media is None and not self.should_render_graphql_ide(
            self.request_adapter_class(request)
        ):
            await graphql_error(406, BAD_USER_INPUT, NOT_ACCEPTABLE)(scope, receive, send)
            return
        media = media or JSON
        scope.setdefault("state", {})[MEDIA] = media
        try:
            response = await self._answer(request)
        except HTTPException as exc:
            response = graphql_error(exc.status_code, BAD_USER_INPUT, exc.reason, media)
            if exc.status_code == 405:
                response.headers["Allow"] = "POST" if request.method == "GET" else "GET, POST"
        else:
            if media == GRAPHQL_RESPONSE and response.media_type == JSON:
                response.headers["Content-Type"] = CONTENT_TYPES[media]
        await response(scope, receive, send)
