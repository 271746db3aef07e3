"""Raw HTTP/1.1 requests for the benchmarks: built once as bytes, sent on plain sockets."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from bench.loadgen import HOST, REQUEST_TIMEOUT_S, read_response


def get_request(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


def graphql_request(port: int, token: str, query: str, variables: dict[str, Any]) -> bytes:
    body = json.dumps({"query": query, "variables": variables}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def fetch(port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection (readiness and the equality check)."""
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(request)
            status, body, _ = await read_response(reader)
        finally:
            writer.close()
    return status, body
