"""The outermost ASGI middleware: what every answer carries, and what is kept of it.

Every answer gets an ``X-Request-Id`` and ``Cache-Control: no-store``, and every
request a log line and its metrics.

- The line holds the request id, method, path, status, duration, business id
  and operation name.  Never a body, a query string, a variable or an error
  text: they carry PII.
- ``no-store``: answers carry decrypted PII (GraphQL by GET or POST, REST, even
  an error may name a customer id), and a GET query is a URL that a browser, a
  proxy or a CDN would otherwise be free to keep.  One rule for every path, so
  no new route can forget it; it replaces any Cache-Control a handler set.

Both headers are added in one wrapper of ``send``: each wrapper is a call per
message of every request.

A client that goes away before its answer began (a load generator closing its
connections, a browser tab shut mid-upload) is logged and counted as 499, the
status nginx made the convention for it, not as a 500: nothing failed here.
"""

from __future__ import annotations

import itertools
import os
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http import logs, metrics

NO_STORE = (b"cache-control", b"no-store")
#: The client closed the connection before the answer began (nginx's convention).
CLIENT_CLOSED = 499


class RequestIds:
    """16 hex digits, unique per request: a random half per process and a counter.

    Ids only need to be unique (they are not secrets), so a request costs no call
    for random bytes; a forked child draws its own half.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._process = os.urandom(4).hex()
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._process}{next(self._count) & 0xFFFFFFFF:08x}"


_ids = RequestIds()


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _ids.next()
        # Per-request state, as Uvicorn gives (some servers share one dict).
        scope = {**scope, "state": {**scope.get("state", {}), "request_id": request_id}}
        started = time.perf_counter()
        status = 0  # no answer begun
        gone = False
        request_header = (b"x-request-id", request_id.encode())

        async def observed_receive() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect":
                gone = True
            return message

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != NO_STORE[0]]
                message = {**message, "headers": [*headers, NO_STORE, request_header]}
            await send(message)

        try:
            await self.app(scope, observed_receive, observed_send)
        except ClientDisconnect:
            gone = True  # the body read found the client gone: nobody to answer
        finally:
            if not status:
                status = CLIENT_CLOSED if gone else 500
            seconds = time.perf_counter() - started
            operation = metrics.operation_of(scope)
            metrics.record(operation, status, seconds)
            caller = scope["state"].get("caller")
            logs.request_line(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": int(seconds * 100_000) / 100,
                    "business_id": caller.business_id if caller else None,
                    "operation": operation,
                }
            )
