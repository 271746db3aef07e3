"""Erasure (NDPA 2023 s.34): the personal data leaves the database for good, the
record and its books stay, and nothing (rotation, reindex, a second call) brings
anything back."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pgserver

from app.jobs.reindex import reindex
from app.jobs.rotate import rotate
from tests.conftest import Tenant, make_tenant
from tests.test_api import FIELDS, FIND_OR_CREATE, SEARCH, UPDATE, codes, create
from tests.test_at_rest import PEOPLE, dump_all_tables
from tests.test_cli import arun

ERASE = f"""mutation($id: ID!) {{ eraseCustomer(id: $id) {{
  erasedCustomerId customer {{ {FIELDS} erasedAt }} userErrors {{ field code message }} }} }}"""
DELETE_ERASED = """mutation($id: ID!) { deleteCustomer(id: $id) {
  customer { id name email phone isActive } userErrors { code } } }"""
PG_DUMP = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"  # dumps 15 and 16
PII_COLUMNS = (
    "email",
    "email_hash",
    "phone",
    "address",
    "tin",
    "search_tokens",
    "short_tokens",
    "company_name",
)


async def _stored(raw_db, customer_id: str) -> dict:
    row = await raw_db.fetchrow("SELECT * FROM customer WHERE id = $1", customer_id)
    return dict(row)


def _traces(before: dict) -> list[str]:
    """Every form the erased data took in the row: ciphertext bytes, digest, tokens."""
    traces = []
    for column in ("email", "phone", "address", "tin"):
        sealed = before[column]
        traces += [sealed.hex(), "\\x" + sealed.hex()]
    traces.append(before["email_hash"])
    for column in ("search_tokens", "short_tokens"):
        traces.append("{" + ",".join(map(str, before[column])) + "}")
    return traces


def _pg_dump(database_url: str) -> str:
    done = subprocess.run(
        [str(PG_DUMP), "--data-only", "--dbname", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


async def _erase(gql, tenant: Tenant, customer_id: str) -> dict:
    return (await gql.data(tenant, ERASE, {"id": customer_id}))["eraseCustomer"]


async def test_erasure_destroys_pii_and_keeps_the_record(gql, tenant, raw_db, database_url):
    person = PEOPLE[0] | {"companyName": "Okafor Textiles"}
    made = await create(gql, tenant, **person)
    before = await _stored(raw_db, made["id"])
    assert all(before[c] is not None for c in PII_COLUMNS)

    erased = await _erase(gql, tenant, made["id"])
    shown = erased["customer"]
    assert erased["userErrors"] == [] and erased["erasedCustomerId"] == made["id"]
    assert shown["name"] == "Erased customer" and shown["email"] == ""
    assert [shown[k] for k in ("phone", "address", "tin", "companyName")] == [None] * 4
    assert shown["isActive"] is False and shown["erasedAt"] is not None
    kept = ("id", "businessId", "accountBalanceKobo", "createdAt")
    assert {k: shown[k] for k in kept} == {k: made[k] for k in kept}

    after = await _stored(raw_db, made["id"])
    assert {c: after[c] for c in PII_COLUMNS} == dict.fromkeys(PII_COLUMNS)
    assert after["erased_at"] is not None and after["deleted_at"] is not None

    # Nothing of it anywhere: every table read raw, and a data-only dump.
    raw = await dump_all_tables(raw_db)
    dump = await asyncio.to_thread(_pg_dump, database_url)
    for trace in _traces(before):
        assert trace not in raw and trace not in dump
    assert "Erased customer" in dump  # the dump is real and holds the row

    # One ERASED event, no DELETED, and no PII in any event (the dump above).
    history = await gql.data(
        tenant,
        "query($b: ID!, $c: ID) { customerEvents(businessId: $b, customerId: $c) {"
        " nodes { type changedFields } } }",
        {"b": tenant.business_id, "c": made["id"]},
    )
    assert history["customerEvents"]["nodes"] == [
        {"type": "CREATED", "changedFields": []},
        {"type": "ERASED", "changedFields": []},
    ]

    # The old email: no search hit; find-or-create makes a new customer.
    email = person["email"].lower()
    found = await gql.data(tenant, SEARCH, {"b": tenant.business_id, "q": email})
    assert found["searchCustomers"]["customers"] == []
    again = await gql.data(
        tenant, FIND_OR_CREATE, {"b": tenant.business_id, "input": {"email": email}}
    )
    assert again["findOrCreateCustomer"]["created"] is True
    assert again["findOrCreateCustomer"]["customer"]["id"] != made["id"]


async def test_an_erased_customer_cannot_change_and_erasing_twice_is_a_no_op(gql, tenant, raw_db):
    made = await create(gql, tenant, name="Twice", email="twice@x.ng", phone="08031234567")
    first = await _erase(gql, tenant, made["id"])
    second = await _erase(gql, tenant, made["id"])
    assert second["userErrors"] == [] and second["customer"] == first["customer"]
    erased = await raw_db.fetchval(
        "SELECT count(*) FROM customer_event WHERE customer_id = $1 AND type = 'ERASED'",
        made["id"],
    )
    assert erased == 1  # erasing twice writes one event
    updated = await gql.data(tenant, UPDATE, {"id": made["id"], "input": {"name": "Back"}})
    assert updated["updateCustomer"]["userErrors"] == [
        {
            "field": ["id"],
            "code": "ERASED",
            "message": "The customer was erased; its personal data can no longer be changed",
        }
    ]
    deleted = await gql.data(tenant, DELETE_ERASED, {"id": made["id"]})
    assert deleted["deleteCustomer"]["userErrors"] == []
    assert deleted["deleteCustomer"]["customer"] == {
        "id": made["id"],
        "name": "Erased customer",
        "email": "",
        "phone": None,
        "isActive": False,
    }


async def test_erasure_is_scoped_to_the_business(gql, client, tenant, other, raw_db):
    made = await create(gql, tenant, name="Mine", email="mine@x.ng")
    foreign = await gql.data(other, ERASE, {"id": made["id"]})
    assert foreign["eraseCustomer"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert foreign["eraseCustomer"]["customer"] is None
    rest = await client.post(f"/v1/customers/{made['id']}/erase", headers=other.headers)
    assert rest.status_code == 404
    assert (await _stored(raw_db, made["id"]))["erased_at"] is None


async def test_rest_erase_answers_the_customer_as_it_is_now(client, gql, tenant):
    made = await create(gql, tenant, name="Rest Erase", email="rest.erase@x.ng")
    response = await client.post(f"/v1/customers/{made['id']}/erase", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()["data"]
    assert (body["id"], body["name"], body["email"], body["isActive"]) == (
        made["id"],
        "Erased customer",
        "",
        False,
    )
    missing = await client.post("/v1/customers/cust_nope/erase", headers=tenant.headers)
    assert missing.status_code == 404


async def test_rotation_and_reindex_skip_erased_rows(gql, tenant, raw_db):
    made = await create(gql, tenant, name="Rotated", email="rotated@x.ng", tin="12345678-0001")
    await _erase(gql, tenant, made["id"])
    await rotate(show_progress=False)
    await reindex(show_progress=False)
    await reindex(business_id=tenant.business_id, show_progress=False)
    after = await _stored(raw_db, made["id"])
    assert {c: after[c] for c in PII_COLUMNS} == dict.fromkeys(PII_COLUMNS)


async def test_erasures_command_lists_ids_and_dates_only(gql, settings):
    owner = await make_tenant("Erasures")
    made = await create(gql, owner, name="Listed", email="listed.person@x.ng")
    await _erase(gql, owner, made["id"])
    today = datetime.now(UTC).date()
    listed = await arun("erasures", "--from", str(today), "--to", str(today), "--json")
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    mine = [line for line in lines if line["customerId"] == made["id"]]
    assert len(mine) == 1 and set(mine[0]) == {"customerId", "businessId", "erasedAt"}
    assert mine[0]["businessId"] == owner.business_id
    assert "listed" not in listed.stdout.lower()
    earlier = str(today - timedelta(days=3))
    none = await arun("erasures", "--from", earlier, "--to", earlier, "--json")
    assert made["id"] not in none.stdout
    bad = await arun("erasures", "--from", "yesterday", "--to", str(today))
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


async def test_read_keys_cannot_erase(gql, tenant, raw_db):
    from app.services import businesses

    made = await create(gql, tenant, name="Kept safe", email="kept.safe@x.ng")
    reader = await businesses.create_api_key(tenant.business_id, "read")
    response = await gql(Tenant(tenant.business_id, reader.key), ERASE, {"id": made["id"]})
    assert codes(response.json()) == ["FORBIDDEN"]
    assert (await _stored(raw_db, made["id"]))["email"] is not None


async def test_erasure_leaves_no_sampled_name_in_the_planner_statistics(gql, tenant, raw_db):
    """pg_stats kept an erased name in clear until the next ANALYZE, which autovacuum
    may not run for hours on a quiet table; an erasure now runs one itself."""
    from app.db import statistics

    name = "Zebulon Quixotekwe"
    made = [await create(gql, tenant, name=name, email=f"zq{n}@example.ng") for n in range(40)]
    sampled = """SELECT count(*) FROM pg_stats WHERE tablename = 'customer'
        AND attname IN ('name', 'name_lower')
        AND (most_common_vals::text ILIKE '%quixotekwe%'
             OR coalesce(histogram_bounds::text, '') ILIKE '%quixotekwe%')"""
    await raw_db.execute("ANALYZE customer")
    assert await raw_db.fetchval(sampled) >= 1  # frequent: among the most common values
    for customer in made:
        await _erase(gql, tenant, customer["id"])
    await statistics.settled()
    assert await raw_db.fetchval(sampled) == 0
