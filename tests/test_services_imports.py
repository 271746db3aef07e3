"""The rules of an import (app.services.imports) and of the field mapping
(app.shoppers), tested at the service, below the file readers."""

from __future__ import annotations

import asyncio

import pytest

from app.models import Customer, CustomerEvent
from app.services import imports
from app.services.access import Caller
from app.services.imports import Update
from app.shoppers import platforms, rules
from tests.conftest import make_tenant


@pytest.fixture
async def caller(app) -> Caller:
    tenant = await make_tenant("Imports")
    return Caller(tenant.business_id, "test")


def row(email: str, **values: object) -> dict[str, object]:
    return {"email": email, **values}


async def test_a_bad_optional_value_is_left_out_and_strict_refuses(caller):
    bad = row("ada@svc.ng", name="Ada", phone="123", tin="x", address="ok street")
    [kept] = await imports.import_rows(caller, business_id=caller.business_id, rows=[bad])
    assert kept.created and not kept.errors
    assert [(e.field, e.code) for e in kept.warnings] == [
        (("inputs", "0", "phone"), "INVALID"),
        (("inputs", "0", "tin"), "INVALID"),
    ]
    ada = await Customer.get(id=kept.customer.id)
    assert (ada.name, ada.phone, ada.tin, ada.address) == ("Ada", None, None, "ok street")
    [refused] = await imports.import_rows(
        caller, business_id=caller.business_id, rows=[row("bola@svc.ng", phone="123")], strict=True
    )
    assert [e.code for e in refused.errors] == ["INVALID"] and refused.customer is None
    assert await Customer.filter(business_id=caller.business_id).count() == 1  # Ada only


async def test_racing_imports_of_one_new_shopper_make_one_customer(caller):
    rows = [row(f"race{n}@svc.ng", name=f"Race {n}", phone="08031234567") for n in range(50)]
    first, second = await asyncio.gather(
        *(
            imports.import_rows(
                caller, business_id=caller.business_id, rows=rows, update=Update.FILL
            )
            for _ in range(2)
        )
    )
    assert all(a.customer.id == b.customer.id for a, b in zip(first, second, strict=True))
    assert sum(r.created for r in [*first, *second]) == 50
    assert await Customer.filter(business_id=caller.business_id).count() == 50


async def test_a_dry_run_gives_the_outcomes_of_a_real_run_and_writes_nothing(caller):
    await imports.import_rows(caller, business_id=caller.business_id, rows=[row("old@svc.ng")])
    rows = [
        row("old@svc.ng", name="Old Friend"),
        row("new@svc.ng"),
        row("NEW@svc.ng", phone="08031234567"),
        row("bad"),
    ]
    events_before = await CustomerEvent.filter(business_id=caller.business_id).count()
    planned = await imports.import_rows(
        caller, business_id=caller.business_id, rows=rows, update=Update.FILL, dry_run=True
    )
    assert await Customer.filter(business_id=caller.business_id).count() == 1
    assert await CustomerEvent.filter(business_id=caller.business_id).count() == events_before
    done = await imports.import_rows(
        caller, business_id=caller.business_id, rows=rows, update=Update.FILL
    )

    def outcome(r):
        return "failed" if r.errors else "created" if r.created else r.updated or "found"

    assert [outcome(r) for r in planned] == [outcome(r) for r in done]
    assert [outcome(r) for r in done] == [["name"], "created", ["phone"], "failed"]


def test_the_mapping_rules_for_shop_objects():
    shopify = {
        "id": 706405506930370084,
        "email": "bob@example.ng",
        "first_name": "",
        "last_name": None,
        "phone": None,
        "default_address": {
            "first_name": "Bob",
            "last_name": "Norman",
            "company": "Acme",
            "address1": "Chestnut Street 92",
            "city": "Lagos",
            "province": "Lagos",
            "zip": "100001",
            "country": "Nigeria",
            "phone": "'+2348031234567",
        },
    }
    assert platforms.platform_of(shopify) == platforms.SHOPIFY
    assert rules.values(platforms.from_shopify(shopify)) == {
        "email": "bob@example.ng",
        "name": "Bob Norman",
        "phone": "+2348031234567",
        "address": "Chestnut Street 92, Lagos, Lagos, 100001, Nigeria",
        "company_name": "Acme",
        "tin": None,
    }
    assert platforms.unread_keys(platforms.SHOPIFY, shopify) == []  # id: the link's (shop_id)
    assert rules.shop_id(platforms.from_shopify(shopify).external_id) == str(shopify["id"])
    assert [
        rules.shop_id(v) for v in (706405506930370084, "'7210448301122", 0, "0", True, None)
    ] == ["706405506930370084", "7210448301122", None, None, None, None]
    only_company = rules.Shopper(email="x@y.ng", company=" Eze Stores ")
    assert rules.values(only_company)["name"] == "Eze Stores"
    assert rules.values(rules.Shopper(email="x@y.ng", first_name=["a"]))["name"] == ["a"]
    assert rules.phone_text('="08031234567"') == "08031234567"
