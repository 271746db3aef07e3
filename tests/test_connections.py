"""Connection bounds before authentication, against a real `finora serve`.

The attacks of the production findings, replayed: a 50 MB request line while
another client is served, 300 keyless 1 MB uploads that stall, slow heads and
bodies, more connections than a worker holds.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, running_server
from tests.test_cli import production_env

MiB = 1024 * 1024
STALLED_UPLOADS = 300


@pytest.fixture(scope="module")
async def server(settings, app) -> AsyncIterator[ServerProcess]:
    """Production defaults: the limits as shipped."""
    async with running_server(production_env(FINORA_RATE_LIMIT_PER_SECOND="0")) as process:
        yield process


@pytest.fixture(scope="module")
async def strict(settings, app) -> AsyncIterator[ServerProcess]:
    """Short timeouts and a small connection cap, so that the bounds show in seconds."""
    env = production_env(
        FINORA_HEADER_TIMEOUT_S="1",
        FINORA_BODY_TIMEOUT_S="1",
        FINORA_MAX_CONNECTIONS="20",
        FINORA_RATE_LIMIT_PER_SECOND="0",
    )
    async with running_server(env) as process:
        yield process


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_until_closed(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout` passes)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def is_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, TimeoutError):  # nothing to read, and not closed
        return False
    except ConnectionResetError:
        return True


def status_and_body(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_long_url_is_414_before_the_line_ends(server):
    for path, envelope in ((b"/graphql?q=", "errors"), (b"/v1/customers?q=", "error")):
        with connect(server) as sock:
            sock.sendall(b"GET " + path + b"a" * 9000)  # no end of line: refused mid-line
            status, body = status_and_body(read_until_closed(sock))
        assert status == 414
        assert envelope in body  # the error shape of the API the URL belongs to
    with connect(server) as sock:  # a whole request, in one piece or in two
        sock.sendall(b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_and_body(read_until_closed(sock))[0] == 414
    with connect(server) as sock:
        sock.sendall(b"GET /healthz?" + b"a" * 5000)
        time.sleep(0.2)
        sock.sendall(b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_and_body(read_until_closed(sock))[0] == 414
    with connect(server) as sock:  # at the limit: served
        sock.sendall(b"GET /healthz?" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def headers(count: int) -> bytes:
    return b"".join(b"X-%d: %s\r\n" % (n, b"a" * 40) for n in range(count))


@pytest.mark.parametrize("shape", ["one-long-header", "many-headers", "in-two-reads"])
async def test_large_headers_are_431(server, shape):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        if shape == "one-long-header":  # never ends: refused after the limit, not at the end
            for _ in range(8):
                sock.sendall(b"X-Long: " + b"a" * 4096)
        elif shape == "many-headers":  # complete headers in one write, then the end of the head
            sock.sendall(headers(400) + b"\r\n")
        else:  # 10 KiB, then 7 KiB and the end: each read under the limit, the head over it
            sock.sendall(headers(200))
            time.sleep(0.2)
            sock.sendall(headers(140) + b"\r\n")
        status, body = status_and_body(read_until_closed(sock))
    assert status == 431
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_50_mb_request_line_is_refused_without_stalling_others(server):
    sent = 0
    ended: list[BaseException] = []

    def attack() -> None:
        nonlocal sent
        chunk = b"a" * 65536
        with connect(server) as sock:
            try:
                sock.sendall(b"GET /graphql?q=")
                while sent < 50 * MiB:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError as exc:  # the server closed the connection
                ended.append(exc)

    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.get("/healthz")  # the connection is open before the attack
        attacker = threading.Thread(target=attack)
        attacker.start()
        latencies = []
        # The other client is served throughout the attack, and for a while after it.
        while attacker.is_alive() or len(latencies) < 50:
            started = time.perf_counter()
            assert (await http.get("/healthz")).status_code == 200
            latencies.append(time.perf_counter() - started)
        attacker.join()
    print(
        f"\n50 MB URL: refused after {sent / MiB:.1f} MiB sent (kernel buffers included); "
        f"other client: slowest of {len(latencies)} requests {max(latencies) * 1000:.1f} ms"
    )
    assert ended, "the server read all 50 MB"
    assert sent < 16 * MiB  # what the kernel buffers took before the reset
    assert max(latencies) < 0.5


async def test_300_stalled_keyless_uploads_cost_little_and_are_closed(server):
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )
    body = b"x" * 999_999  # one byte short: the request never ends
    pid = server.process.pid
    before = rss_bytes(pid)
    peak = before
    started = time.monotonic()
    sockets = []
    for _ in range(STALLED_UPLOADS):
        sock = connect(server)
        sock.setblocking(False)
        sock.send(head)
        sent = 0
        try:  # as much of the body as the kernel takes, then stall
            while sent < len(body):
                sent += sock.send(body[sent : sent + 262144])
        except BlockingIOError:
            pass
        sockets.append(sock)
        peak = max(peak, rss_bytes(pid))
    answers: list[bytes] = []
    try:
        for sock in sockets:
            wait = max(0.01, started + 30 - time.monotonic())
            answers.append(read_until_closed(sock, timeout=wait))
            peak = max(peak, rss_bytes(pid))
        closed_after = time.monotonic() - started
        still_open = sum(not is_closed(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    print(
        f"\n{STALLED_UPLOADS} stalled keyless 1 MB uploads: server RSS +"
        f"{(peak - before) / MiB:.1f} MiB at peak; {still_open} open after {closed_after:.1f} s"
    )
    assert still_open == 0 and closed_after < 30
    assert all(a.startswith(b"HTTP/1.1 401 ") for a in answers)  # answered, then closed
    assert peak - before <= 64 * MiB


async def test_a_keyless_upload_gets_its_401_not_a_reset(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/graphql", content=b"{" + b" " * 900_000 + b"}")
        assert response.status_code == 401
        assert (await http.get("/healthz")).status_code == 200  # the next request still works


async def test_a_head_that_trickles_is_408_and_an_idle_connection_closes(strict):
    with connect(strict) as idle, connect(strict) as trickle:
        started = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            if select.select([trickle], [], [], 0.1)[0]:  # answered: stop sending
                break
            trickle.sendall(bytes([byte]))  # a byte every 0.1 s: the head never ends
        status, body = status_and_body(read_until_closed(trickle))
        assert status == 408 and body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
        assert read_until_closed(idle) == b""  # nothing asked, nothing answered: closed
        assert time.monotonic() - started < 3


async def test_a_body_that_stalls_is_408(strict, tenant):
    with connect(strict) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + tenant.key.encode() + b"\r\n"
            b'Content-Length: 100\r\n\r\n{"query":'
        )
        status, body = status_and_body(read_until_closed(sock))
    assert status == 408 and body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert time.monotonic() - started < 3


async def test_connections_beyond_the_cap_get_503(strict):
    held = [connect(strict) for _ in range(20)]
    try:
        await asyncio.sleep(0.2)
        with connect(strict) as extra:
            status, body = status_and_body(read_until_closed(extra))
        assert status == 503
        assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        for sock in held:
            sock.close()
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=strict.url) as http:  # room again
        assert (await http.get("/healthz")).status_code == 200
