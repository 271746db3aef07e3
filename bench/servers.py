"""The servers a benchmark starts (the service, its floor) and the CLI it prepares data with."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

from bench.loadgen import HOST
from bench.procstats import process_tree
from bench.rawhttp import fetch, get_request

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server under test, started by us, in its own session so we can stop it whole."""

    name: str
    argv: list[str]
    port: int
    #: The application_name of its PostgreSQL connections, to find its backends.
    application_name: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tree(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        request = get_request(self.port, "/healthz")
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited while starting:\n{self.log_tail()}")
            try:
                status, _ = await fetch(self.port, request)
                if status == 200:
                    return
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        raise SystemExit(
            f"{self.name} did not answer in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM (Uvicorn stops its workers), then SIGKILL to its process group if stuck."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def finora(env: dict[str, str], *args: str) -> str:
    """Run the real CLI, as an operator would; its stdout, or stop with its error."""
    done = subprocess.run(
        [str(BIN / "finora"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"finora {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def command_line(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def finora_serve(name: str, workers: int, log_dir: Path) -> Server:
    """`finora serve --workers N` on a free port, as an operator runs it; its log in
    ``log_dir/<name>.log``."""
    port = free_port()
    argv = [str(BIN / "finora"), "serve", "--host", HOST, "--port", str(port),
            "--workers", str(workers)]  # fmt: skip
    return Server(name, argv, port, "finora", log_dir / f"{name}.log")


def make_servers(workers: int, log_dir: Path) -> tuple[Server, Server]:
    """The service as an operator runs it, and the floor with the same Uvicorn settings."""
    service, floor_port = finora_serve("service", workers, log_dir), free_port()
    floor = Server(
        "floor",
        [str(BIN / "uvicorn"), "bench.floor:create_app", "--factory", "--host", HOST,
         "--port", str(floor_port), "--workers", str(workers), "--no-access-log",
         "--log-level", "warning"],
        floor_port,
        "finora-floor",
        log_dir / "floor.log",
    )  # fmt: skip
    return service, floor


@dataclass
class Scratch:
    """A database made for one benchmark run, and a connection to its server."""

    name: str
    url: str
    admin: asyncpg.Connection


@asynccontextmanager
async def scratch_database() -> AsyncIterator[Scratch]:
    """A new database on the server of DATABASE_URL (default: the local
    PostgreSQL), dropped again at the end, however the run ends."""
    import asyncpg

    from app.db.orm import with_database
    from app.settings import parse_database_url

    async def connect(url: str) -> asyncpg.Connection:
        return await asyncpg.connect(**parse_database_url(url))  # type: ignore[arg-type]

    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"finora_bench_{uuid.uuid4().hex[:8]}"
    admin = await connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Scratch(name, with_database(server_url, name), admin)
    finally:
        await admin.close()
        admin = await connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


#: A per-key rate limit no run can reach (requests per second, and burst).
UNREACHABLE_RATE = 1_000_000_000


async def production_env(db: Scratch, *, rate_limited: bool = False) -> dict[str, str]:
    """A production start's environment on the scratch database, migrated, with fresh
    keys (installed in this process too, for checks that decrypt).

    Unless `rate_limited`, the per-key limit stays on (its bookkeeping is part of a
    request's cost) but never refuses: one key sends every request of a benchmark.
    """
    from app import crypto
    from app.crypto.keys import KeySet, generate_env_lines
    from app.db.migrate import migrate

    keys = dict(line.split("=", 1) for line in generate_env_lines())
    env = {**os.environ, **keys, "DATABASE_URL": db.url, "FINORA_ENV": "production"}
    env.pop("FINORA_GRAPHIQL", None)
    if not rate_limited:
        env["FINORA_RATE_LIMIT_PER_SECOND"] = env["FINORA_RATE_LIMIT_BURST"] = str(UNREACHABLE_RATE)
    crypto.install(KeySet.parse(keys["FINORA_ENCRYPTION_KEYS"], keys["FINORA_INDEX_KEY"]))
    await migrate(db.url)
    return env
