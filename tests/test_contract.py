"""The served schema is compatible with the public contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import (
    DangerousChangeType,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)

from schema.sdl import sdl
from tests.conftest import ROOT

CONTRACT = ROOT.parent / "shared" / "contract" / "schema.graphql"


def incompatibilities(served_sdl: str) -> list[str]:
    assert CONTRACT.exists(), f"the contract is missing at {CONTRACT}"
    contract = build_schema(CONTRACT.read_text())
    served = build_schema(served_sdl)
    changes = find_breaking_changes(contract, served)
    changes += [
        d
        for d in find_dangerous_changes(contract, served)
        if d.type == DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE
    ]
    return [c.description for c in changes]


def test_served_schema_is_compatible_with_the_contract():
    assert incompatibilities(sdl()) == []


def test_the_check_catches_a_break():
    broken = sdl().replace("limit: Int! = 50", "limit: Int! = 20").replace("  tin: String\n", "", 1)
    assert len(incompatibilities(broken)) >= 2


def test_finora_schema_prints_the_sdl():
    exe = Path(sys.executable).parent / "finora"
    result = subprocess.run([str(exe), "schema"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert incompatibilities(result.stdout) == []
