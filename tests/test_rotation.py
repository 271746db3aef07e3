"""Key rotation against a live service under light load; then the old key goes."""

from __future__ import annotations

import asyncio
import json

import httpx

from app.crypto.cipher import Cipher
from app.crypto.keys import KeySet, new_key
from app.webhooks import signing
from tests.conftest import _admin, running_server
from tests.test_api import CREATE, UPDATE
from tests.test_cli import arun, production_env

#: Every customer row as it is stored: a master key rotation must leave each one alone.
ROWS_SQL = "SELECT id, xmin::text AS version, email, phone FROM customer ORDER BY id"


async def test_rotate_under_load_rewrites_no_row_then_the_old_key_goes(fresh_db):
    """`finora keys rotate` wraps each data key again under the new master key while
    the service serves: no customer row is rewritten.  A secret still sealed under the
    old master key directly (the legacy scheme) keeps the old key needed until
    `finora keys migrate` moves it; after that the old key can go."""
    old = production_env(
        DATABASE_URL=fresh_db,
        FINORA_ENCRYPTION_KEYS=f"kold:{new_key()}",
        FINORA_DATA_KEY_CACHE_S="0.5",
    )
    assert (await arun("migrate", env=old)).returncode == 0
    business = json.loads((await arun("business", "create", "Rotate", "--json", env=old)).stdout)
    key = json.loads(
        (await arun("apikey", "create", "--business", business["id"], "--json", env=old)).stdout
    )
    seeded = await arun("seed-demo", "--business", business["id"], "--count", "2500", env=old)
    assert seeded.returncode == 0, seeded.stderr
    secret = signing.new_secret()  # a webhook secret of the legacy scheme, as stored before
    old_keys = Cipher(KeySet.parse(old["FINORA_ENCRYPTION_KEYS"], old["FINORA_INDEX_KEY"]))
    conn = await _admin(fresh_db)
    try:
        await conn.execute(
            "INSERT INTO webhook_endpoint (id, business_id, url, secret, event_types, enabled,"
            " created_at) VALUES ('whep_rot', $1, 'https://x.ng/', $2, '{CREATED}', true, now())",
            business["id"],
            old_keys.seal("webhook_endpoint", "secret", "whep_rot", secret),
        )
        await conn.execute("UPDATE business SET legacy_values = true WHERE id = $1", business["id"])
        before = {row["id"]: tuple(row) for row in await conn.fetch(ROWS_SQL)}
    finally:
        await conn.close()

    both = {**old, "FINORA_ENCRYPTION_KEYS": f"knew:{new_key()},{old['FINORA_ENCRYPTION_KEYS']}"}
    headers = {"Authorization": f"Bearer {key['key']}"}
    b = business["id"]
    written: list[str] = []
    async with (
        running_server(both) as server,
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http,
    ):

        async def light_load() -> None:
            for n in range(40):
                created = await http.post(
                    "/graphql",
                    json={
                        "query": CREATE,
                        "variables": {
                            "b": b,
                            "input": {
                                "name": f"During {n}",
                                "email": f"during{n}@rotate.ng",
                                "phone": "08031234567",
                            },
                        },
                    },
                )
                customer = created.json()["data"]["createCustomer"]["customer"]
                written.append(customer["id"])
                await http.post(
                    "/graphql",
                    json={
                        "query": UPDATE,
                        "variables": {
                            "id": written[n // 2],
                            "input": {"address": f"{n} Rotation Road"},
                        },
                    },
                )
                listed = await http.get("/v1/customers", params={"businessId": b, "limit": 100})
                assert listed.status_code == 200
                await asyncio.sleep(0.02)

        rotation, _ = await asyncio.gather(arun("keys", "rotate", env=both), light_load())
        assert rotation.returncode == 2, rotation.stderr
        assert "wrapped 1 data key(s) again" in rotation.stdout
        assert "1 value(s) are still sealed under an old master key directly" in rotation.stderr
        assert "finora keys migrate" in rotation.stderr
        migrated = await arun("keys", "migrate", env=both)
        assert migrated.returncode == 0, migrated.stderr
        again = await arun("keys", "rotate", env=both)
        assert again.returncode == 0, again.stderr
        assert "old master keys can be removed" in again.stdout

    conn = await _admin(fresh_db)
    try:
        after = {row["id"]: tuple(row) for row in await conn.fetch(ROWS_SQL)}
        masters = await conn.fetch("SELECT DISTINCT master_key_id FROM business_key")
        endpoint = await conn.fetchrow(
            "SELECT secret, key_id FROM webhook_endpoint WHERE id = 'whep_rot'"
        )
    finally:
        await conn.close()
    assert [row["master_key_id"] for row in masters] == ["knew"]
    assert all(after[row_id] == row for row_id, row in before.items())  # not one rewritten
    assert endpoint["key_id"] is not None and bytes(endpoint["secret"])[0] == 2  # moved

    # The old key is gone from the configuration: everything still reads.
    only_new = {**both, "FINORA_ENCRYPTION_KEYS": both["FINORA_ENCRYPTION_KEYS"].split(",")[0]}
    status = json.loads((await arun("keys", "status", "--json", env=only_new)).stdout)
    assert status["legacy_secrets"] == status["data_keys_under_old_master_key"] == 0
    async with (
        running_server(only_new) as server,
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http,
    ):
        after_cursor, seen = None, 0
        while True:
            page = await http.post(
                "/graphql",
                json={
                    "query": """query($b: ID!, $after: String) { customerConnection(businessId: $b,
                    first: 100, after: $after) { nodes { id email phone address tin }
                    pageInfo { hasNextPage endCursor } } }""",
                    "variables": {"b": b, "after": after_cursor},
                },
            )
            body = page.json()
            assert "errors" not in body, body["errors"][:1]
            connection = body["data"]["customerConnection"]
            seen += len(connection["nodes"])
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after_cursor = connection["pageInfo"]["endCursor"]
        assert seen == 2500 + len(written)
        check = await http.get(f"/v1/customers/{written[0]}")
        assert check.json()["data"]["address"] == "1 Rotation Road"  # the last of its two updates


async def test_a_value_that_does_not_open_is_skipped_not_fatal(gql, tenant, raw_db, caplog):
    """One damaged row (a value copied from another row) must not stop a job over every
    row: it is named in the log, left as it is, and every other row is done."""
    from app.jobs.reindex import reindex
    from tests.test_api import create

    damaged = await create(gql, tenant, name="Damaged", email="damaged@x.ng")
    donor = await create(gql, tenant, name="Donor", email="donor.rot@x.ng")
    await raw_db.execute(
        "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1),"
        " search_tokens = NULL WHERE id = $2",
        donor["id"],
        damaged["id"],
    )
    try:
        with caplog.at_level("WARNING", logger="finora.jobs"):
            await reindex(business_id=tenant.business_id, show_progress=False)
        assert f"row {damaged['id']} holds a value that does not open" in caplog.text
        tokens = await raw_db.fetchval(
            "SELECT search_tokens FROM customer WHERE id = $1", donor["id"]
        )
        assert tokens  # the others were indexed
    finally:
        await raw_db.execute("DELETE FROM customer WHERE id = $1", damaged["id"])
