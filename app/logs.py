"""Logging: one line per request, and never a value from a request.

Request bodies, query strings and variables are never logged: they carry PII.
A line holds a request id, method, path, status, duration and business id.
Production writes JSON lines; development writes them readable.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import operation_of

log = logging.getLogger("finora")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return orjson.dumps(entry).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        return f"{record.levelname:<7} {record.name}: {record.getMessage()} {fields}".rstrip()


def configure(*, json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_lines else _TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that would log SQL parameters or raw errors stay quiet.
    for noisy in ("tortoise", "aerich", "asyncpg", "strawberry.execution"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    logging.getLogger("uvicorn.access").disabled = True


class RequestLog:
    """ASGI middleware: a request id header and one log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        # Per-request state, as Uvicorn gives (some servers share one dict).
        scope = {**scope, "state": {**scope.get("state", {}), "request_id": request_id}}
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            caller = state.get("caller")
            log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "business_id": caller.business_id if caller else None,
                        "operation": operation_of(scope),
                    }
                },
            )
