"""Benchmark: a Shopify customer export imports at >= 80 % of a plain CSV's rows per second.

    .venv/bin/python bench/imports.py [--rows 100000] [--rounds 3] [--profile]

Why: `finora import` reads a Shopify export through more machinery than a plain
file (20 columns, a quoted note spanning lines, apostrophes before ids and
phones, an address put together from five cells, a company), and stores more of
each customer (address and company, sealed).  A shop moving its customers over
should not wait much longer for that: the target is at least 0.8x the rows per
second of `email,name,phone` for the same people, measured in the same run.

Both files are written before any timing, from the same seeded people
(app.jobs.seed): Nigerian phones as +234... or 0... (Shopify's with its leading
apostrophe), some with company and address, about 5 % with a two-line note.
In a scratch database (on the server of DATABASE_URL, default the local
PostgreSQL; migrated with fresh keys, dropped at the end), with the ORM and keys
set up as `finora import` does (app.cli.common.with_keys), each round imports
the plain file, then the Shopify file, each into a new business, so every row
is created.  The clock runs around `import_file` only (reading, checking,
sealing, writing, the report).  Prints each import's rows per second and the
process's peak RSS after it (flat after the first import: memory does not grow
with rounds), the median of each kind, and the ratio; exits 1 below 0.8x.
`--profile` then runs one more Shopify import under cProfile (top 15 functions
by cumulative and by own time; not timed).  The rows default to
FINORA_BENCH_ROWS when set.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bulk import uptime  # noqa: E402
from bench.list import bounded  # noqa: E402
from bench.servers import command_line, production_env, scratch_database  # noqa: E402

TARGET = 0.8
SEED = 11
SHOPIFY_HEADER = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
    "Default Address Address1,Default Address Address2,Default Address City,"
    "Default Address Province Code,Default Address Country Code,Default Address Zip,"
    "Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,"
    "Tax Exempt,Tags"
)
PROVINCES = {"Lagos": "LA", "Abuja": "FC", "Port Harcourt": "RI", "Ibadan": "OY", "Kano": "KN"}
NOTES = ("Prefers delivery after 5pm\nCall the gate first", "Wholesale buyer\nInvoice monthly")
COLUMNS = f"  {'rows/s':>8}{'seconds':>10}{'warned':>8}{'RSS MiB':>10}"
TAGS = ("", "vip", "wholesale, lagos", "newsletter")


def customers(rows: int) -> Iterator[tuple[list[str], list[str]]]:
    """Each person as (plain CSV row, Shopify export row), one at a time."""
    from app.jobs.seed import people

    rng = random.Random(SEED)
    for n, person in enumerate(people(SEED, 0, rows)):
        first, last = person["name"].split(" ", 1)
        phone = person["phone"] or ""
        if phone and rng.random() < 0.5:
            phone = "0" + phone.removeprefix("+234")  # the national shape
        line1, _, area = (person["address"] or "").partition(", ")
        line2, _, city = area.rpartition(", ")
        located = bool(line1)
        flag = ("yes", "no")
        shopify = [
            f"'{7210448301122 + n}",
            first,
            last,
            person["email"],
            rng.choice(flag),
            person["company_name"] or "",
            line1,
            line2,
            city,
            PROVINCES.get(city, "") if located else "",
            "NG" if located else "",
            f"{rng.randrange(100000, 999999)}" if located else "",
            f"'{phone}" if phone and located and rng.random() < 0.5 else "",
            f"'{phone}" if phone else "",
            rng.choice(flag),
            f"{rng.randrange(0, 50_000_000) / 100:.2f}",
            str(rng.randrange(0, 40)),
            rng.choice(NOTES) if rng.random() < 0.05 else "",
            "no",
            rng.choice(TAGS),
        ]
        yield [person["email"], person["name"], phone], shopify


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    paths = {"plain": folder / "plain.csv", "shopify": folder / "shopify.csv"}
    with paths["plain"].open("w", newline="") as p, paths["shopify"].open("w", newline="") as s:
        plain, shopify = csv.writer(p, lineterminator="\n"), csv.writer(s, lineterminator="\n")
        plain.writerow(["email", "name", "phone"])
        s.write(SHOPIFY_HEADER + "\n")
        for plain_row, shopify_row in customers(rows):
            plain.writerow(plain_row)
            shopify.writerow(shopify_row)
    return paths


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def import_once(kind: str, path: Path, rows: int, reports: Path, number: int) -> float:
    """Import `path` into a new business; its rows per second, every row checked created."""
    from app.jobs.importer import Options, import_file
    from app.services.businesses import create_business

    business = await create_business(f"Bench import {kind} {number}")
    report = reports / f"{kind}-{number}.report.csv"
    started = time.perf_counter()
    summary = await import_file(
        path, business_id=business.id, report=report, options=Options(), show_progress=False
    )
    seconds = time.perf_counter() - started
    if summary.total != rows or summary.counts["created"] != rows:
        raise SystemExit(f"{kind}: {summary.total} records, {summary.counts} (want {rows} created)")
    report.unlink()
    print(
        f"  {kind:<8}{rows / seconds:>10.0f}{seconds:>10.2f}{summary.warned:>8}"
        f"{peak_rss_mib():>10.1f}  {summary.label}",
        flush=True,
    )
    return rows / seconds


async def profiled(path: Path, rows: int, reports: Path) -> None:
    """One more Shopify import under cProfile: the top 15 by cumulative and by own time."""
    import cProfile
    import pstats

    print("one more Shopify import, under cProfile (not counted):")
    profiler = cProfile.Profile()
    profiler.enable()
    await import_once("shopify", path, rows, reports, 0)
    profiler.disable()
    stats = pstats.Stats(profiler)
    print("\nby cumulative time, the app's own functions:")
    stats.sort_stats("cumulative").print_stats(str(ROOT / "app"), 15)
    print("by own time, every function:")
    stats.sort_stats("tottime").print_stats(15)


async def run(args: argparse.Namespace) -> None:
    from app.cli.common import with_keys
    from app.settings import Settings

    print("command:", command_line([sys.executable, *sys.argv]))
    changed = git("status", "--short", "app") or "app/ as committed"
    print("code:", git("rev-parse", "--short", "HEAD"), changed)
    with TemporaryDirectory(prefix="finora-bench-") as scratch:
        folder = Path(scratch)
        paths = write_files(folder, args.rows)
        sizes = ", ".join(f"{k} {p.stat().st_size / 2**20:.1f} MiB" for k, p in paths.items())
        print(f"{args.rows} rows a file ({sizes}); {args.rounds} round(s); {os.cpu_count()} cores")
        print(f"peak RSS after writing the files: {peak_rss_mib():.1f} MiB")
        print("before:", uptime())
        rates: dict[str, list[float]] = {"plain": [], "shopify": []}
        async with scratch_database() as db:
            os.environ.update(await production_env(db))

            async def work(_: str) -> None:
                for number in range(1, args.rounds + 1):
                    print(f"round {number}{COLUMNS}")
                    for kind, path in paths.items():
                        rate = await import_once(kind, path, args.rows, folder, number)
                        rates[kind].append(rate)
                if args.profile:
                    await profiled(paths["shopify"], args.rows, folder)

            await with_keys(Settings.from_env(), work)
        print("after: ", uptime())
    plain, shopify = (statistics.median(rates[k]) for k in ("plain", "shopify"))
    ratio = shopify / plain
    print(f"\nmedian rows/s: plain {plain:.0f}, shopify {shopify:.0f}")
    print(f"shopify / plain: {ratio:.2f}x (target >= {TARGET:.2f}x)")
    if ratio < TARGET:
        raise SystemExit(f"FAIL: the Shopify export imports at {ratio:.2f}x the plain CSV's rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    rows = int(os.environ.get("FINORA_BENCH_ROWS", "100000"))
    parser.add_argument("--rows", type=bounded(1, 10_000_000), default=rows)
    parser.add_argument("--rounds", type=bounded(1, 20), default=3)
    parser.add_argument("--profile", action="store_true", help="then one import under cProfile")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
