"""The served schema as SDL (``finora schema``), and its check against the contract.

The repository keeps its own copy of the public contract in ``contract/``: the
base ``schema.graphql`` plus the additions built so far, each a ``.graphql``
file read together with the base.  The served schema may add to the contract;
it may not break it (graphql-core's breaking changes, and changed argument
defaults, which clients rely on).
"""

from __future__ import annotations

from pathlib import Path

from graphql import (
    DangerousChangeType,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)

from schema.schema import schema

BASE = "schema.graphql"


def sdl() -> str:
    return schema.as_str() + "\n"


def contract_sdl(directory: Path) -> str:
    """The base contract followed by every addition in the folder (sorted, so stable)."""
    base = directory / BASE
    if not base.is_file():
        raise FileNotFoundError(f"no contract at {base}")
    additions = sorted(p for p in directory.glob("*.graphql") if p.name != BASE)
    return "\n".join(p.read_text() for p in [base, *additions])


def incompatibilities(contract: str, served: str) -> list[str]:
    """What the served schema breaks of the contract, one line each (empty: compatible)."""
    before, after = build_schema(contract), build_schema(served)
    changes = find_breaking_changes(before, after)
    changes += [
        change
        for change in find_dangerous_changes(before, after)
        if change.type == DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE
    ]
    return [change.description for change in changes]
