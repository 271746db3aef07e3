"""A real webhook receiver for tests: its own process, an HTTP server on 127.0.0.1.

Its own process, so that the test's busy event loop does not slow its answers.
It verifies every request as a receiver would (the standardwebhooks package)
and appends each 2xx delivery to a JSON-lines file with the time it arrived
(time.monotonic: one clock for every process of the machine).  The test steers
it over HTTP (``POST /_control``: status to answer, or one per body type in
`status_for`; delay; secret; and `keys`, more secrets each tried on its own, for
a rotation) and can stop it and start it again on the same port, same file.

    python -m tests.receiver PORT FILE
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

CONTROL = "/_control"
#: The repository (not imported from conftest: the receiver process starts light).
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    at: float
    id: str
    body: dict[str, Any]
    verified: bool
    host: str
    path: str
    #: Per secret of `keys`: whether the request verifies with it alone.
    verified_with: list[bool] = field(default_factory=list)
    #: Per signature of the header, in its order: the index in `keys` of the secret
    #: that made it (-1: none of them).
    signed_by: list[int] = field(default_factory=list)


@dataclass
class Receiver:
    """The test's handle on a receiver process."""

    port: int = field(default_factory=free_port)
    path: Path = field(default_factory=lambda: Path(tempfile.mkdtemp()) / "received.jsonl")
    secret: str | None = None
    status: int = 200
    delay: float = 0.0
    keys: list[str] = field(default_factory=list)
    #: The status to answer to a body of this "type" (e.g. webhook.ping), else `status`.
    status_for: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?x=1"

    def start(self) -> Receiver:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.receiver", str(self.port), str(self.path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.control()
                return self
            except httpx.TransportError:
                assert time.monotonic() < deadline and self.process.poll() is None, "no receiver"
                time.sleep(0.05)

    def control(self, **changes: Any) -> None:
        """Apply changes (secret, status, delay) here and in the process."""
        for key, value in changes.items():
            setattr(self, key, value)
        settings = {
            "secret": self.secret,
            "status": self.status,
            "delay": self.delay,
            "keys": self.keys,
            "status_for": self.status_for,
        }
        httpx.post(f"http://127.0.0.1:{self.port}{CONTROL}", json=settings, timeout=5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def requests(self) -> int:
        """Every request so far, whatever the answer."""
        return sum(1 for _ in self._lines(self.path.with_suffix(".all")))

    def got(self) -> list[Received]:
        """Every 2xx delivery, in arrival order (duplicates included)."""
        return [Received(**orjson.loads(line)) for line in self._lines(self.path)]

    def first_arrivals(self) -> list[Received]:
        """One entry per webhook-id, the first to arrive: what a de-duplicating receiver keeps."""
        seen: set[str] = set()
        kept = []
        for entry in self.got():
            if entry.id not in seen:
                seen.add(entry.id)
                kept.append(entry)
        return kept

    @staticmethod
    def _lines(path: Path) -> list[bytes]:
        if not path.exists():
            return []
        return [line for line in path.read_bytes().splitlines() if line.endswith(b"}")]


def _check_keys(keys: list[str], body: bytes, headers: dict[str, str]) -> dict[str, list]:
    """Which of `keys` verify the request, and which made each of its signatures."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    verified = []
    for key in keys:
        try:
            Webhook(key).verify(body, headers)
            verified.append(True)
        except Exception:
            verified.append(False)
    try:
        at = datetime.fromtimestamp(int(headers.get("webhook-timestamp", "")), UTC)
    except ValueError:
        return {"verified_with": verified, "signed_by": []}
    made = [Webhook(key).sign(headers.get("webhook-id", ""), at, body) for key in keys]
    given = headers.get("webhook-signature", "").split(" ")
    signed_by = [made.index(sig) if sig in made else -1 for sig in given]
    return {"verified_with": verified, "signed_by": signed_by}


def serve(port: int, path: Path) -> None:
    from standardwebhooks import Webhook

    state: dict[str, Any] = {
        "secret": None,
        "status": 200,
        "delay": 0.0,
        "keys": [],
        "status_for": {},
    }
    received = path.open("ab", buffering=0)
    attempts = path.with_suffix(".all").open("ab", buffering=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == CONTROL:
                state.update(orjson.loads(body))
                return self._answer(204)
            at = time.monotonic()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                Webhook(state["secret"]).verify(body, headers)
                verified = True
            except Exception:
                verified = False
            entry = {"at": at, "id": headers.get("webhook-id", ""), "verified": verified}
            entry |= {"host": headers.get("host", ""), "path": self.path}
            if state["keys"]:
                entry |= _check_keys(state["keys"], body, headers)
            entry["body"] = orjson.loads(body)
            attempts.write(orjson.dumps(entry) + b"\n")
            if state["delay"]:
                time.sleep(state["delay"])
            status = state["status_for"].get(entry["body"].get("type"), state["status"])
            if 200 <= status < 300:
                received.write(orjson.dumps(entry) + b"\n")
            self._answer(status)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
