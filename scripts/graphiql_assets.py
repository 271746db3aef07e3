"""Fetch GraphiQL's browser files from the npm registry into schema/graphiql/vendor.

GraphiQL must work with no internet (and under a Content-Security-Policy of the
service's own origin), so its files live in the repository.  This script is how
they get there, and the only way they change:

    python scripts/graphiql_assets.py          # fetch the pinned versions, verify, write
    python scripts/graphiql_assets.py --check  # offline: the files on disk match the manifest

Each package's tarball is checked against npm's ``dist.integrity`` (SHA-512)
before anything is extracted, and against the integrity recorded in the
manifest when the same version was fetched before: a registry that now serves
different bytes for a published version is refused, not followed.  The
manifest records, for every extracted file, its SHA-384 in the form of a
Subresource Integrity value; the page sends those values to the browser and a
test checks that the served bytes match them.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import urllib.parse
import urllib.request
from typing import Any

from schema.ide import MANIFEST, STATIC, sri, vendor_files

VENDOR = STATIC / "vendor"
REGISTRY = "https://registry.npmjs.org"
TIMEOUT_S = 60

# The versions Strawberry's own GraphiQL page pins (strawberry/static/graphiql.html);
# the file inside the tarball, and its name under static/vendor/, in load order.
PACKAGES: list[tuple[str, str, dict[str, str]]] = [
    ("react", "18.2.0", {"package/umd/react.production.min.js": "react.production.min.js"}),
    (
        "react-dom",
        "18.2.0",
        {"package/umd/react-dom.production.min.js": "react-dom.production.min.js"},
    ),
    (
        "graphiql",
        "3.8.3",
        {
            "package/graphiql.min.js": "graphiql.min.js",
            "package/graphiql.min.css": "graphiql.min.css",
        },
    ),
    (
        "@graphiql/plugin-explorer",
        "1.0.2",
        {
            "package/dist/index.umd.js": "plugin-explorer.umd.js",
            "package/dist/style.css": "plugin-explorer.css",
        },
    ),
]


class AssetError(Exception):
    """A download or a file that does not match its recorded hash."""


def _get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return response.read()


def _previous() -> dict[str, dict[str, Any]]:
    if not MANIFEST.exists():
        return {}
    return {f"{p['name']}@{p['version']}": p for p in json.loads(MANIFEST.read_text())["packages"]}


def fetch_package(
    name: str, version: str, files: dict[str, str], known: str | None
) -> tuple[dict, dict[str, bytes]]:
    """Download one tarball and verify it; its manifest record and the named files' bytes."""
    meta = json.loads(_get(f"{REGISTRY}/{urllib.parse.quote(name, safe='@')}/{version}"))
    integrity, tarball_url = meta["dist"]["integrity"], meta["dist"]["tarball"]
    if known and known != integrity:
        raise AssetError(f"{name}@{version}: the registry's integrity changed since the manifest")
    algorithm = integrity.split("-", 1)[0]
    tarball = _get(tarball_url)
    if sri(tarball, algorithm) != integrity:
        raise AssetError(f"{name}@{version}: the tarball does not match dist.integrity")
    entries, contents = [], {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member, target in files.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise AssetError(f"{name}@{version}: {member} is not a file")
            contents[target] = data = extracted.read()
            entries.append({"from": member, "file": f"vendor/{target}", "integrity": sri(data)})
    record = {
        "name": name,
        "version": version,
        "tarball": tarball_url,
        "integrity": integrity,
        "files": entries,
    }
    return record, contents


def refresh() -> None:
    """Every package fetched and verified first; only then is anything written."""
    previous = _previous()
    packages, contents = [], {}
    for name, version, files in PACKAGES:
        known = previous.get(f"{name}@{version}", {}).get("integrity")
        record, data = fetch_package(name, version, files, known)
        packages.append(record)
        contents.update(data)
        print(f"{name}@{version}: {record['integrity'][:30]}... ok")
    VENDOR.mkdir(parents=True, exist_ok=True)
    for stale in VENDOR.iterdir():
        if stale.name not in contents:
            stale.unlink()
    for target, data in contents.items():
        (VENDOR / target).write_bytes(data)
    MANIFEST.write_text(json.dumps({"packages": packages}, indent=2) + "\n")
    print(f"wrote {MANIFEST}")


def check() -> list[str]:
    """What on disk differs from the manifest (empty: all good); needs no network."""
    problems = []
    for entry in vendor_files():
        path = STATIC / entry["file"]
        if not path.is_file():
            problems.append(f"{entry['file']}: missing")
        elif sri(path.read_bytes()) != entry["integrity"]:
            problems.append(f"{entry['file']}: does not match the manifest")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only, offline")
    args = parser.parse_args()
    try:
        if not args.check:
            refresh()
        problems = check()
    except (AssetError, OSError, KeyError, tarfile.TarError) as exc:
        print(f"graphiql-assets: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"graphiql-assets: {problem}", file=sys.stderr)
    if not problems:
        print("graphiql-assets: every file matches the manifest")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
