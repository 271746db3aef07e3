"""The `finora` command, run as a user runs it: a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.crypto.keys import new_key
from app.services.businesses import AUTH_CACHE_S
from tests.conftest import ROOT, running_server

FINORA = str(Path(sys.executable).parent / "finora")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FINORA, *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        cwd=ROOT,
        timeout=60,
    )


async def arun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, *args, env=env)


def production_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "FINORA_ENV": "production"}
    env.pop("FINORA_GRAPHIQL", None)
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("finora: error:")
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0]


async def test_business_and_apikey_json_then_revoke(settings, client):
    business = await arun("business", "create", "Mama Put Ventures", "--json")
    assert business.returncode == 0, business.stderr
    created = json.loads(business.stdout)
    assert set(created) == {"id", "name"} and created["name"] == "Mama Put Ventures"
    assert created["id"].startswith("biz_")

    issued = await arun("apikey", "create", "--business", created["id"], "--json")
    assert issued.returncode == 0, issued.stderr
    key = json.loads(issued.stdout)
    assert set(key) == {"key", "businessId", "prefix", "scope"} and key["scope"] == "write"
    assert key["businessId"] == created["id"] and key["key"].startswith(key["prefix"])

    headers = {"Authorization": f"Bearer {key['key']}"}
    query = {
        "query": "query($b: ID!) { customers(businessId: $b) { id } }",
        "variables": {"b": created["id"]},
    }
    assert (await client.post("/graphql", json=query, headers=headers)).json() == {
        "data": {"customers": []}
    }
    revoked = await arun("apikey", "revoke", key["prefix"])
    assert revoked.returncode == 0, revoked.stderr
    # Another process revoked it: this one stops trusting the key within AUTH_CACHE_S.
    deadline = time.monotonic() + AUTH_CACHE_S + 1
    while (await client.post("/graphql", json=query, headers=headers)).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        await asyncio.sleep(0.25)
    again = await arun("apikey", "revoke", key["prefix"])
    assert_one_clear_line(again, "no live API key")


async def test_apikey_for_unknown_business_fails_clearly(settings):
    result = await arun("apikey", "create", "--business", "biz_nope", "--json")
    assert_one_clear_line(result, "no business")
    assert result.stdout == ""


def test_keys_generate_prints_usable_lines():
    result = run("keys", "generate")
    assert result.returncode == 0
    names = [line.split("=", 1)[0] for line in result.stdout.strip().splitlines()]
    assert names == ["FINORA_ENCRYPTION_KEYS", "FINORA_INDEX_KEY"]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"FINORA_ENCRYPTION_KEYS": "", "FINORA_INDEX_KEY": ""}, ["must be set in production"]),
        ({"FINORA_ENCRYPTION_KEYS": "k1:not-base64"}, ["not valid base64"]),
        ({"FINORA_INDEX_KEY": "c2hvcnQ="}, ["FINORA_INDEX_KEY", "32 bytes"]),
        ({"FINORA_ENCRYPTION_KEYS": f"ktest:{new_key()}"}, ["does not match"]),
        ({"FINORA_INDEX_KEY": new_key()}, ["FINORA_INDEX_KEY does not match"]),
        ({"FINORA_ENCRYPTION_KEYS": f"kother:{new_key()}"}, ["none of the keys"]),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}, ["does not answer"]),
        ({"DATABASE_URL": "mysql://x"}, ["postgres://"]),
        ({"FINORA_ENV": "staging"}, ["FINORA_ENV"]),
        ({"FINORA_MAX_URL_BYTES": "8k"}, ["FINORA_MAX_URL_BYTES", "number"]),
        ({"FINORA_MAX_CONNECTIONS": "0"}, ["FINORA_MAX_CONNECTIONS", "greater than 0"]),
    ],
    ids=[
        "missing",
        "malformed",
        "short-index",
        "wrong-key",
        "wrong-index",
        "unknown-ids",
        "db-down",
        "bad-url",
        "bad-env",
        "bad-limit",
        "zero-limit",
    ],
)
async def test_serve_refuses_a_bad_configuration_in_one_line(settings, app, overrides, words):
    result = await arun("serve", "--port", "1", env=production_env(**overrides))
    assert_one_clear_line(result, *words)


@pytest.mark.parametrize("command", ["serve", "dev"])
async def test_development_by_default_stays_on_loopback(settings, app, command):
    """Without FINORA_ENV, a public address would serve GraphiQL without a key."""
    result = await arun(
        command, "--host", "0.0.0.0", "--port", "1", env=production_env(FINORA_ENV="")
    )
    assert_one_clear_line(result, "FINORA_ENV is not set", "0.0.0.0", "FINORA_ENV=production")


def test_an_explicit_environment_may_listen_anywhere():
    from app.cli.server import check_exposure
    from app.settings import ConfigError, Settings

    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_exposure(Settings.from_env({}), host)
    for environment in ("development", "production"):
        check_exposure(Settings.from_env({"FINORA_ENV": environment}), "0.0.0.0")
    for host in ("0.0.0.0", "::", "10.0.0.5", "example.com"):
        with pytest.raises(ConfigError):
            check_exposure(Settings.from_env({}), host)


async def test_serve_runs_the_service_in_production(settings, app, tenant):
    async with (
        running_server(production_env()) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        ide = await http.get("/graphql", headers={"Accept": "text/html"})
        assert ide.status_code in (401, 404)  # GraphiQL is off in production
        assert (await http.get("/metrics")).status_code == 403  # no FINORA_METRICS_TOKEN
        answer = await http.post(
            "/graphql",
            json={
                "query": "query($b: ID!) { customers(businessId: $b) { id } }",
                "variables": {"b": tenant.business_id},
            },
            headers=tenant.headers,
        )
        assert answer.json() == {"data": {"customers": []}}
    # Uvicorn shuts down gracefully, then re-raises SIGTERM to exit with its status.
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in server.log
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    assert any(entry.get("path") == "/graphql" and entry.get("status") == 200 for entry in lines)


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "rotate"),
        ("reindex",),
        ("erasures", "--from", "2026-01-01", "--to", "2026-01-02"),
        ("business", "create", "Shop"),
        ("events", "prune"),
        ("serve", "--port", "1"),
    ],
)
async def test_key_commands_on_an_unmigrated_database_say_so_in_one_line(settings, fresh_db, args):
    """Every command but `migrate` needs the tables; on an empty database they ended
    in a traceback (relation "key_check" does not exist)."""
    result = await arun(*args, env=production_env(DATABASE_URL=fresh_db))
    assert_one_clear_line(result, "not migrated", "finora migrate")
