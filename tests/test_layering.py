"""The data path runs one way: `schema/` (GraphQL) imports `app/`, never the reverse.

`app/` is the service without its GraphQL layer (HTTP guards, rules, storage,
crypto, jobs); the command line loads the GraphQL app by name, as Uvicorn does.
An import of `schema` from `app/` would tie the rules to one API and make a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_app_never_imports_schema():
    offenders = {
        str(path.relative_to(APP.parent)): sorted(
            m for m in imported_modules(path) if m == "schema" or m.startswith("schema.")
        )
        for path in APP.rglob("*.py")
    }
    assert {p: m for p, m in offenders.items() if m} == {}
    assert len(offenders) > 50  # the walk did see the package


def test_the_check_sees_an_import_of_schema(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom schema.limits import MAX_LIST_COST\nimport schema\n")
    assert {"schema.limits", "schema"} <= imported_modules(sample)


def test_app_opens_transactions_only_through_app_db_transaction():
    """Reads outside app.db.transaction go to the pool: a transaction opened another
    way would not see its own writes through app.db.reads."""
    allowed = APP / "db" / "transaction.py"
    offenders = sorted(
        str(path.relative_to(APP.parent))
        for path in APP.rglob("*.py")
        if path != allowed and "tortoise.transactions" in imported_modules(path)
    )
    assert offenders == []
    assert "tortoise.transactions" in imported_modules(allowed)  # the check sees the import
