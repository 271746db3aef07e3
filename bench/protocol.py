"""The cost of the connection bounds: Uvicorn's httptools protocol against ours.

    .venv/bin/python bench/protocol.py [requests]

Both protocols parse the same keep-alive POSTs from an in-memory transport and
hand them to an ASGI app that reads the body and answers at once, so the
figure is the protocol's own work per request (parsing, timers, the cycle),
without sockets or the service.  Rounds alternate between the two to share
the machine's noise; the best round of each is compared.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.http.protocol import BoundedHttpToolsProtocol

BODY = b'{"query":"{ customers(businessId: \\"biz_x\\", limit: 10) { id name email } }"}'
REQUEST = (
    b"POST /graphql HTTP/1.1\r\nHost: api.example.ng\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer fin_live_0123456789abcdefghijklmnopqrstuvw\r\n"
    b"User-Agent: bench\r\nAccept: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
ROUNDS = 20


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name in ("peername", "sockname") else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def one_round(protocol_class: type[HttpToolsProtocol], requests: int) -> float:
    config = Config(app=app, log_config=None, access_log=False)
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    started = time.perf_counter()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        while not protocol.cycle.response_complete:
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    assert not transport.closing and transport.written > 0  # every answer kept the connection
    protocol.connection_lost(None)
    return elapsed / requests * 1_000_000


async def main(requests: int) -> None:
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for protocol_class in (HttpToolsProtocol, BoundedHttpToolsProtocol):
            us = await one_round(protocol_class, requests)
            best[protocol_class.__name__] = min(us, best.get(protocol_class.__name__, us))
    stock, bounded = best["HttpToolsProtocol"], best["BoundedHttpToolsProtocol"]
    print(f"uvicorn httptools: {stock:.2f} us/request")
    print(f"bounded:           {bounded:.2f} us/request ({bounded / stock:.2f}x)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000))
