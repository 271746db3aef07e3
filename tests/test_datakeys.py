"""Per-business data keys: wrapping, the per-process cache, and writes across a key switch.

The rotation and migration jobs under load are in tests/test_rekey.py, offboarding
in tests/test_offboard.py; here are the pieces they stand on.
"""

from __future__ import annotations

import asyncio

import pytest

from app import crypto
from app.crypto.cipher import Cipher, DecryptionError, header_of
from app.crypto.datakeys import Generation, new_data_key, unwrap, wrap
from app.crypto.gramcache import GramCache
from app.crypto.keys import KeySet
from app.db.transaction import transaction
from app.models import Customer, keyring
from app.services import customers as svc
from app.services import search
from app.services.access import Caller, Scope
from tests.test_api import create
from tests.test_crypto import b64, keyset

LIST = "query($b: ID!) { customers(businessId: $b, limit: 100) { id email phone } }"


def test_a_data_key_unwraps_only_for_its_business_and_key_id():
    keys = keyset()
    data_key = new_data_key()
    master_id, wrapped = wrap(keys, "biz_1", "dk_1", data_key)
    assert master_id == keys.active_id and data_key not in wrapped
    assert unwrap(keys, "biz_1", "dk_1", master_id, wrapped) == data_key
    for business_id, key_id in (("biz_2", "dk_1"), ("biz_1", "dk_2")):  # AAD: moved, refused
        with pytest.raises(DecryptionError):
            unwrap(keys, business_id, key_id, master_id, wrapped)
    with pytest.raises(DecryptionError):  # another master key of the same id
        unwrap(KeySet.parse(f"{master_id}:{b64()}", b64()), "biz_1", "dk_1", master_id, wrapped)


def test_values_and_indexes_of_a_data_key_need_that_key():
    keys = keyset()
    cipher, grams = Cipher(keys), GramCache()
    one = Generation.of_key(keys, cipher, grams, "dk_a", new_data_key())
    two = Generation.of_key(keys, cipher, grams, "dk_b", new_data_key())
    legacy = Generation.legacy(keys, cipher, grams)
    sealed = one.seal("customer", "email", "cust_1", "ada@x.ng")
    assert header_of(sealed) == (2, "dk_a")
    assert cipher.open("customer", "email", "cust_1", sealed) == "ada@x.ng"
    digests = {g.id: g.email_index.digest("biz_1", "ada@x.ng") for g in (one, two, legacy)}
    assert len(set(digests.values())) == 3  # each key its own blind index
    tokens = [g.search_tokens.for_rows("biz_1", "ada", "ada@x.ng") for g in (one, two, legacy)]
    assert tokens[0] != tokens[1] != tokens[2]
    cipher.forget("dk_a")  # the key destroyed: its values are gone, the others stay
    with pytest.raises(DecryptionError):
        cipher.open("customer", "email", "cust_1", sealed)
    other = two.seal("customer", "email", "cust_1", "bola@x.ng")
    assert cipher.open("customer", "email", "cust_1", other) == "bola@x.ng"


async def test_a_business_costs_one_unwrap_whatever_it_reads(gql, tenant):
    """The first request after start (here: after the cache is emptied) unwraps the
    business's data key once; 30 customers' values then open with it."""
    for n in range(30):
        await create(gql, tenant, name=f"Read {n}", email=f"read{n}@keys.ng", phone="08031234567")
    keyring.clear()  # as at a process's start
    before = keyring.unwraps
    listed = await gql.data(tenant, LIST, {"b": tenant.business_id})
    listed = await gql.data(tenant, LIST, {"b": tenant.business_id})
    assert len(listed["customers"]) == 30 and all(c["email"] for c in listed["customers"])
    assert keyring.unwraps - before == 1


async def test_concurrent_first_requests_of_a_business_unwrap_once(gql, tenant):
    await create(gql, tenant, name="Once", email="once@keys.ng")
    keyring.clear()
    before = keyring.unwraps
    await asyncio.gather(*(gql.data(tenant, LIST, {"b": tenant.business_id}) for _ in range(8)))
    assert keyring.unwraps - before == 1


async def test_the_cache_is_bounded_and_its_entries_expire(tenant, other, monkeypatch):
    monkeypatch.setattr(keyring, "MAX_BUSINESSES", 1)
    await keyring.of(tenant.business_id)
    await keyring.of(other.business_id)  # the bound: the first business's keys are dropped
    with pytest.raises(RuntimeError):
        keyring.loaded(tenant.business_id)
    monkeypatch.setattr(keyring, "_lifetime", 0.0)  # every entry is stale at once
    first = await keyring.of(tenant.business_id)
    before = keyring.unwraps
    again = await keyring.of(tenant.business_id)
    assert again is not first  # read again from the table ...
    assert keyring.unwraps == before  # ... but its key, unchanged, is not unwrapped again


async def test_an_offboarded_or_unknown_business_has_no_keys(raw_db, tenant):
    with pytest.raises(keyring.KeysGone):
        await keyring.of("biz_nope")
    await raw_db.execute(
        "UPDATE business SET offboarded_at = now() WHERE id = $1", tenant.business_id
    )
    keyring.forget(tenant.business_id)  # read again: it is gone
    with pytest.raises(keyring.KeysGone):
        await keyring.of(tenant.business_id)


async def _switch_to_new_key(business_id: str) -> str:
    """What `keys rotate --business` does before it moves rows: announce, switch."""
    async with transaction() as conn:
        key_id = await keyring.new_key(conn, business_id)
        await conn.execute_query("SELECT 1 FROM business WHERE id = $1 FOR UPDATE", [business_id])
        await conn.execute_query(
            "UPDATE business SET write_key = $2 WHERE id = $1", [business_id, key_id]
        )
    return key_id


async def test_a_write_sealed_under_a_key_the_business_left_is_made_again(tenant):
    """This process still holds the old keys when the business switches: its write
    matches nothing in the database (the guard), and is sealed again under the new key."""
    caller = Caller(business_id=tenant.business_id, key_prefix="t", scope=Scope.WRITE)
    stale = await keyring.of(tenant.business_id)
    new_key = await _switch_to_new_key(tenant.business_id)
    assert (await keyring.of(tenant.business_id)) is stale  # cached: the switch is not seen
    made = await svc.create_customer(
        caller,
        business_id=tenant.business_id,
        values={"name": "After", "email": "after.switch@keys.ng"},
    )
    row = await Customer.get(id=made.id)
    assert row.key_id == new_key and header_of(row.sealed("email"))[1] == new_key
    changed = await svc.update_customer(
        caller, customer_id=made.id, changes={"email": "moved.on@keys.ng"}
    )
    assert changed.email == "moved.on@keys.ng"


async def test_an_email_held_under_the_old_key_is_taken_while_rows_move(tenant):
    """Between the switch and the move, a row indexed under the old key still holds its
    email: create says TAKEN, find-or-create finds it, search finds it."""
    caller = Caller(business_id=tenant.business_id, key_prefix="t", scope=Scope.WRITE)
    first = await svc.create_customer(
        caller,
        business_id=tenant.business_id,
        values={"name": "Old Row", "email": "held@keys.ng"},
    )
    await _switch_to_new_key(tenant.business_id)
    keyring.forget(tenant.business_id)
    keys = await keyring.of(tenant.business_id)
    assert keys.moving and keys.write.id != (await Customer.get(id=first.id)).key_id
    with pytest.raises(svc.InvalidInput) as taken:
        await svc.create_customer(
            caller,
            business_id=tenant.business_id,
            values={"name": "Twin", "email": "held@keys.ng"},
        )
    assert taken.value.errors[0].code == "TAKEN"
    found, created = await svc.find_or_create_customer(
        caller, business_id=tenant.business_id, email="held@keys.ng", name=None, phone=None
    )
    assert (found.id, created) == (first.id, False)
    results = await search.search_customers(caller, business_id=tenant.business_id, q="held@")
    assert [c.id for c in results] == [first.id]
    second = await svc.create_customer(
        caller,
        business_id=tenant.business_id,
        values={"name": "New Row", "email": "second@keys.ng"},
    )
    with pytest.raises(svc.InvalidInput) as moved_onto:
        await svc.update_customer(caller, customer_id=second.id, changes={"email": "held@keys.ng"})
    assert moved_onto.value.errors[0].code == "TAKEN"
    # The old row, updated now, moves whole to the writing key.
    await svc.update_customer(caller, customer_id=first.id, changes={"phone": "08031234567"})
    row = await Customer.get(id=first.id)
    assert row.key_id == keys.write.id
    assert all(header_of(row.sealed(c))[1] == keys.write.id for c in ("email", "phone"))
    results = await search.search_customers(caller, business_id=tenant.business_id, q="held@")
    assert [c.id for c in results] == [first.id]


async def test_rows_read_before_their_key_is_rotated_away_still_open(gql, tenant, monkeypatch):
    """A request fetches its rows, then writes its answer; the business's keys are read
    again meanwhile and the old key is gone (a rotation finished): the rows it holds
    still open, and the old key leaves this process a little later."""
    monkeypatch.setattr(keyring, "RETIRED_S", 0.2)
    made = await create(gql, tenant, name="Held", email="held.rows@keys.ng")
    caller = Caller(business_id=tenant.business_id, key_prefix="t", scope=Scope.WRITE)
    record = await svc.read_customer(caller, made["id"])
    old_key = (await keyring.of(tenant.business_id)).write.id
    new_key = await _switch_to_new_key(tenant.business_id)
    async with transaction() as conn:  # what the rotation's last step does
        await conn.execute_query("DELETE FROM business_key WHERE id = $1", [old_key])
    keyring.forget(tenant.business_id)
    assert (await keyring.of(tenant.business_id)).write.id == new_key
    assert record is not None and record.email == "held.rows@keys.ng"
    await asyncio.sleep(0.3)
    assert not crypto.current().cipher.knows(old_key)


async def test_a_write_that_finds_its_business_offboarded_is_refused_not_a_500(
    gql, tenant, raw_db, client
):
    """Another process offboarded the business while this one still trusts its key (for
    AUTH_CACHE_S) and holds its keys: the write's guard matches nothing, its keys are read
    again and are gone, and the answer is FORBIDDEN, in both APIs, never a 500."""
    await create(gql, tenant, name="Before", email="before.off@keys.ng")  # keys and key cached
    await raw_db.execute(
        "UPDATE business SET offboarded_at = now(), write_key = '-' WHERE id = $1",
        tenant.business_id,
    )
    mutation = """mutation($b: ID!) { createCustomer(businessId: $b,
        input: {name: "After", email: "after.off@keys.ng"}) { customer { id } } }"""
    answer = await gql(tenant, mutation, {"b": tenant.business_id})
    assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    keyring.forget(tenant.business_id)  # (gone now: the auth layer refuses it from here on)
    rest = await client.post(
        "/v1/customers",
        headers=tenant.headers,
        json={"businessId": tenant.business_id, "name": "Rest", "email": "rest.off@keys.ng"},
    )
    assert rest.status_code == 401
    assert (
        await raw_db.fetchval(
            "SELECT count(*) FROM customer WHERE business_id = $1", tenant.business_id
        )
        == 1
    )


async def test_keys_nobody_asks_for_again_leave_memory(tenant, monkeypatch):
    monkeypatch.setattr(keyring, "_lifetime", 0.1)
    monkeypatch.setattr(keyring, "RETIRED_S", 0.1)
    keyring.forget(tenant.business_id)
    key_id = (await keyring.of(tenant.business_id)).write.id
    assert crypto.current().cipher.knows(key_id)
    await asyncio.sleep(0.4)
    assert not crypto.current().cipher.knows(key_id)
    with pytest.raises(RuntimeError):
        keyring.loaded(tenant.business_id)


def test_the_installed_keys_know_no_data_key_until_loaded():
    """Nothing of a business opens before its keys are loaded by the keyring."""
    assert not crypto.current().cipher.knows("dk_never_loaded")
