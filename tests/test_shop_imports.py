"""A backfill from a shop's export, linked on its connection, then the shop's webhooks:
one customer per shopper throughout."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.imports.errors import ImportFileError
from app.jobs.importer import Options, import_file
from tests.conftest import make_tenant
from tests.shops import connect, linked, shopify_customer, woo_customer
from tests.test_cli import arun
from tests.test_import_formats import SHOPIFY_HEADER, SHOPIFY_ROWS

CUSTOMERS = "query($b: ID!) { customers(businessId: $b, limit: 100) { id email } }"


def _export(tmp_path, rows=SHOPIFY_ROWS):
    path = tmp_path / "customers_export.csv"
    path.write_bytes(("\r\n".join([SHOPIFY_HEADER, *rows]) + "\r\n").encode("utf-8-sig"))
    return path


async def test_a_shopify_export_linked_then_webhooks_update_the_same_customers(
    gql, client, tenant, tmp_path
):
    shop = await connect(gql, client, tenant)
    path = _export(tmp_path)
    summary = await import_file(
        path,
        business_id=tenant.business_id,
        report=tmp_path / "report.csv",
        options=Options(connection=shop.id),
        show_progress=False,
    )
    assert "Customer ID" not in summary.unused  # read: it is linked
    # Every row with a customer and an id: 2, 4, 6, 7 (found: line 2's customer), 8.
    assert summary.linked == 5
    ada = await linked(gql, tenant, shop, "7210448301122")
    assert ada["email"] == "ada.obi@shop.ng"
    assert [x["id"] for x in ada["externalIds"]] == ["7210448301122", "7210448301126"]
    before = (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"]

    # Switching on webhooks: Ada changed her email in the shop since the export.
    update = shopify_customer(id=7210448301122, email="ada@obi.ng", first_name="Ada")
    assert (await shop.shopify("customers/update", update)).status_code == 200
    after = (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"]
    assert len(after) == len(before)  # no second Ada
    assert (await linked(gql, tenant, shop, "7210448301122"))["email"] == "ada@obi.ng"

    # Importing the export again links nothing new and changes no link.
    again = await import_file(
        path,
        business_id=tenant.business_id,
        report=tmp_path / "report2.csv",
        options=Options(connection=shop.id),
        restart=True,
        show_progress=False,
    )
    assert again.linked == 0


async def test_woocommerce_objects_link_their_id_and_the_cli_says_so(gql, client, tenant, tmp_path):
    shop = await connect(gql, client, tenant, "WOOCOMMERCE")
    path = tmp_path / "customers.json"
    objects = [woo_customer(), woo_customer(id=26, email="emeka@example.ng", first_name="Emeka")]
    path.write_text(json.dumps(objects))
    out = await arun("import", str(path), "--business", tenant.business_id, "--connection", shop.id)
    assert out.returncode == 0, out.stderr
    assert "linked 2 shop customer id(s) on the connection" in out.stdout
    emeka = await linked(gql, tenant, shop, "26")
    assert emeka["email"] == "emeka@example.ng"
    updated = woo_customer(id=26, email="emeka@example.ng", first_name="Chukwuemeka")
    assert (await shop.woo("customer.updated", updated)).status_code == 200
    assert (await linked(gql, tenant, shop, "26"))["id"] == emeka["id"]


async def test_a_connection_that_does_not_fit_the_file_is_refused_before_any_write(
    gql, client, tenant, tmp_path
):
    woo = await connect(gql, client, tenant, "WOOCOMMERCE")
    stranger = await make_tenant("Elsewhere")
    theirs = await connect(gql, client, stranger)
    analytics = tmp_path / "analytics.csv"
    analytics.write_text(
        "Name,Username,Last Active,Date Registered,Email,Orders,Total Spend,AOV,"
        "Country / Region,City,Region,Postal Code\n"
        "Ife Bello,ife,2026-12-01,2026-01-01,ife@example.ng,2,5000,2500,NG,Lagos,LA,100001\n"
    )
    cases = [
        (_export(tmp_path), woo.id, "is a WooCommerce connection"),
        (_export(tmp_path), theirs.id, "no such shop connection"),
        (analytics, woo.id, "no shop customer ids"),
    ]
    for path, connection, message in cases:
        with pytest.raises(ImportFileError, match=message):
            await import_file(
                path,
                business_id=tenant.business_id,
                report=tmp_path / "r.csv",
                options=Options(connection=connection),
                show_progress=False,
            )
    assert (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"] == []


async def test_a_delivery_racing_an_import_s_link_updates_the_import_s_customer(
    gql, client, tenant
):
    """The import's batch links the shop id (uncommitted) while the shop's update, with a
    new email, arrives: the delivery waits, sees the link, and updates that customer."""
    from app.db.transaction import transaction
    from app.services import shop_sync
    from tests.shops import BIG_ID

    shop = await connect(gql, client, tenant)
    made = await gql.data(
        tenant,
        "mutation($b: ID!) { createCustomer(businessId: $b, input: "
        '{name: "Bob", email: "old@biller.com"}) { customer { id } } }',
        {"b": tenant.business_id},
    )
    bob = made["createCustomer"]["customer"]["id"]
    update = shopify_customer(email="new@biller.com")
    linking = asyncio.Event()

    async def deliver():
        await linking.wait()
        return await shop.shopify("customers/update", update)

    delivery = asyncio.ensure_future(deliver())  # made outside the batch's transaction
    async with transaction() as batch:
        assert await shop_sync.link_all(batch, shop.id, "shopify", [(bob, str(BIG_ID))]) == 1
        linking.set()
        await asyncio.sleep(0.5)
        assert not delivery.done()  # it waits for the batch's link
    answer = await delivery
    assert answer.status_code == 200 and answer.json() == {"status": "applied"}
    listed = (await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id}))["customers"]
    assert listed == [{"id": bob, "email": "new@biller.com"}]  # one customer per shopper
