"""`finora business export ID --out FILE`: every customer of the business (active,
deleted, erased) once, as the API reads it, with its externalIds, in a file only
its owner can read; a clear refusal and no file otherwise; a killed export leaves
no file under the final name and picks up where it stopped; memory flat with size."""

from __future__ import annotations

import fcntl
import json
import logging
import stat
import tracemalloc
from pathlib import Path

import pytest

from app.jobs import export
from app.jobs.export import ExportError, export_business, partial_path
from app.jobs.seed import seed_demo
from tests.conftest import make_tenant
from tests.shops import BIG_ID, connect, linked, shopify_customer
from tests.test_api import DELETE, FIELDS, create
from tests.test_at_rest import PEOPLE
from tests.test_cli import arun, assert_one_clear_line
from tests.test_erasure import ERASE

GET = f"""query($id: ID!) {{ customer(id: $id) {{ {FIELDS} erasedAt
  externalIds {{ platform connectionId id linkedAt removedAt }} }} }}"""
SMALL, LARGE = 500, 2000


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def killed_on_the_third_batch(monkeypatch, business_id: str, out: Path, **options) -> None:
    """An export that dies as it reads its third batch (a kill, as far as the file goes)."""
    real = export.links_of
    reads = 0

    async def dying(ids):
        nonlocal reads
        reads += 1
        if reads == 3:
            raise RuntimeError("killed")
        return await real(ids)

    monkeypatch.setattr(export, "links_of", dying)
    with pytest.raises(RuntimeError, match="killed"):
        await _export(business_id, out, **options)
    monkeypatch.setattr(export, "links_of", real)


async def _export(business_id: str, out: Path, **options) -> export.Summary:
    return await export_business(business_id, out, show_progress=False, **options)


async def test_every_customer_once_decrypted_as_the_api_reads_it(
    gql, client, tenant, other, tmp_path
):
    shop = await connect(gql, client, tenant)
    assert (await shop.shopify("customers/create", shopify_customer())).status_code == 200
    shopper = await linked(gql, tenant, shop, str(BIG_ID))
    assert shopper is not None
    full = await create(gql, tenant, **PEOPLE[0], companyName="Okafor & Daughters")
    deleted = await create(gql, tenant, name="Tunde Bello", email="tunde@example.ng")
    assert (await gql.data(tenant, DELETE, {"id": deleted["id"]}))["deleteCustomer"][
        "userErrors"
    ] == []
    erased = await create(gql, tenant, name="Amaka Eze", email="amaka@example.ng", tin="1234567890")
    assert (await gql.data(tenant, ERASE, {"id": erased["id"]}))["eraseCustomer"][
        "userErrors"
    ] == []
    foreign = await create(gql, other, name="Not Theirs", email="other@example.ng")

    out = tmp_path / "export.jsonl"
    result = await arun("business", "export", tenant.business_id, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"exported 4 customer(s) of {tenant.business_id}")
    assert mode(out) == 0o600
    assert sorted(tmp_path.iterdir()) == [out]  # no FILE.partial left

    rows = lines(out)
    ids = [row["id"] for row in rows]
    assert ids == sorted(set(ids))  # each once, by id
    assert set(ids) == {shopper["id"], full["id"], deleted["id"], erased["id"]}
    assert foreign["id"] not in ids
    for row in rows:  # every contract field and externalIds, as customer(id) answers
        assert row == (await gql.data(tenant, GET, {"id": row["id"]}))["customer"]
    by_id = {row["id"]: row for row in rows}
    assert by_id[full["id"]]["tin"] == PEOPLE[0]["tin"]  # decrypted
    assert by_id[full["id"]]["phone"] == "+2348035550199"
    [link] = by_id[shopper["id"]]["externalIds"]
    assert (link["platform"], link["connectionId"], link["id"]) == ("SHOPIFY", shop.id, str(BIG_ID))
    assert by_id[deleted["id"]]["isActive"] is False and by_id[deleted["id"]]["erasedAt"] is None
    gone = by_id[erased["id"]]
    assert (gone["isActive"], gone["email"], gone["tin"], gone["phone"]) == (False, "", None, None)
    assert gone["erasedAt"] is not None


async def test_an_unknown_business_is_one_clear_line_and_no_file(settings, tmp_path):
    out = tmp_path / "export.jsonl"
    result = await arun("business", "export", "biz_nope", "--out", str(out))
    assert_one_clear_line(result, "no business", "biz_nope")
    assert list(tmp_path.iterdir()) == []


async def test_an_existing_file_is_refused_unless_forced(gql, tenant, tmp_path):
    await create(gql, tenant, name="Ada Obi", email="ada@example.ng")
    out = tmp_path / "export.jsonl"
    out.write_text("keep me\n")
    out.chmod(0o644)
    refused = await arun("business", "export", tenant.business_id, "--out", str(out))
    assert_one_clear_line(refused, "exists")
    assert out.read_text() == "keep me\n"
    assert sorted(tmp_path.iterdir()) == [out]

    forced = await arun("business", "export", tenant.business_id, "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert [row["email"] for row in lines(out)] == ["ada@example.ng"]
    assert mode(out) == 0o600  # a new private file, not the old one rewritten


@pytest.fixture(scope="module")
async def seeded(app, raw_db):
    """Two businesses of SMALL and LARGE demo customers, deleted again after the module."""
    small, large = await make_tenant("Export small"), await make_tenant("Export large")
    for tenant, count in ((small, SMALL), (large, LARGE)):
        await seed_demo(raw_db, business_id=tenant.business_id, count=count, show_progress=False)
    yield small, large
    await raw_db.execute(
        "DELETE FROM customer WHERE business_id = ANY($1)", [small.business_id, large.business_id]
    )


async def test_memory_stays_flat_with_the_number_of_customers(seeded, tmp_path):
    small, large = seeded
    await _export(small.business_id, tmp_path / "warm.jsonl", batch_size=100)  # caches, plans
    peaks = {}
    tracemalloc.start()
    try:
        for tenant, count in ((small, SMALL), (large, LARGE)):
            tracemalloc.reset_peak()
            summary = await _export(tenant.business_id, tmp_path / f"{count}.jsonl", batch_size=100)
            peaks[count] = tracemalloc.get_traced_memory()[1]
            assert summary.written == count
    finally:
        tracemalloc.stop()
    # Four times the customers, about the same peak: a batch, never the whole business.
    assert peaks[LARGE] < peaks[SMALL] * 1.5 + 256 * 1024, peaks


async def test_a_killed_export_leaves_no_file_and_resumes_where_it_stopped(
    seeded, tmp_path, monkeypatch
):
    small, _ = seeded
    whole = tmp_path / "whole.jsonl"
    await _export(small.business_id, whole, batch_size=100)
    out = tmp_path / "export.jsonl"
    partial = partial_path(out)

    await killed_on_the_third_batch(monkeypatch, small.business_id, out, batch_size=100)
    assert not out.exists()  # no half file under the final name
    assert mode(partial) == 0o600 and len(lines(partial)) == 200
    with partial.open("ab") as torn:  # the kill came in the middle of a line
        torn.write(b'{"id":"cust_')

    summary = await _export(small.business_id, out, batch_size=100)
    assert (summary.resumed_after, summary.written) == (200, SMALL)
    assert out.read_bytes() == whole.read_bytes()  # each customer once, the torn line gone
    assert not partial.exists() and mode(out) == 0o600


async def test_a_partial_file_that_is_not_this_export_s_is_refused(seeded, tmp_path):
    small, large = seeded
    out = tmp_path / "export.jsonl"
    partial = partial_path(out)
    partial.write_bytes(b'{"id":"cust_x","businessId":"%s"}\n' % large.business_id.encode())
    partial.chmod(0o600)
    with partial.open("rb") as held:  # another export is writing it
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export"):
            await _export(small.business_id, out)
    with pytest.raises(ExportError, match="another business"):
        await _export(small.business_id, out)
    summary = await _export(small.business_id, out, restart=True)  # started over
    assert (summary.written, summary.resumed_after) == (SMALL, 0)
    out.unlink()
    partial.write_bytes(b"")
    partial.chmod(0o644)  # readable by others: never filled with PII
    with pytest.raises(ExportError, match="not a private file"):
        await _export(small.business_id, out)
    assert not out.exists()


async def test_a_value_that_does_not_open_leaves_that_customer_out_by_id(
    gql, tenant, raw_db, tmp_path, caplog
):
    first = await create(gql, tenant, name="Bola Ade", email="bola@example.ng")
    second = await create(gql, tenant, name="Chidi Nwosu", email="chidi@example.ng")
    own = await raw_db.fetchval("SELECT email FROM customer WHERE id = $1", second["id"])
    # A ciphertext copied from another row: its AAD names the other row, so it does not open.
    await raw_db.execute(
        "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $2) WHERE id = $1",
        second["id"],
        first["id"],
    )
    try:
        with caplog.at_level(logging.WARNING, logger="finora.jobs"):
            summary = await _export(tenant.business_id, tmp_path / "export.jsonl")
    finally:  # other tests walk every customer
        await raw_db.execute("UPDATE customer SET email = $2 WHERE id = $1", second["id"], own)
    assert summary.unreadable == [second["id"]] and summary.written == 1
    assert [row["id"] for row in lines(tmp_path / "export.jsonl")] == [first["id"]]
    assert second["id"] in caplog.text and "bola@example.ng" not in caplog.text


async def test_a_partial_file_is_not_resumed_once_the_business_changed_under_it(
    gql, tenant, raw_db, tmp_path, monkeypatch
):
    """Found in review: a resumed run trusted its kept lines.  An erasure since must not
    publish the erased data, and a customer left out as unreadable must not stay out
    of a file that then looks complete."""
    made = [
        await create(gql, tenant, name=f"Kept {n}", email=f"kept{n}@example.ng") for n in range(3)
    ]
    out = tmp_path / "export.jsonl"
    await killed_on_the_third_batch(monkeypatch, tenant.business_id, out, batch_size=1)
    first = min(made, key=lambda c: c["id"])
    assert lines(partial_path(out))[0]["email"] == first["email"]
    erased = await gql.data(tenant, ERASE, {"id": first["id"]})
    assert erased["eraseCustomer"]["userErrors"] == []
    with pytest.raises(ExportError, match="no longer matches"):
        await _export(tenant.business_id, out)
    assert not out.exists()
    summary = await _export(tenant.business_id, out, restart=True)
    assert summary.written == 3
    assert first["email"] not in out.read_text()  # the erased customer as it is now

    # A kept line whose customer is gone from the kept range (as when run 1 left an
    # unreadable one out): the ids no longer walk in step.
    whole = out.read_bytes().splitlines(keepends=True)
    out.unlink()
    partial = partial_path(out)
    partial.write_bytes(whole[0] + whole[2])  # the second customer left out
    partial.chmod(0o600)
    with pytest.raises(ExportError, match="no longer matches"):
        await _export(tenant.business_id, out)
    assert not out.exists()
