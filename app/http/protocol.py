"""Uvicorn's httptools protocol, with bounds that hold before the app runs.

Uvicorn alone reads a request line and headers of any length (re-copying the
growing URL on every chunk), waits for a head or a body forever, and keeps every
connection it accepts.  One client could stall a worker or fill its memory
without an API key.  This subclass keeps httptools' parser and adds:

- a URL longer than ``max_url_bytes``: 414; headers larger than
  ``max_header_bytes``: 431.  An unfinished head is measured after every read,
  so at most one read (256 KiB) past the limits is ever parsed;
- a head not complete ``header_timeout_s`` after the connection opened (or after
  a kept-alive request's first byte), however slowly it trickles: 408;
- a body not complete ``body_timeout_s`` after its headers: 408;
- more than ``max_connections`` open in this worker: the newcomer gets 503;
- a response sent before its body was read (a 401 to a keyless upload): the rest
  of the body is read and dropped for ``LINGER_S`` at most, then the connection
  is closed (closing at once would reset it and could lose the answer).

Deadlines are a number per connection, checked by one sweep per worker every
``SWEEP_S`` (or half the shortest timeout): no timer is armed per request, so
the parser keeps its speed (``bench/protocol.py``).

These answers are written here, in the error shape of the API the URL belongs
to, with ``Connection: close``; they are counted in
``finora_connections_refused_total{reason}``.  Limits come from the environment
(``app.settings.ConnectionLimits``), read once per worker: Uvicorn imports this
class by name in each worker process.
"""

from __future__ import annotations

import asyncio
import http
import logging
import math
import weakref
from functools import cache
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.http.metrics import CONNECTIONS_REFUSED, OPEN_CONNECTIONS
from app.http.responses import error_payload
from app.settings import ConnectionLimits, Settings

log = logging.getLogger("finora.http")

LINGER_S = 2.0
SWEEP_S = 1.0
#: Method, spaces, version and line ends around the URL, allowed on top of both limits.
REQUEST_LINE_SLACK = 1024
HEAD, BODY, LINGER = "head", "body", "linger"


@cache
def connection_limits() -> ConnectionLimits:
    return Settings.from_env().connections


class _Refusal(Exception):
    """Raised inside a parser callback to stop parsing; the reason is on the protocol."""


class _Sweeper:
    """Closes the connections of one worker whose deadline has passed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any], every: float):
        self.loop = loop
        self.connections = connections
        self.every = every
        OPEN_CONNECTIONS.set_function(lambda: len(connections))
        loop.call_later(every, self.sweep)

    def sweep(self) -> None:
        self.loop.call_later(self.every, self.sweep)  # first: one failure must not end them
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, BoundedHttpToolsProtocol) and connection.deadline <= now:
                try:
                    connection.overdue()
                except Exception as exc:
                    fields = {"error_type": type(exc).__name__}
                    log.error("closing an overdue connection failed", extra={"fields": fields})


_SWEEPERS: weakref.WeakKeyDictionary[ServerState, _Sweeper] = weakref.WeakKeyDictionary()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits = connection_limits()
        self.url = b""  # Uvicorn sets it per request; a refusal may come before one
        self.deadline = math.inf  # loop time by which `self.awaiting` must have arrived
        self.awaiting = HEAD
        self._refusal: tuple[int, str, str, str] | None = None
        self._closed = False
        self._in_head = False
        self._head_bytes = 0  # bytes read while this request's head was incomplete
        self._read_size = 0
        self._smallest_limit = min(limits.max_url_bytes, limits.max_header_bytes)
        self._head_started_mid_read = False
        self._completed_in_read = False
        if self.server_state not in _SWEEPERS:
            every = min(SWEEP_S, limits.header_timeout_s / 2, limits.body_timeout_s / 2)
            _SWEEPERS[self.server_state] = _Sweeper(self.loop, self.connections, every)

    # Connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                503, "SERVICE_UNAVAILABLE", "Too many open connections; retry", "connections"
            )
            return
        self._in_head = True
        self._expect(HEAD, self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.deadline = math.inf
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._unset_keepalive_if_required()
        self._completed_in_read = False
        self._read_size = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head:
            # A head that began after another request ended in this same read: the
            # share of this read that is its own is unknown, so only later reads count.
            if not self._head_started_mid_read:
                self._head_bytes += len(data)
            self._head_started_mid_read = False
            limit = self.limits.max_url_bytes + self.limits.max_header_bytes + REQUEST_LINE_SLACK
            if self._head_bytes > limit or len(self.url) > self.limits.max_url_bytes:
                self._refuse(*self._head_too_large())

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._head_started_mid_read = self._completed_in_read
        if self.deadline == math.inf:  # a kept-alive connection's next request
            self._expect(HEAD, self.limits.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_bytes + self._read_size > self._smallest_limit:  # else it cannot be over
            self._measure_head()
        self._expect(BODY, self.limits.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._completed_in_read = True
        if self.awaiting == LINGER:  # the dropped body is over: idle as usual
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
        self.deadline = math.inf
        super().on_message_complete()

    def on_response_complete(self) -> None:
        unread_body = self.cycle is not None and not self.pipeline and self.cycle.more_body
        super().on_response_complete()
        if unread_body and not self.transport.is_closing():
            self.deadline = min(self.deadline, self.loop.time() + LINGER_S)
            self.awaiting = LINGER

    # Bounds

    def _measure_head(self) -> None:
        """A head read in one large piece: its URL and headers, measured exactly."""
        if len(self.url) > self.limits.max_url_bytes:
            self._stop(*self._head_too_large())
        size = sum(len(name) + len(value) + 4 for name, value in self.headers)  # ": ", CRLF
        if size > self.limits.max_header_bytes:
            self._stop(*self._head_too_large())

    def _head_too_large(self) -> tuple[int, str, str, str]:
        if len(self.url) > self.limits.max_url_bytes:
            return 414, "BAD_USER_INPUT", "The request URL is too long", "url"
        return 431, "BAD_USER_INPUT", "The request headers are too large", "headers"

    def _stop(self, status: int, code: str, message: str, reason: str) -> None:
        self._refusal = (status, code, message, reason)
        raise _Refusal(reason)

    def _expect(self, what: str, seconds: float) -> None:
        self.awaiting = what
        self.deadline = self.loop.time() + seconds

    def overdue(self) -> None:
        """Called by the sweep once the deadline has passed."""
        self.deadline = math.inf
        if self.awaiting == BODY:
            self._refuse(408, "REQUEST_TIMEOUT", "The request body came too slowly", "body")
        elif self.awaiting == LINGER:
            self._close()
        elif self._head_bytes or self.url:
            self._refuse(408, "REQUEST_TIMEOUT", "The request headers came too slowly", "header")
        else:  # nothing was asked: an idle connection, closed without a word
            CONNECTIONS_REFUSED.labels("idle").inc()
            self._close()

    def _refuse(self, status: int, code: str, message: str, reason: str) -> None:
        """Answer `status` unless a response has begun, then close the connection."""
        CONNECTIONS_REFUSED.labels(reason).inc()
        cycle = self.cycle
        # No answer in the middle of a response, or after one whose body is being dropped.
        answer = (
            cycle is None
            or not cycle.response_started
            or (cycle.response_complete and not cycle.more_body)
        )
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() now sees a disconnect
            cycle.message_event.set()
        if answer and not self.transport.is_closing():
            path = self.url.decode("latin-1")
            self.transport.write(self._raw_response(status, error_payload(path, code, message)))
        self._close()

    def _raw_response(self, status: int, payload: object) -> bytes:
        body = orjson.dumps(payload)
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        if status == 503:
            lines.append(b"retry-after: 1")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def _close(self) -> None:
        self._closed = True
        self.deadline = math.inf
        if not self.transport.is_closing():
            self.transport.close()
