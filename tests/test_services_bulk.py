"""Bulk find-or-create, called as the resolvers call it, on a real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from app.models import Customer, keyring
from app.services import bulk, search
from app.services import customers as svc
from app.services.access import Caller, Scope
from app.services.errors import BadUserInput, Forbidden
from tests.conftest import make_tenant


@pytest.fixture
async def caller(app) -> Caller:
    tenant = await make_tenant("Bulk")
    return Caller(tenant.business_id, "test")


async def run(caller: Caller, inputs: list) -> bulk.BulkOutcome:
    return await bulk.find_or_create_customers(
        caller, business_id=caller.business_id, inputs=inputs
    )


def codes(result: bulk.RowResult) -> set[tuple[tuple[str, ...], str]]:
    return {(tuple(e.field or ()), e.code) for e in result.errors}


async def test_rows_in_order_with_per_row_errors(caller):
    existing, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="old@shop.ng", name="Old", phone=None
    )
    outcome = await run(
        caller,
        [
            {"email": " New@Shop.ng ", "name": "New One", "phone": "08012345678"},
            {"email": "not an email"},
            {"email": "OLD@shop.ng", "name": "Ignored"},
            {"email": "x@shop.ng", "phone": "12", "name": "  "},
            {"email": "", "name": "n" * 201},
            "not an object",
            {"email": "plain@shop.ng", "name": None},
        ],
    )
    r = outcome.results
    assert [x.index for x in r] == list(range(7))
    assert r[0].created and r[0].customer is not None and not r[0].errors
    assert (r[0].customer.name, r[0].customer.email, r[0].customer.phone) == (
        "New One",
        "new@shop.ng",
        "+2348012345678",
    )
    assert codes(r[1]) == {(("inputs", "1", "email"), "INVALID")} and r[1].customer is None
    assert not r[2].created and r[2].customer.id == existing.id and r[2].customer.name == "Old"
    assert codes(r[3]) == {(("inputs", "3", "phone"), "INVALID")}
    assert codes(r[4]) == {
        (("inputs", "4", "email"), "BLANK"),
        (("inputs", "4", "name"), "TOO_LONG"),
    }
    assert codes(r[5]) == {(("inputs", "5"), "INVALID")}
    assert r[6].created and r[6].customer.name == "plain"  # the email's local part, as single
    assert (outcome.created_count, outcome.found_count, outcome.failed_count) == (2, 1, 4)
    assert {c.id for c in outcome.created} == {r[0].customer.id, r[6].customer.id}
    assert await Customer.filter(business_id=caller.business_id).count() == 3


async def test_rows_are_written_as_the_single_path_writes_them(caller):
    outcome = await run(caller, [{"email": "ada.obi@bank.ng", "name": "Ada Obi"}])
    stored = await svc.get_customer(caller, outcome.results[0].customer.id)
    assert stored is not None and stored.sealed("email") is not None
    assert stored.email == "ada.obi@bank.ng" and stored.name_lower == "ada obi"
    keys = (await keyring.of(caller.business_id)).write
    assert stored.email_hash == keys.email_index.digest(caller.business_id, "ada.obi@bank.ng")
    assert (stored.search_tokens, stored.short_tokens) == keys.search_tokens.for_rows(
        caller.business_id, "ada obi", "ada.obi@bank.ng"
    )
    assert stored.created_at is not None and stored.is_active
    found = await search.search_customers(caller, business_id=caller.business_id, q="obi@ba")
    assert [c.id for c in found] == [stored.id]
    again, created = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="ADA.OBI@bank.ng", name=None, phone=None
    )
    assert again.id == stored.id and not created


async def test_one_email_twice_in_a_call_is_one_customer(caller):
    outcome = await run(
        caller,
        [{"email": "twice@x.ng", "name": "First"}, {"email": "a@x.ng"}, {"email": "TWICE@x.ng"}],
    )
    first, _, later = outcome.results
    assert first.created and not later.created
    assert first.customer.id == later.customer.id and later.customer.name == "First"
    assert (outcome.created_count, outcome.found_count, outcome.failed_count) == (2, 1, 0)


async def test_a_deleted_customers_email_gets_a_new_customer(caller):
    old, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="gone@x.ng", name=None, phone=None
    )
    await svc.delete_customer(caller, customer_id=old.id)
    outcome = await run(caller, [{"email": "gone@x.ng"}])
    assert outcome.results[0].created and outcome.results[0].customer.id != old.id


async def test_size_and_business_are_checked_before_anything(caller, app):
    for inputs in ([], [{"email": f"r{n}@x.ng"} for n in range(bulk.BULK_MAX + 1)]):
        with pytest.raises(BadUserInput):
            await run(caller, inputs)
    other = await make_tenant("Bulk other")
    with pytest.raises(Forbidden):
        await bulk.find_or_create_customers(
            caller, business_id=other.business_id, inputs=[{"email": "a@x.ng"}]
        )
    assert await Customer.filter(business_id=caller.business_id).count() == 0
    full = await run(caller, [{"email": f"r{n}@x.ng"} for n in range(bulk.BULK_MAX)])
    assert full.created_count == bulk.BULK_MAX
    assert await Customer.filter(business_id=caller.business_id).count() == bulk.BULK_MAX
    page = await svc.customer_page(caller, business_id=caller.business_id, first=1, after=None)
    assert await page.total_count() == bulk.BULK_MAX  # the counter follows a multi-row insert


async def test_concurrent_bulk_and_single_calls_in_one_process(caller):
    """Overlapping emails, in opposite orders, from bulk and single calls at once."""
    emails = [f"race{n}@x.ng" for n in range(60)]

    async def single(email: str) -> tuple[str, bool]:
        row, created = await svc.find_or_create_customer(
            caller, business_id=caller.business_id, email=email, name=None, phone=None
        )
        return row.id, created

    calls = [
        run(caller, [{"email": e} for e in emails]),
        run(caller, [{"email": e} for e in reversed(emails)]),
        *(single(e) for e in emails[::3]),
    ]
    answers = await asyncio.gather(*calls)
    created: dict[str, int] = dict.fromkeys(emails, 0)
    ids: dict[str, set[str]] = {e: set() for e in emails}
    for answer in answers[:2]:
        for result in answer.results:
            email = result.customer.email
            created[email] += result.created
            ids[email].add(result.customer.id)
    for email, (row_id, was_created) in zip(emails[::3], answers[2:], strict=True):
        created[email] += was_created
        ids[email].add(row_id)
    assert set(created.values()) == {1}
    assert all(len(v) == 1 for v in ids.values())
    assert await Customer.filter(business_id=caller.business_id, is_active=True).count() == 60


async def test_each_created_row_writes_one_created_event_in_its_transaction(caller, raw_db):
    await run(caller, [{"email": "seen@ev.ng"}])
    outcome = await run(
        caller,
        [
            {"email": "new1@ev.ng"},
            {"email": "SEEN@ev.ng"},
            {"email": "bad"},
            {"email": "new1@ev.ng"},
        ],
    )
    created = {c.id for c in outcome.created}
    rows = await raw_db.fetch(
        "SELECT customer_id, type, actor, changed_fields FROM customer_event "
        "WHERE business_id = $1 ORDER BY seq",
        caller.business_id,
    )
    assert [r["type"] for r in rows] == ["CREATED", "CREATED"]  # one per customer ever created
    assert rows[1]["customer_id"] in created and len(created) == 1
    assert {r["actor"] for r in rows} == {caller.key_prefix} and rows[0]["changed_fields"] == []


async def test_a_full_call_takes_turns_on_the_event_loop(caller, settled_heap):
    """500 new rows are about 150 ms of CPU: built in slices, never holding the loop long."""
    from app.http.looplag import LoopLagProbe
    from app.jobs.seed import people
    from tests.test_fairness import LOOP_STALL_LIMIT_S

    rows = [
        {"email": p["email"], "name": p["name"], "phone": p["phone"]} for p in people(5, 0, 501)
    ]
    await run(caller, rows[:1])  # first use: lazy imports, phone metadata
    probe = LoopLagProbe(interval_s=0.002, export=False)
    probe.start()
    await asyncio.sleep(0.01)  # the probe is sleeping before the call starts
    try:
        outcome = await run(caller, rows[1:])
    finally:
        await probe.stop()
    assert outcome.created_count == 500
    assert probe.worst_s < LOOP_STALL_LIMIT_S, f"loop held {probe.worst_s * 1000:.1f} ms"


async def test_a_call_pays_for_its_rows_before_any_is_touched(caller):
    """The rows are paid for first (app.meter.pay_rows): refused, nothing is written;
    paid, the same rows are not paid again by a second look in the same request."""
    from app import meter
    from app.services.errors import RateLimited

    asked: list[float] = []
    rows = [{"email": f"paid{n}@x.ng"} for n in range(5)]
    refuse = meter.metered(lambda cost: asked.append(cost) or 2.5)
    with refuse, pytest.raises(RateLimited) as refused:
        await run(caller, rows)
    assert refused.value.retry_after == 2.5 and asked == [4]  # five rows, one paid at the door
    assert await Customer.filter(business_id=caller.business_id).count() == 0

    asked.clear()
    with meter.metered(lambda cost: asked.append(cost) or 0.0):
        assert meter.pay_rows(5) == 0.0
        outcome = await run(caller, rows)
    assert asked == [4] and len(outcome.created) == 5


async def test_the_scope_is_checked_before_the_business(caller):
    reader = Caller(caller.business_id, caller.key_prefix, scope=Scope.READ)
    with pytest.raises(Forbidden) as refused:
        await bulk.find_or_create_customers(
            reader, business_id="biz_someone_else", inputs=[{"email": "a@x.ng"}]
        )
    assert refused.value.message == "This API key may only read"


async def test_rows_record_a_defaulted_name_as_the_single_path(caller):
    outcome = await run(
        caller,
        [{"email": "no.name@shop.ng"}, {"email": "named@shop.ng", "name": "Named Person"}],
    )
    defaulted, named = (r.customer for r in outcome.results)
    assert defaulted is not None and named is not None
    assert defaulted.name == "no.name" and defaulted.name_from_email is True
    assert named.name_from_email is False  # as served from the call's own rows
    for row, flag in ((defaulted, True), (named, False)):
        stored = await svc.get_customer(caller, row.id)
        assert stored is not None and stored.name_from_email is flag
