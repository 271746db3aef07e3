"""The load generator of bench/list.py, in a process of its own.

    .venv/bin/python bench/loadgen.py < spec.json

It opens `concurrency` keep-alive HTTP/1.1 connections on raw asyncio sockets
(uvloop when installed), sends the given requests in turn for a warm-up and a
counted window, and writes one JSON result (to the spec's `result_path`): successes,
errors, latencies, CPU.

For writes the spec may also hold (each optional; without them every request is
sent as given, and only HTTP status and GraphQL errors decide a failure):

  placeholder    a string in the requests that each send replaces with the next
                 number of one counter of the process (from 0), zero-padded to the
                 placeholder's length (modulo its power of ten), so every request is
                 distinct (a new email per create) and keeps its Content-Length
  failure_marks  strings whose presence in an answer makes it a failure (a
                 mutation's non-empty userErrors: `"userErrors":[{`)
  partition      true: connection i sends only requests i, i + c, i + 2c, ... of c
                 connections, so no two send the same request at once (two updates
                 of one customer would queue on its row lock)
  rate           requests per second in all: each connection waits for its turn
                 (c / rate seconds apart, the connections' turns spread evenly)
                 instead of sending back to back, so two servers that both keep up
                 are compared at the same load (bench/shared.py's CPU per request)
Every loop is bounded by a deadline and a count; it only talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: A request slower than this counts as an error (and its connection is reopened).
REQUEST_TIMEOUT_S = 10.0
#: Upper bound on the requests of one connection in one round, whatever the speed.
MAX_REQUESTS_PER_CONNECTION = 10_000_000
HOST = "127.0.0.1"


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: status, body, and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = b"close" not in value.lower()
    if chunked:
        return status, await read_chunked(reader), keep_alive
    if length is None:
        raise ValueError("a response without a length cannot share a keep-alive connection")
    return status, await reader.readexactly(length), keep_alive


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    for _ in range(1_000_000):
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected: the final empty line
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    raise ValueError("too many chunks")


def answered(status: int, body: bytes, failure_marks: Sequence[bytes] = ()) -> bool:
    """A success: 200 with data and no GraphQL errors (`"errors":` can only be a key),
    and none of the spec's failure marks."""
    return (
        status == 200
        and body.startswith(b'{"data"')
        and b'"errors":' not in body
        and not any(mark in body for mark in failure_marks)
    )


class Counter:
    """Numbers a placeholder in each request sent, so that no two are alike."""

    def __init__(self, placeholder: bytes) -> None:
        if not placeholder:
            raise ValueError("an empty placeholder")
        self.placeholder = placeholder
        self.width = len(placeholder)
        self.modulus = 10**self.width
        self.next = 0

    def stamp(self, request: bytes) -> bytes:
        number = b"%0*d" % (self.width, self.next % self.modulus)
        self.next += 1
        return request.replace(self.placeholder, number)


@dataclass
class Tally:
    """What the connections of one round saw inside the counted window."""

    latencies_us: list[int] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


async def drive_connection(
    port: int,
    requests: Sequence[bytes],
    offset: int,
    counted_from: float,
    until: float,
    tally: Tally,
    counter: Counter | None = None,
    failure_marks: Sequence[bytes] = (),
    interval: float = 0.0,
) -> None:
    """One keep-alive connection sending requests back to back until `until`, or
    one every `interval` seconds (from `counted_from` less the warm-up; none missed
    is made up: a late request goes at once, the next keeps the schedule).

    A request counts when it starts at or after `counted_from` and ends by
    `until`; earlier ones are the warm-up.  Errors reopen the connection.
    """
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    due = time.perf_counter()
    for n in range(MAX_REQUESTS_PER_CONNECTION):
        if interval:
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            due = max(due + interval, time.perf_counter())
        started = time.perf_counter()
        if started >= until:
            break
        counted = started >= counted_from
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                request = requests[(offset + n) % len(requests)]
                writer.write(request if counter is None else counter.stamp(request))
                status, body, keep_alive = await read_response(reader)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            if counted:
                tally.error(type(exc).__name__)
            if writer is not None:
                writer.close()
            writer = reader = None
            await asyncio.sleep(0.05)  # a refused connection must not spin
            continue
        ended = time.perf_counter()
        if not keep_alive and writer is not None:
            writer.close()
            writer = reader = None
        if not counted or ended > until:
            continue
        if answered(status, body, failure_marks):
            tally.latencies_us.append(round((ended - started) * 1_000_000))
        else:
            tally.error(f"HTTP {status}")
    if writer is not None:
        writer.close()


async def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one round; say on stdout when the counted window opens and closes.

    The driver samples the servers' CPU on those two lines, so its window and
    ours are the same to within a pipe write.
    """
    requests = [r.encode("latin-1") for r in spec["requests"]]
    warmup, seconds = float(spec["warmup"]), float(spec["seconds"])
    begin = time.perf_counter()
    counted_from, until = begin + warmup, begin + warmup + seconds
    tally = Tally()
    placeholder = spec.get("placeholder")
    counter = Counter(placeholder.encode("latin-1")) if placeholder else None
    marks = [m.encode("latin-1") for m in spec.get("failure_marks", ())]
    concurrency = int(spec["concurrency"])
    if spec.get("partition") and len(requests) < concurrency:
        raise ValueError(f"partition needs at least {concurrency} requests")

    def share(i: int) -> tuple[list[bytes], int]:
        """Connection i's requests and where it starts in them."""
        return (requests[i::concurrency], 0) if spec.get("partition") else (requests, i)

    interval = concurrency / float(spec["rate"]) if spec.get("rate") else 0.0

    async def connection(i: int) -> None:
        await asyncio.sleep(interval * i / concurrency)  # the turns spread over the interval
        await drive_connection(
            spec["port"], *share(i), counted_from, until, tally, counter, marks, interval
        )

    connections = [asyncio.ensure_future(connection(i)) for i in range(concurrency)]
    await asyncio.sleep(max(0.0, counted_from - time.perf_counter()))
    print("measuring", flush=True)
    cpu_start = time.process_time()
    await asyncio.sleep(max(0.0, until - time.perf_counter()))
    cpu_seconds = time.process_time() - cpu_start
    print("done", flush=True)
    await asyncio.wait_for(asyncio.gather(*connections), REQUEST_TIMEOUT_S + 5)
    return {
        "latencies_us": tally.latencies_us,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }


def loadgen_main() -> None:
    """Entry point of the load generator process: spec on stdin, result in the spec's file."""
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop  # uvicorn[standard] installs it; a lighter client loop
    except ImportError:
        result = asyncio.run(loadgen(spec))
    else:
        result = uvloop.run(loadgen(spec))
    # The result goes to the file the driver named: a large one written to the pipe
    # was at times cut short (at a power of two) once the event loop had run.
    Path(spec["result_path"]).write_text(json.dumps(result))


if __name__ == "__main__":
    loadgen_main()
