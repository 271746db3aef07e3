"""The ``finora`` command line: every subcommand, its options and help texts, and ``main``.

One table, so ``finora --help`` and the code agree on what exists; the
subcommands themselves live in the modules named for what they do.  A
``ConfigError`` anywhere below ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from app.cli.admin import (
    cmd_apikey_create,
    cmd_apikey_revoke,
    cmd_business_create,
    cmd_keys_generate,
    cmd_keys_migrate,
    cmd_keys_rotate,
    cmd_keys_status,
)
from app.cli.common import fail
from app.cli.contract import cmd_schema
from app.cli.data import (
    cmd_business_export,
    cmd_business_offboard,
    cmd_erasures,
    cmd_events_prune,
    cmd_import,
    cmd_migrate,
    cmd_reindex,
    cmd_seed_demo,
)
from app.cli.server import cmd_dev, cmd_serve, cmd_worker
from app.settings import ConfigError, Settings


def _day(text: str) -> datetime:
    """An argparse type, so a malformed date is a usage error (the usage line, status 2)."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError("a date is YYYY-MM-DD") from None


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
        else:
            serve.add_argument(
                "--no-demo-data",
                action="store_true",
                help="do not seed the demo business's customers on its first run",
            )
            serve.add_argument(
                "--print-env",
                action="store_true",
                help="print the demo's key and business id as shell export lines, and exit",
            )
        serve.set_defaults(run=run)

    business = sub.add_parser("business", help="manage businesses").add_subparsers(
        dest="action", required=True
    )
    create = business.add_parser("create", help="create a business")
    create.add_argument("name")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=cmd_business_create)
    export = business.add_parser(
        "export",
        help="every customer (active, deleted, erased), decrypted, as JSON Lines (resumable)",
    )
    export.add_argument("business_id", metavar="ID")
    export.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="created with mode 0600; written to FILE.partial, renamed when complete",
    )
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.add_argument("--restart", action="store_true", help="ignore a killed run's FILE.partial")
    export.set_defaults(run=cmd_business_export)
    offboard = business.add_parser(
        "offboard",
        help="destroy the business's data key (crypto-shredding): irreversible",
        description="Destroy the business's data key, so that every copy of its values, "
        "indexes and secrets is unreadable; revoke its API keys; stop its webhooks and "
        "shop connections. Irreversible: export its customers first (business export).",
    )
    offboard.add_argument("business_id", metavar="ID")
    offboard.add_argument(
        "--confirm",
        required=True,
        metavar="ID",
        help="the business id again: nothing is done unless it matches",
    )
    offboard.add_argument(
        "--purge",
        action="store_true",
        help="then delete its rows in batches (resumable; the business row stays as a tombstone)",
    )
    offboard.set_defaults(run=cmd_business_offboard)

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
    rotate = keys.add_parser(
        "rotate",
        help="wrap every data key under the active master key (no customer row is rewritten)",
    )
    rotate.add_argument(
        "--business",
        metavar="ID",
        help="instead: give this business a new data key and move its values to it",
    )
    rotate.set_defaults(run=cmd_keys_rotate)
    keys.add_parser(
        "migrate", help="move values under a master key directly to per-business data keys"
    ).set_defaults(run=cmd_keys_migrate)
    status = keys.add_parser("status", help="count what is left to migrate or rotate")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_keys_status)

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
        "import",
        help="customers from a Shopify or WooCommerce export, a CSV or JSON file (resumable)",
    )
    importer.add_argument("--business", required=True)
    importer.add_argument(
        "file",
        help="Shopify's customer CSV, WooCommerce's REST JSON (array or lines) or Analytics "
        "CSV, or any CSV with a header row (Email, Name, Phone, ...)",
    )
    importer.add_argument(
        "--format",
        choices=("auto", "shopify", "woocommerce", "csv", "jsonl"),
        default="auto",
        help="the layout (default: recognised from the header or the JSON keys)",
    )
    importer.add_argument("--encoding", help="the file's encoding (default: UTF-8, else cp1252)")
    importer.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="read a column as a field, e.g. 'Mobile No=phone' ('Notes=' leaves one out)",
    )
    importer.add_argument(
        "--update",
        choices=("find", "fill", "overwrite"),
        default="find",
        help="existing customers: leave them (find), fill their empty fields, or overwrite "
        "them with the file's non-empty values",
    )
    importer.add_argument(
        "--strict", action="store_true", help="reject a row with any invalid value"
    )
    importer.add_argument(
        "--connection",
        metavar="SHOP_CONNECTION_ID",
        help="link each row's shop customer id (Shopify's Customer ID, the objects' id) "
        "on this shop connection, so the shop's webhooks update the same customers",
    )
    importer.add_argument(
        "--dry-run", action="store_true", help="check and count only; write nothing"
    )
    importer.add_argument("--report", help="per-record report (default: FILE.report.csv)")
    importer.add_argument("--batch-size", type=int, default=500, help="rows per batch, 1 to 500")
    importer.add_argument(
        "--restart",
        action="store_true",
        help="import a file again from the start (the earlier report is kept)",
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
    """Settings are read after parsing, so ``--help`` works without any configuration."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.run(settings, args)
    except ConfigError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
