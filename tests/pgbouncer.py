"""A real PgBouncer in transaction pooling mode, in front of the test server.

`start_pgbouncer` writes a pgbouncer.ini (the one the README shows) into a
temporary folder and runs Debian's ``/usr/sbin/pgbouncer`` on a free port, with
a wildcard database (``* = host=... port=...``), so every test database of the
server is reachable through it under its own name.  PgBouncer refuses to run as
root, so under root it is started with ``-u postgres`` and its folder is made
readable by that user.

When PgBouncer is missing the tests that need it skip, except under CI
(``CI=true``), where they fail: a CI machine without it would otherwise pass
without testing anything of this.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.settings import parse_database_url

#: Debian's binary; PATH is looked at first.
CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer")
#: The settings we test with (and the README shows); {placeholders} are filled in.
INI = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
max_db_connections = {pool_size}
server_lifetime = 3600
server_idle_timeout = 60
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer: where it listens and how to reach a database through it."""

    port: int
    folder: Path

    def url(self, direct_url: str) -> str:
        """`direct_url`'s database and user, through this PgBouncer."""
        params = parse_database_url(direct_url)
        auth = str(params["user"]) + (f":{params['password']}" if params["password"] else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{params['database']}"

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def binary() -> str:
    """The pgbouncer executable; skips the test without one (fails under CI)."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    message = "pgbouncer is not installed (apt-get install pgbouncer)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(bouncer: PgBouncer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", bouncer.port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None, f"pgbouncer exited: {bouncer.log()}"
            assert time.monotonic() < deadline, f"pgbouncer does not listen: {bouncer.log()}"
            time.sleep(0.05)


@contextmanager
def start_pgbouncer(server_url: str, *, pool_size: int = 20) -> Iterator[PgBouncer]:
    """PgBouncer (transaction mode, at most `pool_size` server connections per
    database) in front of the server of `server_url`, stopped at the end."""
    executable = binary()
    params = parse_database_url(server_url)
    folder = Path(tempfile.mkdtemp(prefix="finora-pgbouncer-"))
    port = _free_port()
    (folder / "users.txt").write_text(f'"{params["user"]}" ""\n')
    ini = INI.format(
        host=params["host"],
        port=params["port"],
        listen_port=port,
        folder=folder,
        pool_size=pool_size,
    )
    (folder / "pgbouncer.ini").write_text(ini)
    command = [executable, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # it refuses root: run it as the server's own user
        shutil.chown(folder, "postgres")
        for path in folder.iterdir():
            shutil.chown(path, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(port, folder)
    try:
        _wait_listening(bouncer, process)
        yield bouncer
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def environment(bouncer: PgBouncer, direct_url: str) -> dict[str, str]:
    """The service's settings for `direct_url`'s database behind `bouncer`: requests
    through PgBouncer, sessions (the worker, migrations) straight to the server."""
    return {
        "DATABASE_URL": bouncer.url(direct_url),
        "FINORA_DATABASE_POOLER": "pgbouncer",
        "FINORA_DATABASE_DIRECT_URL": direct_url,
    }


def service_environment(direct_url: str) -> dict[str, str]:
    """How a `finora` process a test starts reaches `direct_url`'s database: as the
    run's service does.  Under FINORA_TEST_PGBOUNCER=1 that is through the run's
    PgBouncer (the one DATABASE_URL points at), its sessions to `direct_url`; else
    straight to `direct_url`."""
    if os.environ.get("FINORA_DATABASE_POOLER") != "pgbouncer":
        return {"DATABASE_URL": direct_url}
    port = urlsplit(os.environ["DATABASE_URL"]).port or 0
    return environment(PgBouncer(port, Path()), direct_url)


@pytest.fixture(scope="session", name="pgbouncer")
def pgbouncer_fixture(server_url: str) -> Iterator[PgBouncer]:
    """One PgBouncer for the run, in front of the test server."""
    with start_pgbouncer(server_url) as bouncer:
        yield bouncer
