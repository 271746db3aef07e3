"""Subcommands that hand out or withdraw credentials: businesses, API keys, encryption keys.

Each prints what an operator must keep (a business id, a key shown once, key
lines for the environment), with ``--json`` where a script reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from app.cli.common import fail, with_keys, with_orm
from app.settings import ConfigError, Settings


def cmd_business_create(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import businesses

    try:
        business = asyncio.run(with_keys(settings, lambda _: businesses.create_business(args.name)))
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
    """Re-wrap every data key under the active master key; with --business, give one
    business a new data key and move its values (app.jobs.rotate, app.jobs.rekey)."""
    if args.business:
        return _rekey(settings, [args.business], rotate=True)
    from app.jobs.rotate import rotate

    done = asyncio.run(with_keys(settings, lambda _: rotate()))
    print(f"wrapped {done.rewrapped} data key(s) again under the active master key")
    if done.unreadable:
        return fail(
            f"{len(done.unreadable)} data key(s) do not unwrap with the configured master keys: "
            + ", ".join(done.unreadable[:10])
        )
    if done.legacy_left:
        return fail(
            f"{done.legacy_left} value(s) are still sealed under an old master key directly: "
            "run `finora keys migrate` before removing it"
        )
    print("no data key or value is left under an old master key: old master keys can be removed")
    return 0


def cmd_keys_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Move every business still in the legacy scheme to a data key of its own."""
    from app.jobs.rekey import migrating

    pending = asyncio.run(with_keys(settings, lambda _: migrating()))
    if not pending:
        print("every business has its own data key: nothing to migrate")
        return 0
    return _rekey(settings, pending, rotate=False)


def _rekey(settings: Settings, business_ids: list[str], *, rotate: bool) -> int:
    from app.jobs.rekey import rekey
    from app.models import Business

    async def work(_: str) -> object:
        for business_id in business_ids:
            if not await Business.exists(id=business_id):
                raise ConfigError(f"no business with id {business_id}")
        return await rekey(business_ids, rotate=rotate)

    done = asyncio.run(with_keys(settings, work))
    print(f"moved {done.moved} row(s) of {done.businesses} business(es) to their new key")
    if done.unfinished:
        unreadable = f"; unreadable: {', '.join(done.unreadable[:10])}" if done.unreadable else ""
        return fail(
            f"{len(done.unfinished)} business(es) still hold rows under their old key "
            f"(run it again){unreadable}"
        )
    return 0


def cmd_keys_status(settings: Settings, args: argparse.Namespace) -> int:
    """What is left to migrate or rotate (app.jobs.keystatus)."""
    from app.jobs.keystatus import status

    counts = asyncio.run(with_keys(settings, lambda _: status()))
    if args.json:
        print(json.dumps(counts))
    else:
        for name, value in counts.items():
            print(f"{name}: {value}")
    return 0
