"""Benchmark: searchCustomers over encrypted emails against two baselines.

    .venv/bin/python bench/search.py [--sizes 10000,100000] [--queries 40] [--repeat 5]

In a scratch database (created on the server of DATABASE_URL, default the local
PostgreSQL, and dropped at the end) it seeds one business per size through the
real encryption code, then times the same query mix three ways, in one process:

  service   app.services.search (keyed trigram index, confirm by decrypting)
  trgm      a plaintext copy of the same rows with pg_trgm GIN indexes, ILIKE
  decrypt   read every active customer of the business, decrypt, filter

Queries are sampled from the whole data set (not the first names in order).
It prints median and p95 per query kind and size, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from app import crypto
from app.crypto.keys import KeySet, generate_env_lines
from app.db.migrate import migrate
from app.db.orm import close_orm, open_orm, with_database
from app.jobs.seed import seed_demo
from app.models import Customer
from app.services import businesses
from app.services.search import MAX_RESULTS, matching_ids, normalise_query
from app.settings import parse_database_url

DOMAIN_FRAGMENTS = ["gmail", "yahoo", "outlook", "hotmail", "zenithbank", "mtn.ng", "icloud"]
_EMAIL = Customer._meta.fields_map["email"]


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**parse_database_url(url))  # type: ignore[arg-type]


async def build_plain_copy(conn: asyncpg.Connection, business_id: str) -> None:
    """The baseline: the same rows in plaintext, indexed with pg_trgm."""
    rows = await conn.fetch(
        "SELECT id, name, name_lower, email, is_active FROM customer WHERE business_id = $1",
        business_id,
    )
    plain = [
        (
            r["id"],
            business_id,
            r["name"],
            r["name_lower"],
            _EMAIL.open_for(r["id"], r["email"]),
            r["is_active"],
        )
        for r in rows
    ]
    await conn.copy_records_to_table(
        "plain_customer",
        records=plain,
        columns=("id", "business_id", "name", "name_lower", "email", "is_active"),
    )
    await conn.execute("ANALYZE plain_customer")


_TRGM_OR = (
    "SELECT id FROM plain_customer WHERE business_id = $1 AND is_active "
    "AND (name ILIKE $2 OR email ILIKE $2) ORDER BY name_lower, id LIMIT $3"
)
_TRGM_UNION = (
    "SELECT id FROM ("
    " SELECT id, name_lower FROM plain_customer WHERE business_id = $1 AND is_active"
    " AND name ILIKE $2 UNION"
    " SELECT id, name_lower FROM plain_customer WHERE business_id = $1 AND is_active"
    " AND email ILIKE $2) m ORDER BY name_lower, id LIMIT $3"
)


async def trgm_search(conn: asyncpg.Connection, business_id: str, needle: str) -> list[str]:
    """The plaintext baseline, written the way the planner likes best for this query.

    One OR query walks the name index (fast when matches are common); a UNION of
    two pg_trgm GIN lookups is fast when they are rare.  Both are run once and
    the faster form is kept, so the baseline is as strong as the table allows.
    """
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    key = (business_id, needle)
    sql = _BEST_FORM.get(key)
    if sql is None:
        timings = []
        for form in (_TRGM_OR, _TRGM_UNION):
            started = time.perf_counter()
            await conn.fetch(form, business_id, pattern, MAX_RESULTS)
            timings.append((time.perf_counter() - started, form))
        sql = _BEST_FORM[key] = min(timings)[1]
    rows = await conn.fetch(sql, business_id, pattern, MAX_RESULTS)
    return [r["id"] for r in rows]


_BEST_FORM: dict[tuple[str, str], str] = {}


async def decrypt_and_filter(business_id: str, needle: str) -> list[str]:
    rows = await Customer.filter(business_id=business_id, is_active=True).values_list(
        "id", "name_lower", "email"
    )
    hits = sorted(
        (name_lower, row_id)
        for row_id, name_lower, sealed in rows
        if needle in name_lower or needle in _EMAIL.open_for(row_id, sealed)
    )
    return [row_id for _, row_id in hits[:MAX_RESULTS]]


async def sample_queries(
    business_id: str, per_kind: int, rng: random.Random
) -> dict[str, list[str]]:
    rows = await Customer.filter(business_id=business_id, is_active=True).values_list(
        "id", "name", "email"
    )
    picks = [rng.choice(rows) for _ in range(per_kind * 3)]
    people = [(name, _EMAIL.open_for(row_id, sealed)) for row_id, name, sealed in picks]

    def fragment(text: str, low: int, high: int) -> str:
        size = rng.randint(low, min(high, len(text)))
        start = rng.randrange(len(text) - size + 1)
        return text[start : start + size]

    return {
        "full email": [email for _, email in people[:per_kind]],
        "domain": [rng.choice(DOMAIN_FRAGMENTS) for _ in range(per_kind)],
        "name fragment": [fragment(name, 3, 7) for name, _ in people[per_kind : 2 * per_kind]],
        "2 characters": [fragment(rng.choice(p), 2, 2) for p in people[2 * per_kind :]],
        "no match": [f"q{rng.randrange(10**6)}zx" for _ in range(per_kind)],
    }


async def timed(call: Callable[[], Awaitable[list[str]]], repeat: int) -> tuple[float, list[str]]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, result


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"finora_bench_{uuid.uuid4().hex[:8]}"
    admin = await connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(server, name)
    lines = dict(line.split("=", 1) for line in generate_env_lines())
    crypto.install(KeySet.parse(lines["FINORA_ENCRYPTION_KEYS"], lines["FINORA_INDEX_KEY"]))
    try:
        await migrate(url)
        await open_orm(url)
        conn = await connect(url)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        await conn.execute(
            'CREATE TABLE plain_customer (id text COLLATE "C" PRIMARY KEY, business_id text, '
            'name text, name_lower text COLLATE "C", email text, is_active boolean)'
        )
        await conn.execute(
            "CREATE INDEX ON plain_customer USING gin (name gin_trgm_ops) WHERE is_active;"
            "CREATE INDEX ON plain_customer USING gin (email gin_trgm_ops) WHERE is_active;"
            "CREATE INDEX ON plain_customer (business_id, name_lower, id) WHERE is_active;"
        )
        rng = random.Random(args.seed)
        print(
            f"PostgreSQL: {await conn.fetchval('SHOW server_version')}; "
            f"repeat {args.repeat}, {args.queries} queries per kind\n"
        )
        header = (
            f"{'size':>7} {'query kind':<14} {'service':>15} {'trgm':>15} "
            f"{'decrypt':>17} {'svc/trgm':>9} {'decrypt/svc':>11}"
        )
        print(header + "\n" + " " * 23 + "median / p95 ms")
        print("-" * len(header))
        summary = []
        for size in args.sizes:
            business = await businesses.create_business(f"Bench {size}")
            await seed_demo(conn, business_id=business.id, count=size, seed=size)
            await build_plain_copy(conn, business.id)
            kinds = await sample_queries(business.id, args.queries, rng)
            long_service, long_trgm, long_decrypt = [], [], []
            for kind, texts in kinds.items():
                service_ms, trgm_ms, decrypt_ms = [], [], []
                for text in texts:
                    needle = normalise_query(text)
                    s, got = await timed(
                        lambda n=needle, b=business.id: matching_ids(b, n), args.repeat
                    )
                    t, base = await timed(
                        lambda n=needle, b=business.id: trgm_search(conn, b, n), args.repeat
                    )
                    d, oracle = await timed(
                        lambda n=needle, b=business.id: decrypt_and_filter(b, n),
                        max(1, args.repeat // 2),
                    )
                    if not (got == base == oracle):
                        raise SystemExit(f"results differ for a {kind} query")
                    service_ms.append(s), trgm_ms.append(t), decrypt_ms.append(d)
                    if len(needle) >= 3:
                        long_service.append(s), long_trgm.append(t), long_decrypt.append(d)
                sm, tm, dm = (statistics.median(v) for v in (service_ms, trgm_ms, decrypt_ms))
                print(
                    f"{size:>7} {kind:<14} {sm:>6.2f} / {p95(service_ms):>6.2f} "
                    f"{tm:>6.2f} / {p95(trgm_ms):>6.2f} {dm:>7.1f} / {p95(decrypt_ms):>7.1f} "
                    f"{sm / tm:>8.2f}x {dm / sm:>10.0f}x"
                )
            sm, tm, dm = (statistics.median(v) for v in (long_service, long_trgm, long_decrypt))
            summary.append((size, sm, tm, dm))
        print("\nAll queries of 3+ characters, median ms:")
        for size, sm, tm, dm in summary:
            print(
                f"{size:>7}: service {sm:.2f}, trgm {tm:.2f}, decrypt-and-filter {dm:.1f}; "
                f"service/trgm {sm / tm:.2f}x, decrypt-and-filter/service {dm / sm:.0f}x"
            )
        await conn.close()
    finally:
        await close_orm()
        admin = await connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=40, help="queries per kind")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
