"""One ASGI middleware that watches every request: a log line and the metrics.

The line holds a request id (also sent back as ``X-Request-Id``), method, path,
status, duration, business id and operation name.  Never a body, a query
string, a variable or an error text: they carry PII.
"""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http import metrics

log = logging.getLogger("finora")


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = os.urandom(8).hex()  # 16 hex digits, as before; no uuid object
        # Per-request state, as Uvicorn gives (some servers share one dict).
        scope = {**scope, "state": {**scope.get("state", {}), "request_id": request_id}}
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            operation = metrics.operation_of(scope)
            metrics.record(operation, status, seconds)
            caller = scope["state"].get("caller")
            log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "business_id": caller.business_id if caller else None,
                        "operation": operation,
                    }
                },
            )
