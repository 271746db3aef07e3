"""Benchmark: the worst case of every search kind and of totalCount, over HTTP.

    .venv/bin/python bench/bounded.py [--customers 100000] [--repeat 5]
    .venv/bin/python bench/bounded.py --database-url URL --business ID --key KEY

By default, in a scratch database (on the server of DATABASE_URL, default the
local PostgreSQL, dropped at the end), it runs the real CLI as an operator
would: `finora migrate`, `business create`, `apikey create`, `seed-demo
--count N`.  With --database-url, --business and --key it uses that database
(already seeded, FINORA_ENCRYPTION_KEYS and FINORA_INDEX_KEY in the
environment) instead.  Either way it starts `finora serve` in production mode,
one worker, and sends every request over HTTP, one at a time.

The yardstick is `customers(limit: 50) { id name email }` on the same server
in the same run: one of those is sent after every timed request, and their
median is the unit.  Each kind prints the median, p99 and max of its requests
(every query of the kind, `--repeat` times) and those as ratios to the unit, and
its worst query: the one whose median over its repeats is highest (a load spike
on a shared machine moves one sample, not a median of five).
The targets (DESIGN.md): every search within 10x, the median of all searches
within 2x, customerConnection with totalCount within 3x at any depth.

With `--full-pending`, before anything is timed, single-row inserts fill the
pending list of each GIN index that has one (fastupdate) to its limit, the worst
state a search can meet (an index whose list is full is switched to direct
inserts meanwhile, so the other fills too; needs the pgstattuple extension).

Queries are chosen from the data itself (the driver decrypts the business
once): the most and least frequent characters and pairs, pairs and characters
that do not occur, prefixes typed one key at a time, fragments and 100-character
queries.  Every search answer is checked against decrypt-and-filter before
anything is printed; a difference stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.keys import business_keys  # noqa: E402
from bench.servers import (  # noqa: E402
    BIN,
    UNREACHABLE_RATE,
    Server,
    finora,
    free_port,
    production_env,
    scratch_database,
)

HOST = "127.0.0.1"
FIELDS = "id name email"
LIST = f"query($b: ID!) {{ customers(businessId: $b, limit: 50) {{ {FIELDS} }} }}"
SEARCH = f"query($b: ID!, $q: String!) {{ searchCustomers(businessId: $b, q: $q) {{ count customers {{ {FIELDS} }} }} }}"  # noqa: E501
PAGE = (
    "query($b: ID!, $after: String) { customerConnection(businessId: $b, first: 50, after: $after)"
    f" {{ totalCount edges {{ cursor node {{ {FIELDS} }} }}"
    " pageInfo { hasNextPage endCursor } } }"
)
NON_ASCII = ["é", "ß", "ñ", "ọ", "ı", "€", "中", "🙂"]  # noqa: RUF001 - on purpose
ABSENT_PAIRS = ["qx", "zq", "xj", "9z", "@@", "~~", "é@", "q7"]
COMMON_FRAGMENTS = ["gmail", "yahoo", ".com", "ade", "oluwa", "chukwu", "hotmail", "bank"]
NO_MATCH = ["zqx", "q7~", "xyzzy", "gmail.comx", "@@@", "oluwaseunzz", "éèê"]


class Kind:
    def __init__(self, title: str, queries: list[str]) -> None:
        self.title, self.queries = title, list(dict.fromkeys(queries))
        self.by_query: dict[str, list[float]] = {q: [] for q in self.queries}

    @property
    def samples(self) -> list[float]:
        return [x for times in self.by_query.values() for x in times]

    def worst_query(self) -> tuple[str, float]:
        """The query whose median over its repeats is highest: its cost, not a load spike."""
        q = max(self.by_query, key=lambda q: statistics.median(self.by_query[q]))
        return q, statistics.median(self.by_query[q])


def documents(rows: list[tuple[str, str]], size: int) -> Counter[str]:
    """How many customers hold each gram of this size, in name or email."""
    counts: Counter[str] = Counter()
    for name, email in rows:
        found = set()
        for text in (name, email):
            found.update(text[i : i + size] for i in range(len(text) - size + 1))
        counts.update(found)
    return counts


def choose(rows: list[tuple[str, str]], rng: random.Random) -> list[Kind]:
    """Every kind of query, picked from the data."""
    singles, pairs = documents(rows, 1), documents(rows, 2)
    letters = [c for c, _ in singles.most_common() if c.isalnum()]
    by_rarity = sorted(pairs, key=lambda p: (pairs[p], p))
    picked = [rng.choice(rows) for _ in range(12)]
    typed = ["z", "za", "zai", "zain"]
    for _, email in picked[:3]:
        typed += [email[:n] for n in range(1, 9)]
    rare_fragments = [email.split("@")[0][-6:] for _, email in picked[3:9]]
    pad = "".join(email for _, email in picked)
    return [
        Kind("1 char common", letters[:4]),
        Kind("1 char rare", [c for c, n in singles.most_common()[::-1] if n][:4]),
        Kind("1 char non-ASCII", NON_ASCII),
        Kind("1 char no match", [c for c in "~#!^`|q" if c not in singles][:4]),
        Kind("2 chars common", [p for p, _ in pairs.most_common(4)]),
        Kind("2 chars rare", by_rarity[:4] + [p for p in by_rarity if pairs[p] >= 20][:2]),
        Kind("2 chars no match", [p for p in ABSENT_PAIRS if p not in pairs]),
        Kind("typing prefixes", typed),
        Kind("3+ common fragment", COMMON_FRAGMENTS),
        Kind("3+ rare", rare_fragments),
        Kind("3+ no match", NO_MATCH),
        Kind("100 chars", ["a" * 100, pad[:100], ("gmail.com" * 12)[:100], "é" * 100]),
    ]


def oracle(rows: list[tuple[str, str, str]], q: str) -> list[str]:
    """Decrypt-and-filter (the rows are decrypted once, already sorted in list order)."""
    needle = q.strip().lower()
    return [row_id for row_id, name, email in rows if needle in name or needle in email][:50]


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> tuple[float, Any]:
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, body["data"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def measure(
    client: httpx.AsyncClient,
    business_id: str,
    kinds: list[Kind],
    plain: list[tuple[str, str, str]],
    cursors: dict[str, str | None],
    repeat: int,
) -> tuple[list[float], list[Kind]]:
    baseline: list[float] = []
    pages = [Kind(f"connection+totalCount {depth}", [depth]) for depth in cursors]
    for _ in range(3):  # warm up the server, its pool and the cache
        await post(client, LIST, {"b": business_id})
    for kind in kinds:  # correctness first, untimed
        for q in kind.queries:
            _, data = await post(client, SEARCH, {"b": business_id, "q": q})
            got = [c["id"] for c in data["searchCustomers"]["customers"]]
            if got != oracle(plain, q):
                raise SystemExit(f"{kind.title}: {q!r} differs from decrypt-and-filter")
    for _ in range(repeat):
        for kind in kinds:
            for q in kind.queries:
                elapsed, _ = await post(client, SEARCH, {"b": business_id, "q": q})
                kind.by_query[q].append(elapsed)
                baseline.append((await post(client, LIST, {"b": business_id}))[0])
        for page in pages:
            after = cursors[page.queries[0]]
            elapsed, data = await post(client, PAGE, {"b": business_id, "after": after})
            if data["customerConnection"]["totalCount"] != len(plain):
                raise SystemExit("totalCount differs from the number of active customers")
            page.by_query[page.queries[0]].append(elapsed)
            baseline.append((await post(client, LIST, {"b": business_id}))[0])
    return baseline, pages


def report(baseline: list[float], kinds: list[Kind]) -> None:
    unit = statistics.median(baseline)
    print(
        f"customers(limit: 50) {{ {FIELDS} }}: median {unit:.2f} ms, p99 "
        f"{percentile(baseline, 0.99):.2f} ms over {len(baseline)} requests (the unit)\n"
    )
    header = (
        f"{'kind':<32}{'n':>5}{'median':>8}{'p99':>8}{'max':>8}{'p99/u':>7}{'max/u':>7}"
        f"{'worst q/u':>10}  worst query"
    )
    print(header + "\n" + "-" * (len(header) + 12))
    for kind in kinds:
        s = kind.samples
        worst, cost = kind.worst_query()
        print(
            f"{kind.title:<32}{len(s):>5}{statistics.median(s):>8.2f}{percentile(s, 0.99):>8.2f}"
            f"{max(s):>8.2f}{percentile(s, 0.99) / unit:>6.1f}x{max(s) / unit:>6.1f}x"
            f"{cost / unit:>9.1f}x  {worst[:20]!r}"
        )
    searches = [
        x for kind in kinds if not kind.title.startswith("connection") for x in kind.samples
    ]
    worst = max(
        statistics.median(t)
        for k in kinds
        if not k.title.startswith("connection")
        for t in k.by_query.values()
    )
    print(
        f"\nall searches: median {statistics.median(searches):.2f} ms = "
        f"{statistics.median(searches) / unit:.2f}x the unit (target 2x); slowest "
        f"{max(searches):.2f} ms = {max(searches) / unit:.1f}x (target 10x); worst query "
        f"(median of its repeats) {worst:.2f} ms = {worst / unit:.1f}x"
    )
    pages = [x for kind in kinds if kind.title.startswith("connection") for x in kind.samples]
    print(f"connection with totalCount: slowest {max(pages) / unit:.1f}x the unit (target 3x)")


async def read_plain(url: str, business_id: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The business decrypted, in list order; and cursors for deep pages."""
    import asyncpg

    from app import crypto
    from app.crypto.keys import KeySet
    from app.models import Customer
    from app.services.cursor import encode
    from app.settings import parse_database_url

    crypto.install(
        KeySet.parse(os.environ["FINORA_ENCRYPTION_KEYS"], os.environ["FINORA_INDEX_KEY"])
    )
    field = Customer._meta.fields_map["email"]
    conn = await asyncpg.connect(**parse_database_url(url))  # type: ignore[arg-type]
    try:
        await business_keys(conn, business_id)  # its data key, so its values open
        rows = await conn.fetch(
            "SELECT id, name_lower, email FROM customer WHERE business_id = $1 AND is_active "
            "ORDER BY name_lower, id",
            business_id,
        )
    finally:
        await conn.close()
    plain = [(r[0], r[1], field.open_for(r[0], r[2]).lower()) for r in rows]
    cursors = [encode(name, row_id) for row_id, name, _ in plain]
    return plain, cursors


#: Bytes of pending entries a GIN page holds (BLCKSZ less the page headers): the list
#: is merged when its pages hold more than the limit.
GIN_PAGE_FREE = 8160


async def fill_pending(url: str, business_id: str) -> str:
    """Fill every GIN pending list of `customer` to its limit; returns what was done."""
    import asyncpg

    from app.jobs.seed import COLUMNS, people, seal_row
    from app.settings import parse_database_url

    conn = await asyncpg.connect(**parse_database_url(url))  # type: ignore[arg-type]
    try:
        keys = await business_keys(conn, business_id)  # seal_row writes under them
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        rows = await conn.fetch(
            "SELECT c.relname, c.reloptions FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = 'customer'::regclass"
            " AND am.amname = 'gin' AND 'fastupdate=on' = ANY(c.reloptions)"
        )
        limits = {
            r[0]: int(
                next(o for o in r[1] if o.startswith("gin_pending_list_limit=")).split("=")[1]
            )
            for r in rows
        }
        filling, number, inserted = dict(limits), 10**8, 0
        while filling:
            for index, limit_kb in list(filling.items()):
                pages = await conn.fetchval("SELECT pending_pages FROM pgstatginindex($1)", index)
                if (pages + 1) * GIN_PAGE_FREE > limit_kb * 1024:  # a page more overflows it
                    await conn.execute(f'ALTER INDEX "{index}" SET (fastupdate = off)')
                    del filling[index]
            now = datetime.now(UTC)
            for person in people(1, number, number + 5):
                row = seal_row(keys, person, now)
                await conn.copy_records_to_table("customer", records=[row], columns=COLUMNS)
            number, inserted = number + 5, inserted + 5
        pending = []
        for index in limits:
            await conn.execute(f'ALTER INDEX "{index}" SET (fastupdate = on)')
            pages = await conn.fetchval("SELECT pending_pages FROM pgstatginindex($1)", index)
            pending.append(f"{index} {pages * 8} of {limits[index]} kB")
    finally:
        await conn.close()
    return f"{inserted} single-row inserts; pending lists: {', '.join(pending) or 'none'}"


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def run(args: argparse.Namespace, env: dict[str, str], business_id: str, key: str) -> None:
    plain, all_cursors = await read_plain(env["DATABASE_URL"], business_id)
    n = len(plain)
    cursors = {"first page": None, "middle": all_cursors[n // 2], "last page": all_cursors[-60]}
    kinds = choose([(name, email) for _, name, email in plain], random.Random(args.seed))
    with TemporaryDirectory(prefix="finora-bounded-") as scratch:
        port = free_port()
        argv = [str(BIN / "finora"), "serve", "--host", HOST, "--port", str(port)]
        server = Server("service", argv, port, "finora", Path(scratch) / "service.log")
        server.start(env)
        try:
            await server.wait_ready()
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                base_url=f"http://{HOST}:{port}", headers=headers, timeout=60
            ) as client:
                print(f"{n} active customers; repeat {args.repeat}; load average before {load()}")
                baseline, pages = await measure(
                    client, business_id, kinds, plain, cursors, args.repeat
                )
            print(f"load average after {load()}; every search equal to decrypt-and-filter\n")
            report(baseline, kinds + pages)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of every query")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url", help="an already seeded database (with --business, --key)"
    )
    parser.add_argument("--business")
    parser.add_argument("--key")
    parser.add_argument(
        "--full-pending", action="store_true", help="fill the GIN pending lists first"
    )
    args = parser.parse_args()
    if not args.database_url:
        asyncio.run(fresh(args))
        return
    if not (args.business and args.key):
        parser.error("--database-url needs --business and --key")
    if args.full_pending:
        parser.error("--full-pending works on a fresh scratch database only")
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "FINORA_ENV": "production",
        "FINORA_RATE_LIMIT_PER_SECOND": str(UNREACHABLE_RATE),
        "FINORA_RATE_LIMIT_BURST": str(UNREACHABLE_RATE),
    }
    env.pop("FINORA_GRAPHIQL", None)
    asyncio.run(run(args, env, args.business, args.key))


async def fresh(args: argparse.Namespace) -> None:
    """A scratch database, seeded through the real CLI, then the run; dropped after."""
    async with scratch_database() as db:
        env = await production_env(db)
        os.environ.update({k: env[k] for k in ("FINORA_ENCRYPTION_KEYS", "FINORA_INDEX_KEY")})
        business_id = json.loads(finora(env, "business", "create", "Bounded", "--json"))["id"]
        key = json.loads(finora(env, "apikey", "create", "--business", business_id, "--json"))
        started = time.perf_counter()
        subprocess.run(
            [str(BIN / "finora"), "seed-demo", "--business", business_id, "--count",
             str(args.customers)],
            cwd=ROOT, env=env, check=True, timeout=3600,
        )  # fmt: skip
        print(f"seeded {args.customers} in {time.perf_counter() - started:.0f} s")
        if args.full_pending:
            print(await fill_pending(db.url, business_id))
        await run(args, env, business_id, key["key"])


if __name__ == "__main__":
    main()
