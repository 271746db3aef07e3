"""totalCount: a per-business counter kept by triggers, exact under concurrency, read on demand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.jobs.seed import seed_demo
from app.services import customers as svc
from app.services.access import Caller
from app.services.errors import InvalidInput
from tests.conftest import _admin, make_tenant
from tests.test_api import PAGE, create


async def counted(raw_db: Any, business_id: str) -> int:
    """The definition: active rows, counted."""
    return await raw_db.fetchval(
        "SELECT count(*) FROM customer WHERE business_id = $1 AND is_active", business_id
    )


@pytest.fixture
async def caller(app) -> Caller:
    return Caller((await make_tenant("Counts")).business_id, "t")


async def test_the_count_follows_every_write_path(caller, raw_db, database_url):
    business_id = caller.business_id
    assert await svc.count_active(business_id) == 0
    made = [
        await svc.create_customer(
            caller, business_id=business_id, values={"name": f"C{n}", "email": f"c{n}@c.ng"}
        )
        for n in range(4)
    ]
    _, created = await svc.find_or_create_customer(
        caller, business_id=business_id, email="new@c.ng", name=None, phone=None
    )
    _, again = await svc.find_or_create_customer(
        caller, business_id=business_id, email="new@c.ng", name=None, phone=None
    )
    assert created and not again and await svc.count_active(business_id) == 5
    await svc.delete_customer(caller, customer_id=made[0].id)
    await svc.delete_customer(caller, customer_id=made[0].id)  # already deleted: no change
    await svc.update_customer(caller, customer_id=made[1].id, changes={"name": "Renamed"})
    assert await svc.count_active(business_id) == 4 == await counted(raw_db, business_id)
    await raw_db.execute("UPDATE customer SET is_active = true WHERE id = $1", made[0].id)
    assert await svc.count_active(business_id) == 5  # a restore, even by hand
    await raw_db.execute("DELETE FROM customer WHERE id = $1", made[2].id)
    assert await svc.count_active(business_id) == 4
    conn = await _admin(database_url)
    try:  # COPY, as seed-demo loads
        await seed_demo(conn, business_id=business_id, count=30, seed=9, show_progress=False)
    finally:
        await conn.close()
    assert await svc.count_active(business_id) == 34 == await counted(raw_db, business_id)


async def test_the_count_is_exact_under_concurrent_creates_and_deletes(caller, raw_db):
    business_id = caller.business_id
    first = [
        await svc.create_customer(
            caller, business_id=business_id, values={"name": f"Old {n}", "email": f"o{n}@c.ng"}
        )
        for n in range(20)
    ]

    async def add(n: int) -> None:
        await svc.create_customer(
            caller, business_id=business_id, values={"name": f"New {n}", "email": f"n{n}@c.ng"}
        )

    async def remove(customer_id: str) -> None:
        await svc.delete_customer(caller, customer_id=customer_id)

    async def taken() -> None:  # the losers of a unique-email race must not count
        with pytest.raises(InvalidInput) as refused:
            await add(0)
        assert refused.value.errors[0].code == "TAKEN"

    await add(0)
    jobs = [add(n) for n in range(1, 40)] + [remove(c.id) for c in first[:15]]
    jobs += [remove(c.id) for c in first[:5]] + [taken() for _ in range(5)]
    await asyncio.gather(*jobs)
    assert await counted(raw_db, business_id) == 20 - 15 + 40
    assert await svc.count_active(business_id) == 45


async def test_total_count_is_read_only_when_selected(gql, tenant, monkeypatch):
    for n in range(3):
        await create(gql, tenant, name=f"P{n}", email=f"p{n}@p.ng")
    statements: list[str] = []
    real_fetch = svc.fetch

    async def recorded(sql: str, *params: Any) -> list[Any]:
        statements.append(sql)
        return await real_fetch(sql, *params)

    monkeypatch.setattr(svc, "fetch", recorded)
    without = PAGE.replace(" totalCount", "")
    data = await gql.data(tenant, without, {"b": tenant.business_id, "n": 2})
    assert len(data["customerConnection"]["nodes"]) == 2 and statements
    assert not [s for s in statements if "customer_count" in s or "count(" in s.lower()]
    data = await gql.data(tenant, PAGE, {"b": tenant.business_id, "n": 2})
    assert data["customerConnection"]["totalCount"] == 3
    assert len([s for s in statements if "customer_count" in s]) == 1


async def test_one_statement_over_two_businesses_counts_each(app, raw_db):
    first, second = (await make_tenant("One")).business_id, (await make_tenant("Two")).business_id
    try:
        await raw_db.execute(
            "INSERT INTO customer (id, business_id, name, name_lower, email, email_hash,"
            " account_balance_kobo, is_active, created_at, updated_at) VALUES"
            " ('cust_two1', $1, 'X', 'x', '\\x00', 'h1', 0, true, now(), now()),"
            " ('cust_two2', $2, 'Y', 'y', '\\x00', 'h2', 0, true, now(), now()),"
            " ('cust_two3', $2, 'Z', 'z', '\\x00', 'h3', 0, false, now(), now())",
            first,
            second,
        )
        assert await svc.count_active(first) == 1 and await svc.count_active(second) == 1
        await raw_db.execute(
            "UPDATE customer SET is_active = NOT is_active WHERE business_id = $1", second
        )
        assert await svc.count_active(second) == 1 == await counted(raw_db, second)
    finally:  # their email is no ciphertext: jobs over every row must not meet them
        await raw_db.execute("DELETE FROM customer WHERE business_id = ANY($1)", [first, second])
