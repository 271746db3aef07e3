"""The served schema is compatible with the repository's copy of the public contract,
and the repository stands on its own (nothing read from beside the clone)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schema.sdl import contract_sdl, incompatibilities, sdl
from tests.conftest import ROOT

CONTRACT = ROOT / "contract"
FINORA = Path(sys.executable).parent / "finora"
#: A path that leaves the repository for the folder beside it (``../shared``).
RUN_CLI = "import sys; from app.cli import main; sys.exit(main())"
OUTSIDE = re.compile(r"\.\./shared|\bROOT\.parent\b|parents?\b.*[\"']shared[\"']")


def test_served_schema_is_compatible_with_the_contract():
    assert incompatibilities(contract_sdl(CONTRACT), sdl()) == []


def test_the_check_catches_a_break():
    broken = sdl().replace("limit: Int! = 50", "limit: Int! = 20").replace("  tin: String\n", "", 1)
    found = incompatibilities(contract_sdl(CONTRACT), broken)
    assert any("limit" in line for line in found) and any("tin" in line for line in found)


def test_additions_join_the_base(tmp_path):
    (tmp_path / "schema.graphql").write_text((CONTRACT / "schema.graphql").read_text())
    (tmp_path / "more.graphql").write_text("extend type Query { somethingNotBuilt: Int }\n")
    assert incompatibilities(contract_sdl(tmp_path), sdl()) == [
        "Field Query.somethingNotBuilt was removed."
    ]


def test_finora_schema_prints_and_checks():
    printed = subprocess.run([FINORA, "schema"], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert incompatibilities(contract_sdl(CONTRACT), printed.stdout) == []
    checked = subprocess.run(
        [FINORA, "schema", "--check"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert (checked.returncode, checked.stdout.strip()) == (
        0,
        "the served schema is compatible with contract",
    )


def test_finora_schema_check_fails_on_a_break(tmp_path):
    (tmp_path / "schema.graphql").write_text("type Query { notServed: Int }\n")
    checked = subprocess.run(
        [FINORA, "schema", "--check", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 1
    assert "breaks the contract: Field Query.notServed was removed." in checked.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to clone the repository")
def test_a_clone_stands_on_its_own(tmp_path):
    """A user's clone has nothing beside it: no file refers outside, and the contract
    check passes from inside the clone alone (its own code, its own copy)."""
    clone = tmp_path / "alone" / "repo"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
        check=True,
        timeout=120,
    )
    work = subprocess.run(  # the tracked files as they are now, committed or not
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, work):
        source = ROOT / name.decode()
        if source.is_file():
            (clone / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name.decode())
    offenders = []
    for path in clone.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(clone)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line) and path.name != "test_contract.py"
        ]
    assert offenders == []
    assert "schema.graphql" in {p.name for p in (clone / "contract").glob("*.graphql")}
    # The clone's own code against the clone's own contract copy, with no editable install.
    check = subprocess.run(
        [sys.executable, "-c", RUN_CLI, "schema", "--check"],
        cwd=clone,
        env={"PATH": "/usr/bin:/bin", "FINORA_ENV": "development", "PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "the served schema is compatible with contract"
