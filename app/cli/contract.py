"""``finora schema``: print the served GraphQL SDL, or check it against the contract copy.

The SDL comes from ``schema/``, which ``app/`` never imports: the module is
loaded by name (``SDL_MODULE``) when this command runs, as Uvicorn loads the app.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from app.cli.common import fail
from app.settings import Settings

SDL_MODULE = "schema.sdl"


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    sdl = importlib.import_module(SDL_MODULE)
    if args.check is None:
        sys.stdout.write(sdl.sdl())
        return 0
    try:
        contract = sdl.contract_sdl(Path(args.check))
    except (FileNotFoundError, OSError) as exc:
        return fail(str(exc))
    breaks = sdl.incompatibilities(contract, sdl.sdl())
    for line in breaks:
        print(f"breaks the contract: {line}")
    if breaks:
        return 1
    print(f"the served schema is compatible with {args.check}")
    return 0
