"""What a reader of the database sees: ciphertext and keyed digests, no PII."""

from __future__ import annotations

import base64
import hashlib

from app.crypto.cipher import header_of
from tests.test_api import CREATE, UPDATE

PEOPLE = [
    {
        "name": "Ngozi Okafor",
        "email": "Ngozi.Okafor@Zenith-Mail.ng",
        "phone": "0803 555 0199",
        "address": "22 Awolowo Road, Ikoyi, Lagos",
        "tin": "23456789-0002",
    },
    {
        "name": "Emeka Obi",
        "email": "emeka.obi@kanoweb.com",
        "phone": "+2348095550123",
        "address": "7 Bompai Road, Kano",
        "tin": "9876543210",
    },
]


def forms(person: dict) -> set[str]:
    """Every spelling of a person's PII that must not be stored, keyed or not."""
    email = person["email"].strip().lower()
    phone_e164 = "+234" + person["phone"].replace(" ", "").lstrip("+").removeprefix("234").lstrip(
        "0"
    )
    plain = {email, person["email"], phone_e164, phone_e164[1:], person["address"], person["tin"]}
    digests = set()
    for value in (email, person["email"]):
        for algo in ("sha256", "md5", "sha1"):
            digest = hashlib.new(algo, value.encode())
            digests |= {digest.hexdigest(), base64.b64encode(digest.digest()).decode()}
    return plain | digests


async def dump_all_tables(raw_db) -> str:
    tables = await raw_db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    chunks = []
    for (table,) in tables:
        for row in await raw_db.fetch(f'SELECT * FROM "{table}"'):
            for value in row.values():
                if isinstance(value, bytes):
                    chunks.append(value.decode("latin-1"))
                    chunks.append(value.hex())
                chunks.append(str(value))
    return "\n".join(chunks)


async def test_no_plaintext_pii_or_unkeyed_hash_is_stored(gql, tenant, raw_db):
    ids = []
    for person in PEOPLE:
        data = await gql.data(tenant, CREATE, {"b": tenant.business_id, "input": person})
        assert data["createCustomer"]["userErrors"] == []
        ids.append(data["createCustomer"]["customer"]["id"])
    # An update writes the same way.
    await gql.data(tenant, UPDATE, {"id": ids[1], "input": {"address": PEOPLE[1]["address"]}})
    dump = await dump_all_tables(raw_db)
    assert "ngozi okafor" in dump.lower()  # names are plaintext by design: the dump is real
    for person in PEOPLE:
        for secret in forms(person):
            assert secret.lower() not in dump.lower(), "PII or an unkeyed hash of it is stored"


async def test_pii_columns_are_bytea_ciphertext(gql, tenant, raw_db):
    data = await gql.data(tenant, CREATE, {"b": tenant.business_id, "input": PEOPLE[0]})
    customer_id = data["createCustomer"]["customer"]["id"]
    row = await raw_db.fetchrow(
        "SELECT email, phone, address, tin, email_hash FROM customer WHERE id = $1", customer_id
    )
    write_key = await raw_db.fetchval(
        "SELECT write_key FROM business WHERE id = $1", tenant.business_id
    )
    for column in ("email", "phone", "address", "tin"):
        assert isinstance(row[column], bytes) and row[column][0] == 2  # under a data key
        assert header_of(row[column]) == (2, write_key)  # the business's own
    assert len(row["email_hash"]) == 64
    types = dict(
        await raw_db.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'customer'"
        )
    )
    assert {types[c] for c in ("email", "phone", "address", "tin")} == {"bytea"}


async def test_an_erased_customer_leaves_nothing_of_its_pii_or_ciphertext(gql, tenant, raw_db):
    """Erasure, seen as a database reader sees it (tests/test_erasure.py has the rest)."""
    person = PEOPLE[1] | {"email": "erased.at.rest@kanoweb.com"}
    data = await gql.data(tenant, CREATE, {"b": tenant.business_id, "input": person})
    customer_id = data["createCustomer"]["customer"]["id"]
    sealed = await raw_db.fetchrow(
        "SELECT email, phone, address, tin, email_hash FROM customer WHERE id = $1", customer_id
    )
    erase = "mutation($id: ID!) { eraseCustomer(id: $id) { erasedCustomerId } }"
    await gql.data(tenant, erase, {"id": customer_id})
    dump = await dump_all_tables(raw_db)
    for secret in forms(person):
        assert secret.lower() not in dump.lower()
    for value in sealed.values():
        trace = value.hex() if isinstance(value, bytes) else value
        assert trace not in dump
