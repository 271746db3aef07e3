"""The ``finora`` command.

Configuration problems end the process with one line on stderr and exit
status 2, never a traceback.  The GraphQL layer is loaded by name
(``schema.asgi:create_app``, ``schema.sdl``), as Uvicorn does, so that this
package never imports ``schema/``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.db.orm import close_orm, open_orm
from app.settings import ConfigError, Settings
from app.startup import bootstrap
from app.startup.demo import ensure_demo

ASGI_FACTORY = "schema.asgi:create_app"
SDL_MODULE = "schema.sdl"
HTTP_PROTOCOL = "app.http.protocol:BoundedHttpToolsProtocol"
GRACEFUL_SHUTDOWN_S = 20


def _fail(message: str) -> int:
    print(f"finora: error: {message}", file=sys.stderr)
    return 2


async def _with_orm(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    url = bootstrap.database_url(settings)
    await bootstrap.check_database(url)
    await open_orm(url, pool_max=2)
    try:
        return await work()
    finally:
        await close_orm()


async def _with_keys(
    settings: Settings, work: Callable[[str], Awaitable[Any]], *, index_may_change: bool = False
) -> Any:
    """Run `work(database_url)` with the ORM open and the checked keys installed."""
    from app import crypto
    from app.startup.keycheck import verify_and_record

    keys = bootstrap.load_keys(settings)

    async def checked() -> Any:
        crypto.install(keys)
        await verify_and_record(keys, index_may_change=index_may_change)
        return await work(bootstrap.database_url(settings))

    return await _with_orm(settings, checked)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Schema migrations, then the backfill of new indexes, all under the migration lock."""
    from app.db.migrate import apply_migrations, migration_lock
    from app.jobs.reindex import reindex

    url = bootstrap.database_url(settings)

    async def run() -> None:
        await bootstrap.check_database(url)
        async with migration_lock(url):
            applied = await apply_migrations(url)
            print(
                f"applied {len(applied)} migration(s)"
                + (": " + ", ".join(applied) if applied else "")
            )
            try:
                filled = await _with_keys(settings, lambda _: reindex(only_missing=True))
            except ConfigError as exc:
                print(
                    f"finora: index backfill skipped ({exc}); run `finora reindex`", file=sys.stderr
                )
            else:
                if filled:
                    print(f"indexed {filled} customer(s) for search")

    asyncio.run(run())
    return 0


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    from app.jobs.reindex import reindex

    written = asyncio.run(
        _with_keys(
            settings,
            lambda _: reindex(business_id=args.business, restart=args.restart),
            index_may_change=args.business is None,
        )
    )
    print(f"reindexed {written} customer(s)")
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.orm import raw_connect
    from app.jobs.seed import seed_demo
    from app.models import Business

    async def work(url: str) -> int:
        if not await Business.exists(id=args.business):
            raise ConfigError(f"no business with id {args.business}")
        conn = await raw_connect(url)
        try:
            return await seed_demo(
                conn, business_id=args.business, count=args.count, seed=args.seed
            )
        finally:
            await conn.close()

    inserted = asyncio.run(_with_keys(settings, work))
    print(f"seeded {inserted} customer(s) into {args.business}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from app.jobs.importer import ImportFileError, import_file
    from app.models import Business

    source = Path(args.file)
    report = Path(args.report) if args.report else Path(f"{args.file}.report.csv")
    if not source.is_file():
        return _fail(f"no such file: {source}")

    async def work(_: str) -> Any:
        if not await Business.exists(id=args.business):
            raise ConfigError(f"no business with id {args.business}")
        return await import_file(
            source,
            business_id=args.business,
            report=report,
            batch_size=args.batch_size,
            restart=args.restart,
        )

    try:
        summary = asyncio.run(_with_keys(settings, work))
    except ImportFileError as exc:
        return _fail(str(exc))
    if summary.ignored_columns:
        print(f"ignored column(s): {', '.join(summary.ignored_columns)}")
    if summary.already_done:
        print(f"{source} was already imported ({report}); --restart imports it again")
        return 0
    resumed = f" (resumed after {summary.resumed_after})" if summary.resumed_after else ""
    print(
        f"imported {summary.total} row(s){resumed}: {summary.created} created, "
        f"{summary.found} found, {summary.failed} failed; report: {report}"
    )
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_exposure(settings: Settings, host: str) -> None:
    """Development by default must not mean development on the network.

    Development serves GraphiQL without a key and writes text logs: fine on a
    laptop, not on 0.0.0.0 because someone forgot FINORA_ENV.
    """
    if not settings.env_explicit and not is_loopback(host):
        raise ConfigError(
            f"FINORA_ENV is not set and {host} is not a loopback address: "
            "set FINORA_ENV=production (or FINORA_ENV=development to serve development there)"
        )


def _run_server(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    asyncio.run(bootstrap.start_checks(settings))
    uvicorn.run(
        ASGI_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HTTP_PROTOCOL,  # httptools with size, time and connection bounds
        ws="none",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    _check_exposure(settings, host)
    return _run_server(settings, host, args.port or settings.port, args.workers)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Deliver webhooks until SIGTERM or Ctrl-C (any number may run, on any host)."""
    import signal

    from app.http import logs
    from app.webhooks import worker

    logs.configure(json_lines=settings.is_production)
    config = worker.Config.from_settings(settings, concurrency=args.concurrency)

    async def work(url: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await worker.run(url, config, stop)

    asyncio.run(_with_keys(settings, work))
    return 0


def cmd_events_prune(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.orm import raw_connect
    from app.services import events

    async def work(url: str) -> int:
        conn = await raw_connect(url)
        try:
            return await events.prune(conn, keep_days=settings.events_keep_days)
        finally:
            await conn.close()

    removed = asyncio.run(_with_orm(settings, lambda: work(bootstrap.database_url(settings))))
    print(f"removed {removed} event(s) older than {settings.events_keep_days} days")
    return 0


def _start_dev_worker() -> subprocess.Popen[bytes]:
    """`finora worker` beside the dev server; it also stops if this process dies."""
    env = {**os.environ, "FINORA_WORKER_PARENT": str(os.getpid())}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(GRACEFUL_SHUTDOWN_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    """Development: embedded database, migrations, a demo key, a webhook worker, then serve."""
    if settings.is_production:
        return _fail("`finora dev` is for development; use `finora migrate` and `finora serve`")
    host, port = args.host or settings.host, args.port or settings.port
    _check_exposure(settings, host)
    cmd_migrate(settings, args)
    demo = asyncio.run(_with_orm(settings, lambda: ensure_demo(settings)))
    print(
        f"\nGraphiQL: http://{host}:{port}/graphql\n"
        f"Demo business: {demo['businessId']}\n"
        f'Headers to paste:\n  {{"Authorization": "Bearer {demo["key"]}"}}\n'
        "Webhooks: a worker runs beside the server. Start a receiver\n"
        "  (.venv/bin/python -m tests.receiver 9000 /tmp/hooks.jsonl), register\n"
        "  http://127.0.0.1:9000/hooks with createWebhookEndpoint, change a customer,\n"
        "  and the delivery lands in /tmp/hooks.jsonl within a second (README: webhooks).\n",
        flush=True,
    )
    worker = _start_dev_worker()
    try:
        return _run_server(settings, host, port, 1)
    finally:
        _stop(worker)


def cmd_business_create(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import businesses

    try:
        business = asyncio.run(_with_orm(settings, lambda: businesses.create_business(args.name)))
    except ValueError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"id": business.id, "name": business.name}))
    else:
        print(f"created business {business.id} ({business.name})")
    return 0


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import businesses

    try:
        issued = asyncio.run(
            _with_orm(settings, lambda: businesses.create_api_key(args.business, args.scope))
        )
    except LookupError:
        return _fail(f"no business with id {args.business}")
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

    if not asyncio.run(_with_orm(settings, lambda: businesses.revoke_api_key(args.prefix))):
        return _fail(f"no live API key with prefix {args.prefix}")
    print(f"revoked {args.prefix}")
    return 0


def cmd_keys_generate(settings: Settings, args: argparse.Namespace) -> int:
    from app.crypto.keys import generate_env_lines

    print("\n".join(generate_env_lines()))
    return 0


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from app.jobs.rotate import rotate

    written, left = asyncio.run(_with_keys(settings, lambda _: rotate(restart=args.restart)))
    print(f"re-encrypted {written} customer(s) under the active key")
    if left:
        return _fail(f"{left} customer(s) still hold values under an old key; run it again")
    print("no value is left under an old key: old keys can be removed")
    return 0


def _day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError("a date is YYYY-MM-DD") from None


def cmd_erasures(settings: Settings, args: argparse.Namespace) -> int:
    """Erasures in a date range, for a data-protection officer: ids and dates only."""
    from app.services.customers import erased_between

    end = args.until + timedelta(days=1)  # --to is inclusive
    if end <= args.since:
        return _fail("--to is before --from")
    rows = asyncio.run(_with_orm(settings, lambda: erased_between(args.since, end)))
    for customer_id, business_id, erased_at in rows:
        when = erased_at.astimezone(UTC).isoformat(timespec="seconds")
        if args.json:
            print(
                json.dumps({"customerId": customer_id, "businessId": business_id, "erasedAt": when})
            )
        else:
            print(f"{when}  {business_id}  {customer_id}")
    if not args.json:
        print(f"{len(rows)} erasure(s)", file=sys.stderr)
    return 0


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    sdl = importlib.import_module(SDL_MODULE)
    if args.check is None:
        sys.stdout.write(sdl.sdl())
        return 0
    try:
        contract = sdl.contract_sdl(Path(args.check))
    except (FileNotFoundError, OSError) as exc:
        return _fail(str(exc))
    breaks = sdl.incompatibilities(contract, sdl.sdl())
    for line in breaks:
        print(f"breaks the contract: {line}")
    if breaks:
        return 1
    print(f"the served schema is compatible with {args.check}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finora", description="Finora customer directory")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    for name, run, help_text in (
        ("serve", cmd_serve, "run the API server"),
        ("dev", cmd_dev, "development: embedded database, migrate, demo key, serve"),
    ):
        serve = sub.add_parser(name, help=help_text)
        serve.add_argument("--host")
        serve.add_argument("--port", type=int)
        if name == "serve":
            serve.add_argument("--workers", type=int, default=1)
        serve.set_defaults(run=run)

    business = sub.add_parser("business", help="manage businesses").add_subparsers(
        dest="action", required=True
    )
    create = business.add_parser("create", help="create a business")
    create.add_argument("name")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=cmd_business_create)

    apikey = sub.add_parser("apikey", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    key_create = apikey.add_parser("create", help="create an API key (printed once)")
    key_create.add_argument("--business", required=True)
    key_create.add_argument(
        "--scope",
        choices=["write", "read", "read_masked"],
        default="write",
        help="write (default): everything; read: queries only; read_masked: queries, PII masked",
    )
    key_create.add_argument("--json", action="store_true")
    key_create.set_defaults(run=cmd_apikey_create)
    revoke = apikey.add_parser("revoke", help="revoke an API key by its prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=cmd_apikey_revoke)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(
        dest="action", required=True
    )
    keys.add_parser("generate", help="print fresh key lines").set_defaults(run=cmd_keys_generate)
    rotate = keys.add_parser("rotate", help="re-encrypt every value under the active key")
    rotate.add_argument("--restart", action="store_true", help="ignore a killed run's progress")
    rotate.set_defaults(run=cmd_keys_rotate)

    reindex = sub.add_parser("reindex", help="rebuild blind indexes (after an index key change)")
    reindex.add_argument("--business", help="only this business's customers")
    reindex.add_argument("--restart", action="store_true", help="ignore a killed run's progress")
    reindex.set_defaults(run=cmd_reindex)

    worker = sub.add_parser("worker", help="deliver webhooks (run any number of them)")
    worker.add_argument("--concurrency", type=int, default=4, help="endpoints served at once")
    worker.set_defaults(run=cmd_worker)

    events = sub.add_parser("events", help="change events").add_subparsers(
        dest="action", required=True
    )
    events.add_parser(
        "prune", help="remove events older than FINORA_EVENTS_KEEP_DAYS (the worker does it hourly)"
    ).set_defaults(run=cmd_events_prune)

    seed = sub.add_parser("seed-demo", help="create realistic demo customers")
    seed.add_argument("--business", required=True)
    seed.add_argument("--count", type=int, required=True)
    seed.add_argument("--seed", type=int, default=1, help="the same seed gives the same people")
    seed.set_defaults(run=cmd_seed_demo)

    importer = sub.add_parser(
        "import", help="find or create customers from a CSV or JSON Lines file (resumable)"
    )
    importer.add_argument("--business", required=True)
    importer.add_argument("file", help="CSV with a header row (email, name, phone) or JSON Lines")
    importer.add_argument("--report", help="per-row report (default: FILE.report.csv)")
    importer.add_argument("--batch-size", type=int, default=500, help="rows per batch, 1 to 500")
    importer.add_argument(
        "--restart", action="store_true", help="import a file again from the start"
    )
    importer.set_defaults(run=cmd_import)
    erasures = sub.add_parser(
        "erasures", help="customers erased in a date range (ids and dates only)"
    )
    erasures.add_argument("--from", dest="since", type=_day, required=True, metavar="YYYY-MM-DD")
    erasures.add_argument("--to", dest="until", type=_day, required=True, metavar="YYYY-MM-DD")
    erasures.add_argument("--json", action="store_true", help="one JSON object per line")
    erasures.set_defaults(run=cmd_erasures)

    schema = sub.add_parser("schema", help="print the GraphQL SDL, or check it (--check)")
    schema.add_argument(
        "--check",
        nargs="?",
        const="contract",
        metavar="DIR",
        help="compare with the contract copy in DIR (default: contract) instead of printing",
    )
    schema.set_defaults(run=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.run(settings, args)
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
