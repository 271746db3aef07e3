"""Logging set-up: JSON lines in production, readable lines in development.

Nothing here logs a value from a request; see app.http.observe for the request line.
A line is always one line: the request path is the client's (``%0A`` decodes to
a line feed), so text lines quote any value holding a space, a quote, ``=`` or a
control character, with JSON string escapes.  JSON lines: orjson escapes C0
controls; NEL, U+2028 and U+2029 (line breaks to Python's ``splitlines`` and to
some viewers) are escaped here.
"""

from __future__ import annotations

import json
import logging
import re
import sys

import orjson

log = logging.getLogger("finora")

#: Controls (C0, DEL, C1), line and paragraph separators: each could end a line somewhere.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNICODE_BREAKS = re.compile("[\x85\u2028\u2029]")
_NEEDS_QUOTES = re.compile('[\\s"=\\\\\x00-\x1f\x7f-\x9f\u2028\u2029]')


def _escape(match: re.Match[str]) -> str:
    return json.dumps(match[0])[1:-1]


def text_value(value: object) -> str:
    """A field value that cannot forge another field or another line."""
    text = str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return json.dumps(text)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        line = orjson.dumps(entry).decode()
        return _UNICODE_BREAKS.sub(_escape, line)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={text_value(v)}" for k, v in getattr(record, "fields", {}).items())
        message = _CONTROLS.sub(_escape, record.getMessage())
        return f"{record.levelname:<7} {record.name}: {message} {fields}".rstrip()


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
