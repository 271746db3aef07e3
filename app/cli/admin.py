"""Subcommands that hand out or withdraw credentials: businesses, API keys, encryption keys.

Each prints what an operator must keep (a business id, a key shown once, key
lines for the environment), with ``--json`` where a script reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from app.cli.common import fail, with_keys, with_orm
from app.settings import Settings


def cmd_business_create(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import businesses

    try:
        business = asyncio.run(with_orm(settings, lambda: businesses.create_business(args.name)))
    except ValueError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps({"id": business.id, "name": business.name}))
    else:
        print(f"created business {business.id} ({business.name})")
    return 0


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import businesses

    try:
        issued = asyncio.run(
            with_orm(settings, lambda: businesses.create_api_key(args.business, args.scope))
        )
    except LookupError:
        return fail(f"no business with id {args.business}")
    if args.json:
        shown = {"key": issued.key, "businessId": issued.business_id, "prefix": issued.prefix}
        print(json.dumps(shown | {"scope": issued.scope.value}))
    else:
        print(
            f"API key ({issued.scope.value}) for {issued.business_id} "
            f"(shown once, store it now):\n{issued.key}"
        )
    return 0


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import businesses

    if not asyncio.run(with_orm(settings, lambda: businesses.revoke_api_key(args.prefix))):
        return fail(f"no live API key with prefix {args.prefix}")
    print(f"revoked {args.prefix}")
    return 0


def cmd_keys_generate(settings: Settings, args: argparse.Namespace) -> int:
    from app.crypto.keys import generate_env_lines

    print("\n".join(generate_env_lines()))
    return 0


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from app.jobs.rotate import rotate

    written, left = asyncio.run(with_keys(settings, lambda _: rotate(restart=args.restart)))
    print(f"re-encrypted {written} customer(s) under the active key")
    if left:
        return fail(f"{left} customer(s) still hold values under an old key; run it again")
    print("no value is left under an old key: old keys can be removed")
    return 0
