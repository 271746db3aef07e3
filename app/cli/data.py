"""Subcommands that work through the stored customers and events, not the server.

Migrations and index backfills, demo data, file imports, a business's export and
offboarding, pruning old events and the erasure report: one-off jobs an operator runs, each
opening the database for itself (``common.with_orm`` / ``common.with_keys``) and
printing one summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from app.cli.common import fail, with_keys, with_orm
from app.settings import ConfigError, Settings
from app.startup import bootstrap


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Schema migrations, then the backfill of new indexes, all under the migration lock."""
    from app.db.migrate import apply_migrations, migration_lock
    from app.jobs.reindex import reindex

    async def run() -> None:
        url = await bootstrap.session_url(settings, "finora migrate")  # the lock's session
        await bootstrap.check_database(url)
        async with migration_lock(url):
            applied = await apply_migrations(url)
            print(
                f"applied {len(applied)} migration(s)"
                + (": " + ", ".join(applied) if applied else "")
            )
            try:
                filled = await with_keys(settings, lambda _: reindex(only_missing=True))
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
        with_keys(
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

    inserted = asyncio.run(with_keys(settings, work))
    print(f"seeded {inserted} customer(s) into {args.business}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from app.jobs.importer import ImportFileError, Options, import_file
    from app.models import Business
    from app.services.imports import Update
    from app.shoppers.columns import MapError, parse_maps

    source = Path(args.file)
    report = Path(args.report) if args.report else Path(f"{args.file}.report.csv")
    if not source.is_file():
        return fail(f"no such file: {source}")
    try:
        maps = parse_maps(args.map)
    except MapError as exc:
        return fail(str(exc))
    options = Options(
        format=args.format,
        encoding=args.encoding,
        maps=maps,
        update=Update(args.update),
        strict=args.strict,
        batch_size=args.batch_size,
        connection=args.connection,
    )

    async def work(_: str) -> Any:
        if not await Business.exists(id=args.business):
            raise ConfigError(f"no business with id {args.business}")
        return await import_file(
            source,
            business_id=args.business,
            report=report,
            options=options,
            restart=args.restart,
            dry_run=args.dry_run,
        )

    try:
        summary = asyncio.run(with_keys(settings, work))
    except (ImportFileError, MapError) as exc:
        return fail(f"{exc}; nothing was imported")
    for line in _import_summary(summary, source, report):
        print(line)
    return 0


def _import_summary(summary: Any, source: Path, report: Path) -> list[str]:
    """What `finora import` prints: the layout, the counts, the warnings; never a value."""
    lines = [f"{source.name}: {summary.label}"]
    lines += summary.notes
    if summary.already_done:
        return [*lines, f"already imported ({report}); --restart imports it again"]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in summary.counts.items())
    resumed = f" (resumed after {summary.resumed_after})" if summary.resumed_after else ""
    verb = "would import" if summary.dry_run else "imported"
    lines.append(f"{verb} {summary.total} record(s){resumed}: {counts}")
    if summary.linked:
        lines.append(f"linked {summary.linked} shop customer id(s) on the connection")
    if summary.warned:
        lines.append(
            f"warning: {summary.warned} record(s) kept with a value left out or defaulted "
            "(field:CODE in the report)"
        )
    if summary.defaulted_names:
        lines.append(
            f"warning: {summary.defaulted_names} name(s) defaulted from the email "
            "(the file gave none)"
        )
    if summary.unused:
        lines.append(f"not imported (no field reads them): {', '.join(summary.unused)}")
    if summary.dry_run:
        lines += [
            f"line {n}: {outcome} {problems}" for n, outcome, problems in summary.first_problems
        ]
        lines.append("dry run: nothing was written")
    else:
        if summary.kept_report is not None:
            lines.append(f"the earlier report is kept as {summary.kept_report}")
        lines.append(f"report: {report}")
    return lines


def cmd_business_export(settings: Settings, args: argparse.Namespace) -> int:
    """Every customer of a business into a private JSON Lines file (app.jobs.export)."""
    from app.jobs.export import ExportError, export_business

    out = Path(args.out)
    try:
        summary = asyncio.run(
            with_keys(
                settings,
                lambda _: export_business(
                    args.business_id, out, force=args.force, restart=args.restart
                ),
            )
        )
    except ExportError as exc:
        return fail(str(exc))
    resumed = f" (resumed after {summary.resumed_after})" if summary.resumed_after else ""
    print(f"exported {summary.written} customer(s) of {args.business_id} to {out}{resumed}")
    if summary.unreadable:
        return fail(
            f"{len(summary.unreadable)} customer(s) left out: a value does not open "
            "(their ids are logged above); the export is not complete"
        )
    return 0


def cmd_business_offboard(settings: Settings, args: argparse.Namespace) -> int:
    """Crypto-shred a business (app.jobs.offboard); with --purge, delete its rows too."""
    from app.http import logs
    from app.jobs.offboard import OffboardError, offboard

    business_id = args.business_id
    if args.confirm != business_id:
        return fail(f"--confirm {args.confirm} does not match {business_id}: nothing was done")
    # The job's "business offboarded" line is the record of an irreversible act: on stderr.
    logs.configure(json_lines=settings.is_production)
    try:
        summary = asyncio.run(
            with_keys(
                settings,
                lambda _: offboard(business_id, purge=args.purge, show_progress=True),
            )
        )
    except OffboardError as exc:
        return fail(str(exc))
    when = summary.offboarded_at.astimezone(UTC).isoformat(timespec="seconds")
    if summary.already:
        print(f"business {business_id} was already offboarded at {when}: nothing more to destroy")
    else:
        print(
            f"offboarded business {business_id} at {when}, irreversibly: destroyed "
            f"{summary.data_keys} data key(s), so every copy of its values, indexes and "
            f"secrets is unreadable; revoked {summary.api_keys} API key(s); stopped "
            f"{summary.webhook_endpoints} webhook endpoint(s) ({summary.pending_deliveries} "
            f"pending delivery(ies) will not be sent) and {summary.shop_connections} shop "
            "connection(s)"
        )
    if args.purge:
        deleted = ", ".join(f"{n} {table}" for table, n in summary.purged.items() if n)
        print(f"purged: {deleted or 'no rows left'}; the business row stays as the tombstone")
    else:
        print(
            "its rows are still stored, unreadable but for what is kept in clear (names, "
            "company names, balances, webhook URLs, shop domains and shop customer ids): "
            f"`finora business offboard {business_id} --confirm {business_id} --purge` "
            "deletes them"
        )
    return 0


def cmd_events_prune(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.orm import raw_connect
    from app.services import events, shop_sync

    async def work(url: str) -> int:
        conn = await raw_connect(url)
        try:
            removed = await events.prune(conn, keep_days=settings.events_keep_days)
            await shop_sync.prune(conn)  # shops' delivery memory and old problems too
            return removed
        finally:
            await conn.close()

    removed = asyncio.run(with_orm(settings, lambda: work(bootstrap.database_url(settings))))
    print(f"removed {removed} event(s) older than {settings.events_keep_days} days")
    return 0


def cmd_erasures(settings: Settings, args: argparse.Namespace) -> int:
    """Erasures in a date range, for a data-protection officer: ids and dates only."""
    from app.services.customers import erased_between

    end = args.until + timedelta(days=1)  # --to is inclusive
    if end <= args.since:
        return fail("--to is before --from")
    rows = asyncio.run(with_orm(settings, lambda: erased_between(args.since, end)))
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
