"""Logging set-up: JSON lines in production, readable lines in development.

Nothing here logs a value from a request; see app.http.observe for the request line.
"""

from __future__ import annotations

import logging
import sys

import orjson

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
