"""The customer rules, called as the resolvers call them, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest

from app.jobs.reindex import reindex
from app.models import Customer
from app.services import cursor, search
from app.services import customers as svc
from app.services.access import Caller, Scope
from app.services.errors import BadUserInput, Forbidden, InvalidInput
from tests.conftest import make_tenant


@pytest.fixture
async def caller(app) -> Caller:
    tenant = await make_tenant("Services")
    return Caller(tenant.business_id, "test")


def user_errors(exc: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[tuple[str, ...], str]]:
    return {(tuple(e.field or ()), e.code) for e in exc.value.errors}


async def create(caller: Caller, name: str, email: str, **extra: str | None) -> Customer:
    return await svc.create_customer(
        caller, business_id=caller.business_id, values={"name": name, "email": email, **extra}
    )


async def test_create_normalises_and_encrypts(caller):
    customer = await create(
        caller, "  Ada Obi ", " ADA@Example.com ", phone="0801 234 5678", tin="12345678-0001"
    )
    assert customer.id.startswith("cust_") and len(customer.id) > 20
    assert (customer.name, customer.email, customer.phone) == (
        "Ada Obi",
        "ada@example.com",
        "+2348012345678",
    )
    fresh = await svc.get_customer(caller, customer.id)
    assert fresh is not None
    assert fresh.sealed("email") is not None  # read back as ciphertext, opened on access
    assert fresh.email == "ada@example.com"
    assert fresh.tin == "12345678-0001"
    assert fresh.address is None and fresh.company_name is None
    assert fresh.account_balance_kobo == 0 and fresh.is_active


async def test_create_taken_for_active_duplicate_email(caller):
    await create(caller, "Ada", "dup@example.com")
    with pytest.raises(InvalidInput) as caught:
        await create(caller, "Ada Again", "DUP@example.com")
    assert user_errors(caught) == {(("input", "email"), "TAKEN")}
    assert await Customer.filter(business_id=caller.business_id).count() == 1


async def test_same_email_in_another_business_is_fine(caller):
    other = await make_tenant("Other")
    await create(caller, "Ada", "shared@example.com")
    await create(Caller(other.business_id, "x"), "Ada", "shared@example.com")


async def test_invalid_input_writes_nothing(caller):
    with pytest.raises(InvalidInput) as caught:
        await create(caller, "", "bad", phone="1", tin="x", address="a" * 501)
    assert user_errors(caught) == {
        (("input", "name"), "BLANK"),
        (("input", "email"), "INVALID"),
        (("input", "phone"), "INVALID"),
        (("input", "tin"), "INVALID"),
        (("input", "address"), "TOO_LONG"),
    }
    assert await Customer.filter(business_id=caller.business_id).count() == 0


async def test_foreign_business_is_forbidden(caller):
    other = await make_tenant("Other")
    with pytest.raises(Forbidden):
        await svc.list_customers(caller, business_id=other.business_id, limit=10)
    with pytest.raises(Forbidden):
        await svc.create_customer(
            caller, business_id=other.business_id, values={"name": "A", "email": "a@x.ng"}
        )
    with pytest.raises(Forbidden):
        await search.search_customers(caller, business_id=other.business_id, q="a")
    with pytest.raises(Forbidden):
        await svc.customer_page(caller, business_id=other.business_id, first=5, after=None)
    with pytest.raises(Forbidden):
        await svc.find_or_create_customer(
            caller, business_id=other.business_id, email="a@x.ng", name=None, phone=None
        )


async def test_foreign_customer_is_like_a_missing_one(caller):
    other = Caller((await make_tenant("Other")).business_id, "x")
    theirs = await create(other, "Theirs", "theirs@example.com")
    assert await svc.get_customer(caller, theirs.id) is None
    for call in (
        svc.update_customer(caller, customer_id=theirs.id, changes={"name": "Mine"}),
        svc.delete_customer(caller, customer_id=theirs.id),
        svc.update_customer(caller, customer_id="cust_doesnotexist", changes={"name": "Mine"}),
    ):
        with pytest.raises(InvalidInput) as caught:
            await call
        assert user_errors(caught) == {(("id",), "NOT_FOUND")}
    unchanged = await svc.get_customer(other, theirs.id)
    assert unchanged is not None and unchanged.name == "Theirs" and unchanged.is_active


async def test_find_or_create(caller):
    first, created = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="Jane.Doe@Example.com", name=None, phone=None
    )
    assert created and first.name == "jane.doe" and first.email == "jane.doe@example.com"
    again, created = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email=" jane.doe@example.COM", name="X", phone=None
    )
    assert not created and again.id == first.id and again.name == "jane.doe"


async def test_find_or_create_validates_everything_even_when_found(caller):
    await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="v@example.com", name=None, phone=None
    )
    with pytest.raises(InvalidInput) as caught:
        await svc.find_or_create_customer(
            caller, business_id=caller.business_id, email="v@example.com", name=None, phone="12"
        )
    assert user_errors(caught) == {(("input", "phone"), "INVALID")}


async def test_find_or_create_is_safe_under_concurrency(caller):
    calls = [
        svc.find_or_create_customer(
            caller, business_id=caller.business_id, email="race@example.com", name=None, phone=None
        )
        for _ in range(40)
    ]
    results = await asyncio.gather(*calls)
    assert sum(created for _, created in results) == 1
    assert len({customer.id for customer, _ in results}) == 1
    assert await Customer.filter(business_id=caller.business_id).count() == 1


async def test_update_absent_null_and_blank(caller):
    customer = await create(
        caller, "Ada", "ada@example.com", phone="08012345678", address="1 Marina", tin="1234567890"
    )
    updated = await svc.update_customer(
        caller, customer_id=customer.id, changes={"phone": None, "address": "  ", "name": "Ada B"}
    )
    fresh = await svc.get_customer(caller, customer.id)
    assert fresh is not None
    assert (fresh.name, fresh.name_lower, fresh.phone, fresh.address, fresh.tin) == (
        "Ada B",
        "ada b",
        None,
        None,
        "1234567890",
    )
    assert fresh.updated_at >= customer.updated_at and updated.id == customer.id


async def test_update_cannot_clear_name_or_email(caller):
    customer = await create(caller, "Ada", "clear@example.com")
    with pytest.raises(InvalidInput) as caught:
        await svc.update_customer(
            caller, customer_id=customer.id, changes={"name": None, "email": None}
        )
    assert user_errors(caught) == {(("input", "name"), "BLANK"), (("input", "email"), "BLANK")}


async def test_update_validates_before_reading(caller):
    with pytest.raises(InvalidInput) as caught:
        await svc.update_customer(caller, customer_id="cust_missing", changes={"email": "bad"})
    assert user_errors(caught) == {(("input", "email"), "INVALID")}


async def test_update_email_taken_and_blind_index_follows(caller):
    a = await create(caller, "A", "a@example.com")
    await create(caller, "B", "b@example.com")
    with pytest.raises(InvalidInput) as caught:
        await svc.update_customer(caller, customer_id=a.id, changes={"email": "B@example.com"})
    assert user_errors(caught) == {(("input", "email"), "TAKEN")}
    await svc.update_customer(caller, customer_id=a.id, changes={"email": "a2@example.com"})
    found, created = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="a2@example.com", name=None, phone=None
    )
    assert not created and found.id == a.id
    _, created = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="a@example.com", name=None, phone=None
    )
    assert created  # the old email is free again


async def test_soft_delete_is_idempotent_and_frees_the_email(caller):
    customer = await create(caller, "Gone", "gone@example.com")
    deleted = await svc.delete_customer(caller, customer_id=customer.id)
    assert not deleted.is_active and deleted.deleted_at is not None
    again = await svc.delete_customer(caller, customer_id=customer.id)
    assert not again.is_active and again.deleted_at == deleted.deleted_at
    assert await svc.list_customers(caller, business_id=caller.business_id, limit=10) == []
    assert await search.search_customers(caller, business_id=caller.business_id, q="gone") == []
    still = await svc.get_customer(caller, customer.id)
    assert still is not None and not still.is_active
    replacement = await create(caller, "New", "gone@example.com")
    assert replacement.id != customer.id
    # Updating a deleted customer works and keeps it inactive.
    updated = await svc.update_customer(caller, customer_id=customer.id, changes={"name": "Old"})
    assert updated.name == "Old" and not updated.is_active


NAMES = ["bola", "Áda", "ada", "Ada", "Zainab", "émeka", "Chidi", "_x", "%y", "ADA"]


async def test_lists_are_sorted_by_lowercased_name_in_code_point_order(caller):
    for n, name in enumerate(NAMES):
        await create(caller, name, f"p{n}@example.com")
    rows = await svc.list_customers(caller, business_id=caller.business_id, limit=100)
    keys = [(r.name.lower(), r.id) for r in rows]
    assert keys == sorted(keys)  # Python sorts str by code point
    # Code-point order puts accented letters after z, whatever the database locale.
    assert [r.name.lower() for r in rows] == [
        "%y",
        "_x",
        "ada",
        "ada",
        "ada",
        "bola",
        "chidi",
        "zainab",
        "áda",
        "émeka",
    ]
    assert len(await svc.list_customers(caller, business_id=caller.business_id, limit=3)) == 3


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_limit_out_of_range(caller, limit):
    with pytest.raises(BadUserInput):
        await svc.list_customers(caller, business_id=caller.business_id, limit=limit)
    with pytest.raises(BadUserInput):
        await svc.customer_page(caller, business_id=caller.business_id, first=limit, after=None)


async def test_keyset_pages_walk_every_active_customer_once(caller):
    for n in range(23):
        await create(caller, f"Same Name {n % 3}", f"walk{n}@example.com")
    deleted = await create(caller, "Same Name 1", "walk-deleted@example.com")
    await svc.delete_customer(caller, customer_id=deleted.id)
    seen: list[str] = []
    after = None
    while True:
        page = await svc.customer_page(caller, business_id=caller.business_id, first=5, after=after)
        assert await page.total_count() == 23
        seen += [c.id for c in page.customers]
        if not page.has_next_page:
            break
        after = page.end_cursor
    expected = await svc.list_customers(caller, business_id=caller.business_id, limit=100)
    assert seen == [c.id for c in expected]
    assert deleted.id not in seen


@pytest.mark.parametrize("cursor", ["", "garbage", "W10", "WyJ4Il0", "eyJhIjoxfQ", "%%%"])
async def test_malformed_cursor(caller, cursor):
    with pytest.raises(BadUserInput):
        await svc.customer_page(caller, business_id=caller.business_id, first=5, after=cursor)


async def test_empty_page_has_no_cursor(caller):
    page = await svc.customer_page(caller, business_id=caller.business_id, first=5, after=None)
    assert page.customers == [] and page.end_cursor is None and not page.has_next_page


async def test_search_matches_name_or_email_case_insensitively(caller):
    await create(caller, "Acme Ltd", "finance@acme.com")
    await create(caller, "Bola", "bola@ACMEcorp.ng")
    await create(caller, "Chidi", "chidi@example.com")
    found = await search.search_customers(caller, business_id=caller.business_id, q="  ACME ")
    assert [c.name for c in found] == ["Acme Ltd", "Bola"]
    assert [
        c.name
        for c in await search.search_customers(caller, business_id=caller.business_id, q="i@EX")
    ] == ["Chidi"]


async def test_search_treats_like_wildcards_literally(caller):
    await create(caller, "100% Pure", "pure@example.com")
    await create(caller, "Plain", "plain@example.com")
    await create(caller, "under_score", "u@example.com")
    names = lambda rows: [c.name for c in rows]  # noqa: E731
    assert names(await search.search_customers(caller, business_id=caller.business_id, q="%")) == [
        "100% Pure"
    ]
    assert names(await search.search_customers(caller, business_id=caller.business_id, q="_")) == [
        "under_score"
    ]
    assert (
        names(await search.search_customers(caller, business_id=caller.business_id, q="\\")) == []
    )


async def test_search_caps_at_50_in_name_order(caller):
    for n in range(55):
        await create(caller, f"Cap {n:02d}", f"cap{n}@example.com")
    found = await search.search_customers(caller, business_id=caller.business_id, q="cap")
    assert [c.name for c in found] == [f"Cap {n:02d}" for n in range(50)]


@pytest.mark.parametrize("q", ["", "   ", "x" * 101])
async def test_search_query_length(caller, q):
    with pytest.raises(BadUserInput):
        await search.search_customers(caller, business_id=caller.business_id, q=q)


@pytest.mark.parametrize("odd", ["x" * 500, "cust_" + "é" * 30, "", "cust_a b", "biz_abc"])
async def test_malformed_ids_are_simply_missing(caller, odd):
    assert await svc.get_customer(caller, odd) is None
    with pytest.raises(InvalidInput) as caught:
        await svc.delete_customer(caller, customer_id=odd)
    assert user_errors(caught) == {(("id",), "NOT_FOUND")}


async def test_update_reports_every_problem_at_once(caller):
    customer = await create(caller, "All", "all@example.com")
    with pytest.raises(InvalidInput) as caught:
        await svc.update_customer(
            caller, customer_id=customer.id, changes={"name": None, "phone": "abc", "tin": "zz"}
        )
    assert user_errors(caught) == {
        (("input", "name"), "BLANK"),
        (("input", "phone"), "INVALID"),
        (("input", "tin"), "INVALID"),
    }


async def test_concurrent_updates_keep_the_search_index_true(caller):
    customer = await create(caller, "Alice", "alice@first.ng")
    for round_ in range(5):
        await asyncio.gather(
            svc.update_customer(caller, customer_id=customer.id, changes={"name": f"Zed{round_}"}),
            svc.update_customer(
                caller, customer_id=customer.id, changes={"email": f"q{round_}@second.ng"}
            ),
        )
        by_name = await search.search_customers(
            caller, business_id=caller.business_id, q=f"zed{round_}"
        )
        by_email = await search.search_customers(
            caller, business_id=caller.business_id, q=f"q{round_}@second"
        )
        assert [c.id for c in by_name] == [c.id for c in by_email] == [customer.id]


async def test_a_cursor_with_a_nul_is_malformed(caller):
    from app.services import cursor

    with pytest.raises(BadUserInput):
        await svc.customer_page(
            caller, business_id=caller.business_id, first=5, after=cursor.encode("a\x00b", "cust_x")
        )


# A name that shows its email: recorded on every write -----------------------


async def _flag(caller: Caller, customer_id: str) -> bool | None:
    stored = await svc.get_customer(caller, customer_id)
    assert stored is not None
    return stored.name_from_email


def test_name_from_email_is_the_default_name_case_aside():
    assert svc.default_name("adaeze.okafor.e66834@mail.ng") == "adaeze.okafor.e66834"
    assert svc.name_from_email("adaeze.okafor.e66834", "adaeze.okafor.e66834@mail.ng")
    assert svc.name_from_email("ada", "ada@x.ng")  # "Ada" typed: shows as much
    assert not svc.name_from_email("ada obi", "ada@x.ng")
    assert not svc.name_from_email("ada", "ada.obi@x.ng")  # a part of it is a name
    long_local = "l" * 230 + "@x.ng"  # the default is cut to 200, as a name is
    assert svc.name_from_email("l" * 200, long_local)


async def test_find_or_create_records_a_defaulted_name(caller):
    defaulted, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="Ada.Obi@Shop.ng", name="  ", phone=None
    )
    named, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="bola@shop.ng", name="Bola Ade", phone=None
    )
    typed = await create(caller, "Chi", "chi@shop.ng")  # the local part, typed by hand
    assert defaulted.name == "ada.obi" and defaulted.name_from_email is True
    assert await _flag(caller, defaulted.id) is True
    assert await _flag(caller, named.id) is False
    assert await _flag(caller, typed.id) is True


async def test_update_a_name_clears_the_flag_an_email_alone_keeps_it(caller):
    customer, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="kept.name@shop.ng", name=None, phone=None
    )
    # A new email keeps the name, and the flag: the name still shows the old local part.
    moved = await svc.update_customer(
        caller, customer_id=customer.id, changes={"email": "new.box@shop.ng"}
    )
    assert moved.name == "kept.name" and await _flag(caller, customer.id) is True
    await svc.update_customer(caller, customer_id=customer.id, changes={"phone": "08012345678"})
    assert await _flag(caller, customer.id) is True  # other fields: untouched
    await svc.update_customer(caller, customer_id=customer.id, changes={"name": "Kept Name"})
    assert await _flag(caller, customer.id) is False  # a real name
    # An email whose local part is the name, or a name set to the local part: true again.
    await svc.update_customer(caller, customer_id=customer.id, changes={"name": "New.Box"})
    assert await _flag(caller, customer.id) is True
    await svc.update_customer(caller, customer_id=customer.id, changes={"name": "Kept"})
    await svc.update_customer(caller, customer_id=customer.id, changes={"email": "kept@shop.ng"})
    assert await _flag(caller, customer.id) is True


async def test_erasure_leaves_no_flag(caller):
    customer, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="erase.me@shop.ng", name=None, phone=None
    )
    erased = await svc.erase_customer(caller, customer_id=customer.id)
    assert erased.name == svc.ERASED_NAME and await _flag(caller, customer.id) is False


async def test_reindex_decides_unknown_flags_and_keeps_known_ones(caller, raw_db):
    defaulted, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="old.row@shop.ng", name=None, phone=None
    )
    named = await create(caller, "Old Row", "named.row@shop.ng")
    moved, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="was.here@shop.ng", name=None, phone=None
    )
    await svc.update_customer(caller, customer_id=moved.id, changes={"email": "now@shop.ng"})
    # As rows older than the column are: not known.
    await raw_db.execute(
        "UPDATE customer SET name_from_email = NULL WHERE id = ANY($1)", [defaulted.id, named.id]
    )
    assert await reindex(business_id=caller.business_id, only_missing=True, show_progress=False)
    assert await _flag(caller, defaulted.id) is True
    assert await _flag(caller, named.id) is False
    assert await _flag(caller, moved.id) is True  # set by its update; the old email is gone


async def test_a_masked_caller_reads_a_name_from_email_masked_and_gets_sealed_cursors(
    caller, raw_db
):
    masked = Caller(caller.business_id, "masked", Scope.READ_MASKED)
    defaulted, _ = await svc.find_or_create_customer(
        caller, business_id=caller.business_id, email="zed.q@shop.ng", name=None, phone=None
    )
    unknown = await create(caller, "Yemi", "yemi.o@shop.ng")
    await raw_db.execute("UPDATE customer SET name_from_email = NULL WHERE id = $1", unknown.id)
    named = await create(caller, "Ada Obi", "ada@shop.ng")
    shown = {
        r.id: r.name
        for r in await svc.list_customers(masked, business_id=masked.business_id, limit=10)
    }
    # Not decided yet (NULL) is treated as the default: masked until the backfill decides.
    assert shown == {defaulted.id: "z***", unknown.id: "Y***", named.id: "Ada Obi"}
    one = await svc.read_customer(masked, defaulted.id)
    assert one is not None and (one.name, one.email) == ("z***", "z***@shop.ng")
    clear = await svc.read_customer(caller, defaulted.id)
    assert clear is not None and clear.name == "zed.q"
    # Cursors: in clear for a clear caller, sealed after a hidden name, and both walk on.
    walked = []
    after = None
    while True:
        page = await svc.customer_page(masked, business_id=masked.business_id, first=1, after=after)
        walked += [r.id for r in page.customers]
        if not page.has_next_page:
            break
        after = page.end_cursor
        assert (
            after is not None
            and "zed" not in cursor_text(after)
            and "yemi" not in cursor_text(after)
        )
    assert walked == [named.id, unknown.id, defaulted.id]
    clear_page = await svc.customer_page(
        caller, business_id=caller.business_id, first=3, after=None
    )
    assert "zed.q" in cursor_text(svc.cursor_of(clear_page.customers[-1]))


def cursor_text(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


async def test_a_sealed_cursor_moved_or_tampered_is_malformed(caller):
    sealed = cursor.encode("zed.q", "cust_AAAAAAAAAAAAAAAAAAAAAA", sealed=True)
    assert cursor.decode(sealed) == ("zed.q", "cust_AAAAAAAAAAAAAAAAAAAAAA")
    _, box, _ = orjson.loads(cursor_text(sealed))
    for version, body, row_id in [
        ("c2", box, "cust_BBBBBBBBBBBBBBBBBBBBBB"),  # bound to its row id
        ("c2", box[:-4] + "AAA=", "cust_AAAAAAAAAAAAAAAAAAAAAA"),
        ("c2", "not base64!", "cust_AAAAAAAAAAAAAAAAAAAAAA"),
        ("c2", "", "cust_AAAAAAAAAAAAAAAAAAAAAA"),
    ]:
        forged = base64.urlsafe_b64encode(orjson.dumps([version, body, row_id])).decode()
        with pytest.raises(BadUserInput):
            await svc.customer_page(caller, business_id=caller.business_id, first=1, after=forged)
