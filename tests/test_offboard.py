"""`finora business offboard ID --confirm ID [--purge]`: crypto-shredding, end to end.

A business with customers (made through the API), a webhook endpoint, a shop
connection and pending deliveries is copied aside row by row, then offboarded by
the real command.  Then: its keys are refused; other businesses read its ids as
missing ones; the copies, and a real ``pg_dump`` taken afterwards, open with no
key the service holds (master keys, index key, every remaining data key, the
running process's cipher), and its blind indexes and tokens are reproduced by
no generation the service can build; a shop delivery to it is answered like one
to an unknown connection and its pending webhook deliveries are never sent by a
real worker; the jobs that walk every business run past it cleanly.  And the
refusals (a --confirm that does not match, an unknown business, one that may hold
legacy values) change nothing, and ``--purge`` deletes every row of it in
batches, resumably, while another business writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app import crypto
from app.crypto.cipher import Cipher, DecryptionError
from app.crypto.datakeys import Generation, unwrap
from app.crypto.gramcache import GramCache
from app.crypto.keys import new_key
from app.jobs import offboard as offboard_job
from app.models import keyring
from app.services import businesses
from tests.conftest import GraphQL, Tenant, _admin, make_tenant
from tests.receiver import Receiver
from tests.shops import Shop, connect, shopify_customer, shopify_headers, shopify_json
from tests.test_api import FIELDS, GET, create
from tests.test_bulk_api import BULK
from tests.test_cli import arun, assert_one_clear_line, production_env
from tests.test_webhook_delivery import register
from tests.workers import eventually, running_worker

#: The people of the business that leaves: every sealed column filled for the first.
PEOPLE = (
    {
        "name": "Amaka Eze",
        "email": "amaka.eze@leaving-ltd.ng",
        "phone": "08031112201",
        "address": "3 Marina Road, Lagos",
        "tin": "11112222-0001",
    },
    {"name": "Tunde Bello", "email": "tunde.bello@leaving-ltd.ng", "phone": "08031112202"},
    {"name": "Ngozi Obi", "email": "ngozi.obi@leaving-ltd.ng"},
)
SHOPPER = shopify_customer(id=5550001, email="shopper.one@leaving-ltd.ng")
SEALED = {
    "customer": ("email", "phone", "address", "tin"),
    "webhook_endpoint": ("secret", "previous_secret"),
    "shop_connection": ("secret",),
}
COPIED = ("customer", "webhook_endpoint", "shop_connection", "business_key")
DELETE = "mutation($id: ID!) { deleteCustomer(id: $id) { userErrors { code } } }"
CUSTOMERS = f"query($b: ID!) {{ customers(businessId: $b, limit: 100) {{ {FIELDS} }} }}"


@dataclass
class Shredded:
    """The offboarded business, what was copied of it first, and a business that stays."""

    gone: Tenant
    reader: Tenant  # a second key of the business that left
    stays: Tenant
    stays_reader: Tenant
    shop: Shop
    leaving_rx: Receiver
    staying_rx: Receiver
    copied: dict[str, list[dict[str, Any]]]
    #: the customers as the API served them before (their plaintext, to look for)
    people: list[dict[str, Any]]
    stays_before: list[dict[str, Any]]
    stays_events: int
    cli: subprocess.CompletedProcess[str]
    data_key_id: str = ""
    plaintexts: set[str] = field(default_factory=set)


def _rows(records: list[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in records]


async def _copy(raw_db: Any, business_id: str) -> dict[str, list[dict[str, Any]]]:
    return {
        table: _rows(
            await raw_db.fetch(
                f"SELECT * FROM {table} WHERE business_id = $1 ORDER BY id", business_id
            )
        )
        for table in COPIED
    }


@pytest.fixture(scope="module")
async def shredded(app: Any, client: Any, raw_db: Any) -> AsyncIterator[Shredded]:
    gql = GraphQL(client)
    # A worker serves every endpoint of the database: only this module's are in play.
    await raw_db.execute("UPDATE webhook_endpoint SET enabled = false")
    gone, stays = await make_tenant("Leaving Ltd"), await make_tenant("Staying Ltd")
    reader = Tenant(
        gone.business_id, (await businesses.create_api_key(gone.business_id, "read")).key
    )
    stays_reader = Tenant(
        stays.business_id, (await businesses.create_api_key(stays.business_id, "read")).key
    )
    leaving_rx, staying_rx = Receiver().start(), Receiver().start()
    await register(gql, gone, leaving_rx)
    await register(gql, stays, staying_rx)
    made = [await create(gql, gone, **person) for person in PEOPLE]
    deleted = await gql.data(gone, DELETE, {"id": made[2]["id"]})  # a deleted one too
    assert deleted["deleteCustomer"]["userErrors"] == []
    shop = await connect(gql, client, gone)
    assert (await shop.shopify("customers/create", SHOPPER)).status_code == 200
    broken = shopify_customer(id=5550002, email="not-an-email")  # a shop_problem row
    assert (await shop.shopify("customers/create", broken)).status_code == 200
    for n in range(2):
        await create(gql, stays, name=f"Stay {n}", email=f"stay{n}@staying-ltd.ng")
    stays_before = (await gql.data(stays, CUSTOMERS, {"b": stays.business_id}))["customers"]
    people = (await gql.data(gone, CUSTOMERS, {"b": gone.business_id}))["customers"]
    assert len(people) == 3  # two of PEOPLE (one deleted) and the shopper

    copied = await _copy(raw_db, gone.business_id)
    [key_row] = copied["business_key"]
    assert len(copied["customer"]) == 4 and len(copied["shop_connection"]) == 1
    # The copies are real: before offboarding, this process's keys open them, and its
    # generation reproduces their blind index (what the checks below look for).
    keys = await keyring.of(gone.business_id)
    emails = {p["email"] for p in PEOPLE} | {SHOPPER["email"]}
    for row in copied["customer"]:
        email = crypto.current().cipher.open("customer", "email", row["id"], row["email"])
        assert email in emails
        assert keys.write.email_index.digest(gone.business_id, email) == row["email_hash"]
    pending = await raw_db.fetchval(
        "SELECT count(*) FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id"
        " WHERE e.business_id = $1 AND d.status = 'pending'",
        gone.business_id,
    )
    assert pending >= 3
    stays_events = await raw_db.fetchval(
        "SELECT count(*) FROM customer_event WHERE business_id = $1", stays.business_id
    )

    cli = await arun("business", "offboard", gone.business_id, "--confirm", gone.business_id)
    plaintexts = {
        value
        for person in [*PEOPLE, *people]
        for name, value in person.items()
        if name in ("email", "phone", "address", "tin") and value
    } | {SHOPPER["email"]}
    yield Shredded(
        gone=gone,
        reader=reader,
        stays=stays,
        stays_reader=stays_reader,
        shop=shop,
        leaving_rx=leaving_rx,
        staying_rx=staying_rx,
        copied=copied,
        people=people,
        stays_before=stays_before,
        stays_events=stays_events,
        cli=cli,
        data_key_id=key_row["id"],
        plaintexts=plaintexts,
    )
    leaving_rx.stop()
    staying_rx.stop()


# Every key the service holds -------------------------------------------------


@dataclass
class Holdings:
    """Every key material the service holds now, by name: the master keys, the index
    key and every data key still stored (unwrapped with the master keys), and the
    generations it can build from them."""

    materials: dict[str, bytes]
    generations: dict[str, Generation]


async def _holdings(raw_db: Any) -> Holdings:
    keys = crypto.current().keys
    materials = {f"master key {kid}": material for kid, material in keys.encryption}
    materials["index key"] = keys.index
    for row in await raw_db.fetch(
        "SELECT id, business_id, master_key_id, wrapped FROM business_key"
    ):
        try:
            materials[f"data key {row['id']}"] = unwrap(
                keys, row["business_id"], row["id"], row["master_key_id"], bytes(row["wrapped"])
            )
        except DecryptionError:
            continue  # a key another test damaged: it opens nothing either
    generations = {"legacy": crypto.current().legacy}
    # What the running service builds: every business's generations, through the keyring.
    for business_id in [r["id"] for r in await raw_db.fetch("SELECT id FROM business")]:
        try:
            live = (await keyring.of(business_id)).live
        except (keyring.KeysGone, DecryptionError):
            continue
        for g in live:
            generations[f"{business_id}/{g.id}"] = g
    # And any material taken as if it were the destroyed data key.
    grams = GramCache()
    for name, material in materials.items():
        generations[f"as a data key: {name}"] = Generation.of_key(
            keys, Cipher(keys), grams, "dk_candidate", material
        )
    return Holdings(materials, generations)


def _openers(holdings: Holdings, table: str, column: str, row_id: str, sealed: bytes) -> list[str]:
    """The names of the keys that open a sealed value: the running process's cipher,
    a cipher of the master keys alone, and each material taken as the data key its
    header names (or as a master key of the older format)."""
    keys = crypto.current().keys
    found = []
    candidates: list[tuple[str, Cipher, bytes]] = [
        ("this process's cipher", crypto.current().cipher, sealed),
        ("the master keys' cipher", Cipher(keys), sealed),
    ]
    header_end = 2 + sealed[1]
    key_id = sealed[2:header_end].decode()
    for name, material in holdings.materials.items():
        cipher = Cipher(keys)
        cipher.learn(key_id, material)
        candidates.append((name, cipher, sealed))
    for kid, _ in keys.encryption:  # the same body, read as sealed under a master key
        as_master = bytes((1, len(kid.encode()))) + kid.encode() + sealed[header_end:]
        candidates.append((f"as sealed under master key {kid}", Cipher(keys), as_master))
    for name, cipher, value in candidates:
        try:
            cipher.open(table, column, row_id, value)
        except DecryptionError:
            continue
        found.append(name)
    return found


async def _forgotten_here(business_id: str, data_key_id: str) -> None:
    """This process, as every one is once FINORA_DATA_KEY_CACHE_S has passed (the
    offboarding ran in another process): the business reads as gone, and its data key
    is no longer in the cipher."""
    keyring.forget(business_id)  # its cached keys, stale as they are after their lifetime
    with pytest.raises(keyring.KeysGone):
        await keyring.of(business_id)
    assert not crypto.current().cipher.knows(data_key_id)


# The command and the API ------------------------------------------------------


async def test_the_command_says_what_it_destroyed(shredded: Shredded):
    cli = shredded.cli
    assert cli.returncode == 0, cli.stderr
    out = cli.stdout
    assert f"offboarded business {shredded.gone.business_id}" in out and "irreversibly" in out
    assert "destroyed 1 data key(s)" in out and "revoked 2 API key(s)" in out
    assert "stopped 1 webhook endpoint(s)" in out and "1 shop connection(s)" in out
    assert "will not be sent" in out and "--purge" in out
    assert "business offboarded" in cli.stderr  # the log line: ids and counts
    assert "Traceback" not in out + cli.stderr
    for value in shredded.plaintexts:
        assert value not in out + cli.stderr


async def test_its_keys_are_revoked_and_its_endpoints_and_connections_deleted(shredded, raw_db):
    business_id = shredded.gone.business_id
    for table, column in (
        ("api_key", "revoked_at"),
        ("webhook_endpoint", "deleted_at"),
        ("shop_connection", "deleted_at"),
    ):
        rows = await raw_db.fetch(
            f"SELECT {column} FROM {table} WHERE business_id = $1", business_id
        )
        assert rows and all(r[column] is not None for r in rows), table
    business = await raw_db.fetchrow("SELECT * FROM business WHERE id = $1", business_id)
    assert business["write_key"] == keyring.OFFBOARDED and business["offboarded_at"] is not None
    stays = await raw_db.fetch(
        "SELECT revoked_at FROM api_key WHERE business_id = $1", shredded.stays.business_id
    )
    assert len(stays) == 2 and all(r["revoked_at"] is None for r in stays)


async def test_its_keys_are_refused_and_its_ids_read_as_missing(shredded, gql, client, caplog):
    s = shredded
    caplog.set_level(logging.INFO)
    for key in (s.gone, s.reader):  # at once: the command waited out every key cache
        answer = await gql(key, CUSTOMERS, {"b": s.gone.business_id})
        assert answer.status_code == 401
        rest = await client.get(
            "/v1/customers", params={"businessId": key.business_id}, headers=key.headers
        )
        assert rest.status_code == 401
    # The business that stays reads as before; the ids of the one that left are missing ones.
    assert (await gql.data(s.stays, CUSTOMERS, {"b": s.stays.business_id}))["customers"] == (
        s.stays_before
    )
    missing = await client.get("/v1/customers/cust_nope", headers=s.stays.headers)
    for who in (s.stays, s.stays_reader):
        for row in s.copied["customer"]:
            assert (await gql.data(who, GET, {"id": row["id"]}))["customer"] is None
            rest = await client.get(f"/v1/customers/{row['id']}", headers=who.headers)
            assert (rest.status_code, rest.json()) == (missing.status_code, missing.json())
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], logged
    assert "Decryption" not in logged
    for value in s.plaintexts:
        assert value not in logged
    for row in s.copied["customer"]:
        assert bytes(row["email"]).hex() not in logged


async def test_no_new_key_no_export_and_a_second_run_changes_nothing(shredded, raw_db, tmp_path):
    s = shredded
    with pytest.raises(LookupError):
        await businesses.create_api_key(s.gone.business_id)
    issued = await arun("apikey", "create", "--business", s.gone.business_id)
    assert_one_clear_line(issued, "no business")
    export = await arun(
        "business", "export", s.gone.business_id, "--out", str(tmp_path / "x.jsonl")
    )
    assert_one_clear_line(export, "offboarded")
    assert not list(tmp_path.iterdir())
    before = await raw_db.fetchrow("SELECT * FROM business WHERE id = $1", s.gone.business_id)
    again = await arun("business", "offboard", s.gone.business_id, "--confirm", s.gone.business_id)
    assert again.returncode == 0, again.stderr
    assert "already offboarded" in again.stdout and "waiting" not in again.stdout
    assert (
        await raw_db.fetchrow("SELECT * FROM business WHERE id = $1", s.gone.business_id) == before
    )
    assert before["write_key"] == keyring.OFFBOARDED and before["offboarded_at"] is not None


# The copies -------------------------------------------------------------------


async def test_the_copied_rows_open_with_no_key_the_service_holds(shredded, raw_db):
    s = shredded
    await _forgotten_here(s.gone.business_id, s.data_key_id)
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM business_key WHERE business_id = $1", s.gone.business_id
        )
        == 0
    )
    holdings = await _holdings(raw_db)
    assert f"data key {s.data_key_id}" not in holdings.materials
    sealed_values = 0
    for table, columns in SEALED.items():
        for row in s.copied[table]:
            for column in columns:
                if row[column] is None:
                    continue
                sealed_values += 1
                assert _openers(holdings, table, column, row["id"], bytes(row[column])) == []
    assert sealed_values >= 10  # 3 + 2 + 1 + 1 customer values (+ the shopper's), 2 secrets
    # The harness opens what it should: a row of the business that stays.
    kept = await raw_db.fetchrow(
        "SELECT id, email, key_id FROM customer WHERE business_id = $1 LIMIT 1", s.stays.business_id
    )
    assert set(_openers(holdings, "customer", "email", kept["id"], bytes(kept["email"]))) == {
        "this process's cipher",
        f"data key {kept['key_id']}",
    }


async def test_its_blind_index_and_tokens_are_reproduced_by_no_generation(shredded, raw_db):
    s = shredded
    await _forgotten_here(s.gone.business_id, s.data_key_id)
    holdings = await _holdings(raw_db)
    business_id = s.gone.business_id
    names = {p["email"]: p["name"] for p in PEOPLE}
    names[SHOPPER["email"]] = f"{SHOPPER['first_name']} {SHOPPER['last_name']}"
    by_email = {}
    for row in s.copied["customer"]:
        email = next(e for e in names if row["name"] == names[e])
        by_email[email] = row
    assert len(by_email) == 4
    for name, generation in holdings.generations.items():
        for email, row in by_email.items():
            digest = generation.email_index.digest(business_id, email)
            assert digest != row["email_hash"], name
            if row["is_active"]:
                tokens, short = generation.search_tokens.for_rows(
                    business_id, row["name_lower"], email
                )
                assert tokens != row["search_tokens"], name
                assert len(set(short) & set(row["short_tokens"])) < len(short) // 2, name
    # The check sees a match when there is one: the business that stays.
    kept = await raw_db.fetchrow(
        "SELECT name_lower, email_hash, search_tokens, key_id FROM customer"
        " WHERE business_id = $1 AND name = 'Stay 0'",
        s.stays.business_id,
    )
    mine = holdings.generations[f"{s.stays.business_id}/{kept['key_id']}"]
    assert (
        mine.email_index.digest(s.stays.business_id, "stay0@staying-ltd.ng") == kept["email_hash"]
    )


def _pg_dump() -> str:
    binary = "/usr/lib/postgresql/15/bin/pg_dump"
    found = binary if os.path.exists(binary) else shutil.which("pg_dump")
    assert found, "pg_dump is not installed"
    return found


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}


def _copy_value(text: str) -> str | None:
    """One field of COPY's text format: \\N is NULL, backslash escapes."""
    if text == "\\N":
        return None
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def copy_block(dump: str, table: str) -> list[dict[str, str | None]]:
    """The rows of a table's COPY block in a plain-format dump, by column."""
    match = re.search(
        rf"^COPY public\.{table} \((.*?)\) FROM stdin;\n(.*?)^\\\.$", dump, re.M | re.S
    )
    assert match, f"no COPY block for {table}"
    columns = [c.strip().strip('"') for c in match.group(1).split(",")]
    return [
        dict(zip(columns, map(_copy_value, line.split("\t")), strict=True))
        for line in match.group(2).splitlines()
    ]


def _bytea(text: str | None) -> bytes | None:
    if text is None:
        return None
    assert text.startswith("\\x"), text[:10]
    return bytes.fromhex(text[2:])


async def test_a_pg_dump_taken_afterwards_opens_with_no_key(shredded, raw_db, database_url):
    s = shredded
    await _forgotten_here(s.gone.business_id, s.data_key_id)
    dumped = await asyncio.to_thread(
        subprocess.run,
        [_pg_dump(), "--data-only", "--no-owner", "--no-privileges", "-d", database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dumped.returncode == 0, dumped.stderr
    dump = dumped.stdout
    holdings = await _holdings(raw_db)
    rows = [r for r in copy_block(dump, "customer") if r["business_id"] == s.gone.business_id]
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in s.copied["customer"])
    opened = 0
    for row in rows:
        for column in SEALED["customer"]:
            sealed = _bytea(row[column])
            if sealed is None:
                continue
            opened += 1
            assert _openers(holdings, "customer", column, str(row["id"]), sealed) == []
    assert opened >= 7
    assert not [
        r for r in copy_block(dump, "business_key") if r["business_id"] == s.gone.business_id
    ]
    [wrapped] = [bytes(k["wrapped"]).hex() for k in s.copied["business_key"]]
    assert wrapped not in dump  # nor its wrapped data key, in any table
    for value in s.plaintexts:  # no email, phone, address or TIN of it in clear anywhere
        assert value not in dump, value
    # The parse is right: a customer of the business that stays opens from the dump.
    kept = next(r for r in copy_block(dump, "customer") if r["business_id"] == s.stays.business_id)
    sealed = _bytea(kept["email"])
    assert sealed is not None
    assert set(_openers(holdings, "customer", "email", str(kept["id"]), sealed)) == {
        "this process's cipher",
        f"data key {kept['key_id']}",
    }


# Shops, webhooks, jobs ---------------------------------------------------------


async def test_a_shop_delivery_to_it_is_answered_like_one_to_an_unknown_connection(
    shredded, client, raw_db
):
    s = shredded
    body = shopify_json(shopify_customer(id=5550003, email="late.shopper@leaving-ltd.ng"))
    headers = shopify_headers("customers/create", body)  # signed with its secret
    answer = await s.shop.post(body, headers)
    unknown = await client.post(
        "/v1/shops/shop_0000000000000000000000/webhooks", content=body, headers=headers
    )
    assert answer.status_code == unknown.status_code == 404
    assert answer.json() == unknown.json() == {"status": "not_found"}
    count = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1", s.gone.business_id
    )
    assert count == len(s.copied["customer"])


async def test_its_pending_webhook_deliveries_are_never_sent(shredded, database_url, raw_db):
    s = shredded
    async with running_worker(database_url):
        # The business that stays gets every delivery: the worker ran over both endpoints.
        await eventually(lambda: len(s.staying_rx.first_arrivals()) >= s.stays_events, timeout=30)
        await asyncio.sleep(1.5)  # another poll at least
    assert s.leaving_rx.requests() == 0
    rows = await raw_db.fetch(
        "SELECT d.status, d.attempts FROM webhook_delivery d JOIN webhook_endpoint e"
        " ON e.id = d.endpoint_id WHERE e.business_id = $1",
        s.gone.business_id,
    )
    assert rows and {(r["status"], r["attempts"]) for r in rows} == {("pending", 0)}


async def test_the_cli_purges_an_offboarded_business(shredded, raw_db):
    """Last of the module's tests on this business: its rows go."""
    s = shredded
    purged = await arun(
        "business", "offboard", s.gone.business_id, "--confirm", s.gone.business_id, "--purge"
    )
    assert purged.returncode == 0, purged.stderr
    assert "already offboarded" in purged.stdout and re.search(r"\b4 customer\b", purged.stdout)
    assert await _left(raw_db, s.gone.business_id) == {}
    assert await raw_db.fetchval(
        "SELECT offboarded_at FROM business WHERE id = $1", s.gone.business_id
    )


# Refusals -----------------------------------------------------------------------


async def _state(raw_db: Any, business_id: str) -> tuple[Any, ...]:
    return (
        await raw_db.fetchrow("SELECT * FROM business WHERE id = $1", business_id),
        await raw_db.fetch("SELECT * FROM business_key WHERE business_id = $1", business_id),
        await raw_db.fetch("SELECT * FROM api_key WHERE business_id = $1 ORDER BY id", business_id),
    )


async def test_a_confirm_that_does_not_match_and_an_unknown_business_change_nothing(
    gql, tenant, other, raw_db
):
    before = await _state(raw_db, tenant.business_id)
    wrong = await arun("business", "offboard", tenant.business_id, "--confirm", other.business_id)
    assert_one_clear_line(wrong, "does not match", "nothing was done")
    assert await _state(raw_db, tenant.business_id) == before
    assert (await gql(tenant, CUSTOMERS, {"b": tenant.business_id})).status_code == 200
    unknown = await arun("business", "offboard", "biz_nope", "--confirm", "biz_nope")
    assert_one_clear_line(unknown, "no business with id biz_nope")


@pytest.mark.parametrize(
    "legacy",
    [
        "UPDATE business SET legacy_values = true WHERE id = $1",
        "UPDATE business SET write_key = NULL WHERE id = $1",
    ],
    ids=["legacy-values", "no-write-key"],
)
async def test_a_business_that_may_hold_legacy_values_is_refused(gql, tenant, raw_db, legacy):
    write_key = await raw_db.fetchval(
        "SELECT write_key FROM business WHERE id = $1", tenant.business_id
    )
    await raw_db.execute(legacy, tenant.business_id)
    try:
        before = await _state(raw_db, tenant.business_id)
        refused = await arun(
            "business", "offboard", tenant.business_id, "--confirm", tenant.business_id
        )
        assert_one_clear_line(refused, "finora keys migrate")
        assert await _state(raw_db, tenant.business_id) == before
    finally:
        await raw_db.execute(
            "UPDATE business SET legacy_values = false, write_key = $2 WHERE id = $1",
            tenant.business_id,
            write_key,
        )


async def test_offboarding_waits_for_a_write_under_way_and_the_next_one_matches_nothing(
    tenant, raw_db, database_url
):
    """A write holds its business row (KEY SHARE, as keyring.for_write and guard do) until
    it commits: the offboarding waits for it; a write under the old key afterwards finds
    nothing to match."""
    business_id = tenant.business_id
    old_key = await raw_db.fetchval("SELECT write_key FROM business WHERE id = $1", business_id)
    guard = f"SELECT {keyring.guard('$1', '$2')}"
    assert await raw_db.fetchval(guard, business_id, old_key) is True
    writer = await _admin(database_url)
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute("SELECT 1 FROM business WHERE id = $1 FOR KEY SHARE", business_id)
        task = asyncio.create_task(
            offboard_job.offboard(business_id, purge=False, show_progress=False, settle_s=0)
        )
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting for the write under way
        assert (
            await raw_db.fetchval(
                "SELECT count(*) FROM business_key WHERE business_id = $1", business_id
            )
            == 1
        )
        await transaction.commit()
        summary = await asyncio.wait_for(task, 10)
    finally:
        await writer.close()
    assert summary.data_keys == 1 and not summary.already
    assert await raw_db.fetchval(guard, business_id, old_key) is False


# The purge -------------------------------------------------------------------


async def _left(raw_db: Any, business_id: str) -> dict[str, int]:
    """Rows of the business left in every table that names it, its customers, or its
    shop connections and webhook endpoints (read from the catalog: none forgotten)."""
    named = await raw_db.fetch(
        """SELECT DISTINCT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public'
             AND column_name IN ('business_id', 'customer_id', 'connection_id', 'endpoint_id')
           UNION
           SELECT conrelid::regclass::text, a.attname FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
           WHERE c.contype = 'f' AND c.confrelid::regclass::text IN ('business', 'customer',
             'shop_connection', 'webhook_endpoint', 'customer_event')"""
    )
    purged = {table for table, *_ in offboard_job.PURGED}
    tables = {r["table_name"] for r in named} - {"business"}
    assert tables <= purged | set(offboard_job.KEPT), (
        "a table names a business's rows: purge it (app.jobs.offboard.PURGED) or say why not (KEPT)"
    )
    owned = {
        "business_id": "$1",
        "customer_id": "(SELECT id FROM customer WHERE business_id = $1)",
        "connection_id": "(SELECT id FROM shop_connection WHERE business_id = $1)",
        "endpoint_id": "(SELECT id FROM webhook_endpoint WHERE business_id = $1)",
        "event_id": "(SELECT seq FROM customer_event WHERE business_id = $1)",
    }
    left = {}
    for r in named:
        table, column = r["table_name"], r["column_name"]
        if table in offboard_job.KEPT or table == "business":
            continue
        assert column in owned, f"{table}.{column} names a business's rows: count them here"
        test = f"= {owned[column]}" if column == "business_id" else f"IN {owned[column]}"
        count = await raw_db.fetchval(
            f"SELECT count(*) FROM {table} WHERE {column} {test}", business_id
        )
        if count:
            left[f"{table}.{column}"] = count
    return left


class Killed(Exception):
    """What a purge killed mid-way leaves: the batches committed before it."""


async def test_purge_deletes_in_batches_resumably_while_another_business_writes(
    gql, client, raw_db, caplog
):
    leaving, writer = await make_tenant("Purged Ltd"), await make_tenant("Busy Ltd")
    hook = await gql.data(
        leaving,
        "mutation($b: ID!, $u: String!) { createWebhookEndpoint(businessId: $b, url: $u)"
        " { userErrors { code } } }",
        {"b": leaving.business_id, "u": "http://127.0.0.1:9/"},
    )
    assert hook["createWebhookEndpoint"]["userErrors"] == []
    shop = await connect(gql, client, leaving)
    assert (await shop.shopify("customers/create", SHOPPER)).status_code == 200
    await shop.shopify("customers/create", shopify_customer(id=5550002, email="not-an-email"))
    # Last: 100 rows spend the key's whole burst.
    inputs = [{"email": f"p{n}@purged-ltd.ng", "name": f"P {n}"} for n in range(100)]
    made = (await gql.data(leaving, BULK, {"b": leaving.business_id, "inputs": inputs}))[
        "findOrCreateCustomers"
    ]
    assert made["createdCount"] == 100
    before = await _left(raw_db, leaving.business_id)
    assert before["customer.business_id"] == 101 and before["shop_problem.connection_id"] == 1
    assert before["webhook_delivery.endpoint_id"] == 101  # pending, never to be sent
    assert before["customer_external_id.connection_id"] == 1
    data_key = await raw_db.fetchval(
        "SELECT id FROM business_key WHERE business_id = $1", leaving.business_id
    )

    seen: list[tuple[str, int, int]] = []
    kill_at = [2]  # the first run dies after its second batch of customers

    async def watch(table: str, count: int) -> None:
        """After each batch: another connection sees it gone at once (it committed on its
        own); the second batch of customers is where the purge is "killed"."""
        left = await raw_db.fetchval(
            "SELECT count(*) FROM customer WHERE business_id = $1", leaving.business_id
        )
        seen.append((table, count, left))
        await asyncio.sleep(0.02)  # room for the other business's writes
        if kill_at and [t for t, *_ in seen].count("customer") == kill_at[0]:
            raise Killed

    latencies: list[float] = []

    async def busy(n: int) -> None:
        for k in range(5):
            started = time.monotonic()
            await create(gql, writer, name=f"Busy {n}.{k}", email=f"busy{n}.{k}@busy-ltd.ng")
            latencies.append(time.monotonic() - started)

    caplog.set_level(logging.INFO, logger="finora.jobs")
    killed, *_ = await asyncio.gather(
        offboard_job.offboard(
            leaving.business_id,
            purge=True,
            show_progress=False,
            batch_size=30,
            settle_s=0,
            after_batch=watch,
        ),
        *(busy(n) for n in range(3)),
        return_exceptions=True,
    )
    assert isinstance(killed, Killed), killed
    # This process forgot the business's keys at once; their rows are gone.
    assert not crypto.current().cipher.knows(data_key)
    assert leaving.business_id not in keyring._cache
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM business_key WHERE business_id = $1", leaving.business_id
        )
        == 0
    )
    tables = [t for t, *_ in seen]
    assert tables[:2] == ["customer_external_id", "webhook_delivery"]
    customers = [(count, left) for table, count, left in seen if table == "customer"]
    assert customers == [(30, 71), (30, 41)]  # each batch committed on its own
    assert (await _left(raw_db, leaving.business_id))["customer.business_id"] == 41

    seen.clear()
    kill_at.clear()
    summary = await offboard_job.offboard(
        leaving.business_id,
        purge=True,
        show_progress=False,
        batch_size=30,
        settle_s=0,
        after_batch=watch,
    )
    assert summary.already and summary.purged["customer"] == 41
    assert [c for t, c, _ in seen if t == "customer"] == [30, 11]
    assert await _left(raw_db, leaving.business_id) == {}
    business = await raw_db.fetchrow("SELECT * FROM business WHERE id = $1", leaving.business_id)
    assert business["offboarded_at"] is not None  # the tombstone
    assert (
        await raw_db.fetchval(
            "SELECT coalesce(sum(active), 0) FROM customer_count WHERE business_id = $1",
            leaving.business_id,
        )
        == 0
    )
    assert len(latencies) == 15 and max(latencies) < 2.0, latencies
    written = await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1", writer.business_id
    )
    assert written == 15
    lines = [
        r for r in caplog.records if r.getMessage() in ("business offboarded", "business purged")
    ]
    assert [r.getMessage() for r in lines] == ["business offboarded", "business purged"]
    assert lines[0].fields["business"] == leaving.business_id  # type: ignore[attr-defined]
    assert lines[1].fields["customer"] == 41  # type: ignore[attr-defined]
    logged = " ".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert "purged-ltd.ng" not in logged and SHOPPER["email"] not in logged


async def test_jobs_that_walk_every_business_run_cleanly_past_an_offboarded_one(fresh_db):
    env = production_env(DATABASE_URL=fresh_db, FINORA_DATA_KEY_CACHE_S="0.5")
    assert (await arun("migrate", env=env)).returncode == 0
    made = await asyncio.gather(
        *(
            arun("business", "create", name, "--json", env=env)
            for name in ("Gone", "Kept", "Legacy")
        )
    )
    gone, kept, legacy = (json.loads(r.stdout)["id"] for r in made)
    seeded = await asyncio.gather(
        *(
            arun("seed-demo", "--business", b, "--count", "40", env=env)
            for b in (gone, kept, legacy)
        )
    )
    assert all(r.returncode == 0 for r in seeded), [r.stderr for r in seeded]
    assert (await arun("apikey", "create", "--business", gone, env=env)).returncode == 0
    offboarded = await arun("business", "offboard", gone, "--confirm", gone, env=env)
    assert offboarded.returncode == 0, offboarded.stderr
    conn = await _admin(fresh_db)
    try:
        await conn.execute("UPDATE business SET legacy_values = true WHERE id = $1", legacy)
    finally:
        await conn.close()
    rotated = {
        **env,
        "FINORA_ENCRYPTION_KEYS": f"knext:{new_key()},{env['FINORA_ENCRYPTION_KEYS']}",
    }
    for args, environ in (
        (("reindex",), env),
        (("reindex", "--business", gone), env),
        (("keys", "migrate"), env),
        (("keys", "rotate"), rotated),
        (("keys", "status", "--json"), rotated),
        (("keys", "status"), rotated),
    ):
        result = await arun(*args, env=environ)
        output = result.stdout + result.stderr
        assert result.returncode == 0, (args, output)
        assert "Traceback" not in output and "DecryptionError" not in output, (args, output)
    status = json.loads((await arun("keys", "status", "--json", env=rotated)).stdout)
    assert status["businesses"] == 2 and status["businesses_offboarded"] == 1
    assert status["businesses_to_migrate"] == 0 and status["data_keys_under_old_master_key"] == 0
    purged = await arun("business", "offboard", gone, "--confirm", gone, "--purge", env=rotated)
    assert purged.returncode == 0 and "40 customer" in purged.stdout, purged.stderr
    status = json.loads((await arun("keys", "status", "--json", env=rotated)).stdout)
    assert status["customers_not_under_writing_key"] == 0  # nothing of it is left to count
