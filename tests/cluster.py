"""Several real `finora serve` processes behind a real HAProxy, for scale-out tests.

The design scales out with more processes and hosts behind a load balancer; the
claims that go with it (shared limits, nothing lost when a host dies) only mean
something against the real thing.  So each server is a production `finora
serve` on its own port, in its own process group (SIGKILL to the group is a host
dying: no clean-up, its Uvicorn workers gone with it), and HAProxy runs in the
foreground as a child of the test, configured as an operator would:

- round robin in HTTP mode, every request balanced on its own;
- health checks on /healthz every 200 ms, down after 2 failures, up after 1;
- ``retries`` with ``option redispatch`` and ``retry-on conn-failure empty-response``,
  so a request that finds its server dead (refused, or closed with no answer) is
  sent to another one instead of failing.  A request the dead server had already
  executed may so run twice: the service must make that harmless (one active
  customer per email is a unique index, find-or-create finds), which the tests check;
- ``option http-buffer-request``: HAProxy has the whole body before it picks a
  server, so what it sends again on a retry is the whole request.

    async with cluster(database_url, servers=2, env={"FINORA_REDIS_URL": ...}) as c:
        await http.post(c.url + "/graphql", ...)
        c.servers[0].kill()

HAProxy's admin socket tells what it thinks of each server (`states`,
`wait_state`; `in_flight`, its unanswered requests, to kill one while busy), and
its log (one line per request, naming the server) is kept; every log is printed
when the block fails, then every process is stopped and the temporary folder
removed.  Without haproxy the test skips, except under CI=true, where it fails:
CI installs it (.ci/run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import ROOT, free_port, wait_until_up
from tests.test_cli import production_env

FINORA = str(Path(sys.executable).parent / "finora")
STOP_TIMEOUT_S = 30
#: How many log lines of each process a failure shows.
TAIL_LINES = 80

HAPROXY_CONFIG = """\
global
    maxconn 4096
    stats socket {admin} mode 600 level admin
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout queue 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option http-buffer-request

frontend api
    bind 127.0.0.1:{port}
    default_backend finora

backend finora
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
    default-server inter 200ms fastinter 200ms downinter 200ms fall 2 rise 1
{servers}
"""


def haproxy_binary() -> str:
    """HAProxy's path; skips the test without it, or fails it under CI."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(p)), None
    )
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("haproxy is not installed: CI must have it (.ci/run installs it)")
    pytest.skip("haproxy is not installed (apt-get install haproxy)")


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Server:
    """One `finora serve` process (with its Uvicorn workers, if any)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Its log so far (JSON lines in production: one per request)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def served(self, path: str = "/graphql") -> int:
        """Requests to ``path`` it has answered (its request log lines)."""
        needle = f'"path":"{path}"'
        return sum(1 for line in self.output().splitlines() if needle in line)

    def kill(self) -> None:
        """SIGKILL to the whole process group: the host dies, nothing is cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    async def stop(self) -> None:
        """SIGTERM (Uvicorn's graceful shutdown), SIGKILL if that takes too long."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):  # orphaned workers, if any
            os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Cluster:
    """The servers and HAProxy in front of them; ``url`` is HAProxy's frontend."""

    url: str
    servers: list[Server]
    haproxy: subprocess.Popen[bytes]
    haproxy_log: IO[bytes]
    admin_socket: Path

    def haproxy_output(self) -> str:
        """HAProxy's log: one line per request, naming the server that answered."""
        self.haproxy_log.seek(0)
        return self.haproxy_log.read().decode(errors="replace")

    async def admin(self, command: str) -> str:
        """One command on HAProxy's admin socket (e.g. ``show stat``), its answer."""
        reader, writer = await asyncio.open_unix_connection(str(self.admin_socket))
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.read(), 10)).decode()
        finally:
            writer.close()

    async def stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's ``show stat`` row of each server, by name (``status``, ``scur``...)."""
        lines = (await self.admin("show stat")).splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: row
            for row in rows
            if row.get("pxname") == "finora" and row["svname"] not in ("BACKEND", "FRONTEND")
        }

    async def states(self) -> dict[str, str]:
        """HAProxy's view of each server: ``UP``, ``DOWN``, ``UP 1/2`` (going down)..."""
        return {name: row["status"] for name, row in (await self.stats()).items()}

    async def in_flight(self, server: Server) -> int:
        """Requests HAProxy has on ``server`` right now, sent and not yet answered."""
        return int((await self.stats())[server.name]["scur"] or 0)

    async def wait_state(self, server: Server, state: str, timeout: float = 30) -> None:
        """Until HAProxy reports ``server`` in ``state`` (its checks run every 200 ms)."""
        deadline = time.monotonic() + timeout
        while (await self.states()).get(server.name) != state:
            assert self.haproxy.poll() is None, "haproxy exited"
            assert time.monotonic() < deadline, f"{server.name} never {state}"
            await asyncio.sleep(0.05)

    def output(self) -> str:
        """Every log, the tail of each: what a failing test shows."""
        parts = [f"--- haproxy (exit {self.haproxy.poll()})\n{_tail(self.haproxy_output())}"]
        for server in self.servers:
            code = server.process.poll()
            parts.append(f"--- {server.name} {server.url} (exit {code})\n{_tail(server.output())}")
        return "\n".join(parts)


def _start_server(name: str, env: dict[str, str], args: Sequence[str]) -> Server:
    port = free_port()
    # A file, not a pipe: a pipe nobody reads would fill and stall the server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the cluster ends
    process = subprocess.Popen(
        [FINORA, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: kill() takes its workers too
    )
    return Server(name, port, process, log)


def _start_haproxy(folder: Path, servers: list[Server]) -> Cluster:
    port = free_port()
    admin = folder / "admin.sock"
    config = folder / "haproxy.cfg"
    lines = "\n".join(f"    server {s.name} 127.0.0.1:{s.port} check" for s in servers)
    config.write_text(HAPROXY_CONFIG.format(admin=admin, port=port, servers=lines))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the cluster ends
    process = subprocess.Popen(
        [haproxy_binary(), "-db", "-f", str(config)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Cluster(f"http://127.0.0.1:{port}", servers, process, log, admin)


async def _wait_all_up(c: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert c.haproxy.poll() is None, "haproxy exited"
        with contextlib.suppress(OSError):
            states = await c.states()
            if len(states) == len(c.servers) and set(states.values()) == {"UP"}:
                return
        assert time.monotonic() < deadline, "haproxy never saw every server up"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def cluster(
    database_url: str,
    *,
    servers: int = 2,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> AsyncIterator[Cluster]:
    """``servers`` production `finora serve` processes behind HAProxy, all stopped at the end.

    ``env`` is added to every server's environment (production mode, the test's
    keys, ``DATABASE_URL``), e.g. FINORA_REDIS_URL or rate limits; an empty value
    removes a variable.  ``args`` go to each `finora serve` (e.g. ``--workers 2``).
    """
    haproxy = haproxy_binary()  # before anything starts
    assert haproxy
    environ = production_env(DATABASE_URL=database_url, **(env or {}))
    folder = Path(tempfile.mkdtemp(prefix="finora-cluster-"))
    started = [_start_server(f"s{n}", environ, args) for n in range(servers)]
    c: Cluster | None = None
    try:
        await asyncio.gather(*(wait_until_up(s.url, s.process) for s in started))
        c = _start_haproxy(folder, started)
        await _wait_all_up(c)
        yield c
    except BaseException:
        shown = (
            c.output() if c else "\n".join(f"--- {s.name}\n{_tail(s.output())}" for s in started)
        )
        print(f"cluster logs:\n{shown}", file=sys.stderr)
        raise
    finally:
        await asyncio.gather(*(s.stop() for s in started))
        if c is not None:
            c.haproxy.terminate()
            try:
                await asyncio.to_thread(c.haproxy.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                c.haproxy.kill()
                c.haproxy.wait()
            c.haproxy_log.close()
        for s in started:
            s.log.close()
        shutil.rmtree(folder, ignore_errors=True)
