"""The Dockerfile: linted, and the commands it runs work as the image runs them.

No Docker engine runs here, so the image's entry commands are run directly,
with the image's environment, from outside the repository.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port
from tests.test_cli import production_env

DOCKERFILE = (ROOT / "Dockerfile").read_text()
BIN = Path(sys.executable).parent


def _instruction(name: str) -> list[str]:
    """The exec-form command of CMD, or of HEALTHCHECK's CMD."""
    joined = DOCKERFILE.replace("\\\n", " ")
    match = re.search(rf"^{name} (?:.*?CMD )?(\[.*\])\s*$", joined, re.M)
    assert match, name
    return json.loads(match.group(1))


def test_hadolint_finds_nothing():
    result = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_non_root_with_a_healthcheck():
    assert re.search(r"^USER 10001$", DOCKERFILE, re.M)
    assert DOCKERFILE.count("FROM ") == 2  # multi-stage
    assert "/healthz" in DOCKERFILE


async def test_entry_commands_as_the_image_runs_them(settings, app, tmp_path, fresh_db):
    migrations = tmp_path / "srv" / "aerich_migrations"
    shutil.copytree(ROOT / "aerich_migrations", migrations)
    port = free_port()
    env = production_env(
        DATABASE_URL=fresh_db,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        FINORA_MIGRATIONS_DIR=str(migrations),
        PATH=f"{BIN}:{os.environ['PATH']}",
    )
    migrate = await asyncio.to_thread(
        subprocess.run,
        ["finora", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0 and "applied" in migrate.stdout, migrate.stderr
    server = subprocess.Popen(
        _instruction("CMD"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(150):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.ConnectError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the image's CMD did not serve")
        check = await asyncio.to_thread(
            subprocess.run, _instruction("HEALTHCHECK"), env=env, timeout=30
        )
        assert check.returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
