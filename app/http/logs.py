"""Logging set-up: JSON lines in production, readable lines in development.

Nothing here logs a value from a request; see app.http.observe for the request line.
That line is written once per request, so ``request_line`` writes it straight to
the handler ``configure`` installed, in the same format: the logging module's
way (a record with thread, process and caller lookups, the handler walk, a
write call per line) costs about 20 us, a few percent of a small request.
JSON lines are gathered while the event loop runs its ready callbacks and
written once that turn is over (``LineBatch``), in writes of whole lines of at
most PIPE_BUF bytes, which the kernel keeps whole on a pipe that several worker
processes share.  Whenever anything else listens (another handler anywhere on
the way, as pytest's log capture adds), the line goes through the logging
module as any other.
A line is always one line: the request path is the client's (``%0A`` decodes to
a line feed), so text lines quote any value holding a space, a quote, ``=`` or a
control character, with JSON string escapes.  JSON lines: orjson escapes C0
controls; NEL, U+2028 and U+2029 (line breaks to Python's ``splitlines`` and to
some viewers) are escaped here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import re
import select
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

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


def _json_bytes(
    created: float, level: str, name: str, message: str, fields: Mapping[str, Any]
) -> bytes:
    """One JSON line with its line feed; NEL, U+2028 and U+2029 escaped.

    Written once per request: one dict display, and ``ts`` cut to milliseconds
    by arithmetic (``round`` with digits costs more than the rest of the line)."""
    entry = {
        "ts": int(created * 1000) / 1000,
        "level": level.lower(),
        "logger": name,
        "msg": message,
        **fields,
    }
    line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
    if line.isascii():  # nearly always: nothing to escape
        return line
    return _UNICODE_BREAKS.sub(_escape, line.decode()).encode()


def _json_line(
    created: float, level: str, name: str, message: str, fields: Mapping[str, Any]
) -> str:
    return _json_bytes(created, level, name, message, fields)[:-1].decode()


def _text_line(
    created: float, level: str, name: str, message: str, fields: Mapping[str, Any]
) -> str:
    pairs = " ".join(f"{k}={text_value(v)}" for k, v in fields.items())
    return f"{level:<7} {name}: {_CONTROLS.sub(_escape, message)} {pairs}".rstrip()


Line = Callable[[float, str, str, str, Mapping[str, Any]], str]


class _Formatter(logging.Formatter):
    def __init__(self, line: Line) -> None:
        super().__init__()
        self.line = line

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)


class _Installed:
    """The handler ``configure`` installed and its line format."""

    handler: logging.StreamHandler[TextIO] | None = None
    line: Line = _json_line
    #: JSON lines to a stream with a binary buffer are batched.
    batch: LineBatch | None = None


class LineBatch:
    """Whole lines for one binary stream, written at the end of the event loop's turn.

    Under load many requests end in the same turn of the loop; one write for all
    their lines, instead of one each, is the saving.  A write never exceeds
    PIPE_BUF (the kernel writes it in one piece on a pipe shared with other worker
    processes), and the text layer above the stream is flushed first, so lines
    logged the usual way keep their order with these.  Outside a running loop
    (start-up, tests) a line is written at once.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines: list[bytes] = []
        self.size = 0
        self.scheduled = False

    def add(self, line: bytes) -> None:
        if self.size + len(line) > select.PIPE_BUF:
            self.flush()
        self.lines.append(line)
        self.size += len(line)
        if self.scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self.scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        if not self.lines:
            return
        data = b"".join(self.lines)
        self.lines.clear()
        self.size = 0
        try:
            self.stream.flush()
            self.stream.buffer.write(data)
            self.stream.buffer.flush()
        except (OSError, ValueError):
            pass  # stderr closed or gone: nowhere left to say so


def request_line(fields: Mapping[str, Any]) -> None:
    """The request line at INFO on the "finora" logger, as ``log.info("request",
    extra={"fields": fields})`` would write it."""
    if not log.isEnabledFor(logging.INFO):
        return
    handler = _Installed.handler
    root = logging.getLogger()
    if (
        handler is None
        or log.handlers
        or not log.propagate
        or len(root.handlers) != 1
        or root.handlers[0] is not handler
    ):
        log.info("request", extra={"fields": fields})
        return
    with handler.lock or contextlib.nullcontext():
        if _Installed.batch is not None:
            _Installed.batch.add(_json_bytes(time.time(), "INFO", log.name, "request", fields))
            return
        line = _Installed.line(time.time(), "INFO", log.name, "request", fields)
        handler.stream.write(line + handler.terminator)
        handler.stream.flush()


@atexit.register
def _flush_batch() -> None:
    """What the batch still holds: a loop stopped mid-turn never ran its flush."""
    if _Installed.batch is not None:
        _Installed.batch.flush()


def configure(*, json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    line = _json_line if json_lines else _text_line
    handler.setFormatter(_Formatter(line))
    _flush_batch()  # lines of an earlier configuration go out first
    _Installed.handler, _Installed.line = handler, line
    binary = json_lines and hasattr(handler.stream, "buffer")
    _Installed.batch = LineBatch(handler.stream) if binary else None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that would log SQL parameters or raw errors stay quiet.
    for noisy in ("tortoise", "aerich", "asyncpg", "strawberry.execution"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    logging.getLogger("uvicorn.access").disabled = True
