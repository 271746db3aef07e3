"""Test set-up: a real PostgreSQL, a fresh database per run, the real ASGI app.

The server is TEST_DATABASE_URL or DATABASE_URL when set (CI sets the first);
otherwise the embedded one from pgserver.  When a URL is given and the server
does not answer, the run fails: it never skips.  FINORA_TEST_PGBOUNCER=1 puts
the service (the `settings` and `app` fixtures, and the servers started from
the environment) behind a real PgBouncer in transaction mode (tests.pgbouncer);
migrations and `raw_db` still use the direct `database_url`.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The environment is set before anything reads the settings.
os.environ["FINORA_ENV"] = "development"
os.environ["FINORA_GRAPHIQL"] = "1"
os.environ["FINORA_ENCRYPTION_KEYS"] = f"ktest:{base64.b64encode(secrets.token_bytes(32)).decode()}"
os.environ["FINORA_INDEX_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.db.orm import with_database
from app.settings import Settings, parse_database_url
from tests.pgbouncer import environment as pgbouncer_environment
from tests.pgbouncer import pgbouncer_fixture  # noqa: F401 - the `pgbouncer` fixture

ROOT = Path(__file__).resolve().parent.parent
# pgserver logs at interpreter exit, after pytest has closed its streams.
logging.getLogger("pgserver").setLevel(logging.WARNING)


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    from app.db import embedded

    return embedded.start(ROOT / ".finora" / "test")


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**parse_database_url(url), timeout=10)  # type: ignore[arg-type]


@pytest.fixture
def pg_tmp() -> Iterator[Path]:
    """A folder for an embedded PostgreSQL's data, outside pytest's temporary root.

    pgserver runs PostgreSQL as a separate system user and opens up the folders
    above its data for it; pytest makes its own root private again at every
    session start, so a data folder there breaks whenever two runs overlap.
    """
    path = Path(tempfile.mkdtemp(prefix="finora-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A new, migrated database for this run, dropped at the end."""
    name = f"finora_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    from app.db.migrate import migrate

    await migrate(url)
    yield url
    admin = await _admin(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    os.environ["DATABASE_URL"] = database_url
    if os.environ.get("FINORA_TEST_PGBOUNCER") == "1":  # the service through PgBouncer
        bouncer = request.getfixturevalue("pgbouncer")
        os.environ.update(pgbouncer_environment(bouncer, database_url))
    return Settings.from_env()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The real ASGI app with its lifespan running (ORM open, keys installed)."""
    from schema.asgi import create_app

    application = create_app(settings)
    async with LifespanManager(application) as manager:
        yield manager.app


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
async def raw_db(database_url: str, app: Any) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for reading rows as they are stored."""
    conn = await _admin(database_url)
    yield conn
    await conn.close()


@dataclass
class Tenant:
    business_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(name: str = "Shop") -> Tenant:
    from app.services import businesses

    business = await businesses.create_business(name)
    issued = await businesses.create_api_key(business.id)
    return Tenant(business.id, issued.key)


@pytest.fixture
async def tenant(app: Any) -> Tenant:
    return await make_tenant("Tenant A")


@pytest.fixture
async def other(app: Any) -> Tenant:
    return await make_tenant("Tenant B")


class GraphQL:
    """Posts GraphQL over real HTTP through the ASGI app."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(
        self, tenant: Tenant | None, query: str, variables: dict | None = None, **kw: Any
    ) -> httpx.Response:
        headers = tenant.headers if tenant else {}
        body = {"query": query, "variables": variables or {}}
        return await self.client.post("/graphql", json=body, headers=headers, **kw)

    async def data(self, tenant: Tenant, query: str, variables: dict | None = None) -> dict:
        response = await self(tenant, query, variables)
        payload = response.json()
        assert response.status_code == 200, payload
        assert "errors" not in payload, payload
        return payload["data"]


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQL:
    return GraphQL(client)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until_up(url: str, process: Any) -> None:
    """Until the server at ``url`` answers /healthz (30 s at most, and only while it runs)."""
    import time

    async with httpx.AsyncClient(base_url=url) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                await http.get("/healthz")
                return
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "no server"
                await asyncio.sleep(0.2)


@asynccontextmanager
async def running_server(env: dict[str, str], *args: str) -> AsyncIterator[ServerProcess]:
    """`finora serve` as a real process on a free port, stopped with SIGTERM at the end.

    Its log goes to a file (a pipe nobody reads would fill and stall the server).
    """
    import subprocess
    import sys
    import tempfile

    port = free_port()
    finora = str(Path(sys.executable).parent / "finora")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [finora, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = ServerProcess(process, f"http://127.0.0.1:{port}")
    try:
        await wait_until_up(server.url, process)
        yield server
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
        log.seek(0)
        server.log = log.read().decode(errors="replace")
        log.close()


@dataclass
class ServerProcess:
    process: Any
    url: str
    log: str = ""


async def _fresh_database(server_url: str) -> tuple[str, str]:
    name = f"finora_mig_{uuid.uuid4().hex[:10]}"
    admin = await _admin(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name, with_database(server_url, name)


async def _drop(server_url: str, name: str) -> None:
    admin = await _admin(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def fresh_db(server_url):
    name, url = await _fresh_database(server_url)
    yield url
    await _drop(server_url, name)


@pytest.fixture
def settled_heap() -> Iterator[None]:
    """The heap as a server's is after start-up: what exists now frozen out of the
    collector (app.http.app does the same).  Without it, a full collection of
    everything the earlier tests of this session left behind (tens of ms in the
    full suite) would be measured as the service holding the loop."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
