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

STALE_SQL = (
    "SELECT count(*) FROM customer WHERE convert_from(substring(email from 3 for "
    "get_byte(email, 1)), 'UTF8') <> $1"
)


async def test_rotate_under_load_then_drop_the_old_key(fresh_db):
    old = production_env(DATABASE_URL=fresh_db, FINORA_ENCRYPTION_KEYS=f"kold:{new_key()}")
    assert (await arun("migrate", env=old)).returncode == 0
    business = json.loads((await arun("business", "create", "Rotate", "--json", env=old)).stdout)
    key = json.loads(
        (await arun("apikey", "create", "--business", business["id"], "--json", env=old)).stdout
    )
    seeded = await arun("seed-demo", "--business", business["id"], "--count", "2500", env=old)
    assert seeded.returncode == 0, seeded.stderr
    secret = signing.new_secret()  # a webhook secret sealed under the old key, as stored
    old_keys = Cipher(KeySet.parse(old["FINORA_ENCRYPTION_KEYS"], old["FINORA_INDEX_KEY"]))
    conn = await _admin(fresh_db)
    try:
        await conn.execute(
            "INSERT INTO webhook_endpoint (id, business_id, url, secret, event_types, enabled,"
            " created_at) VALUES ('whep_rot', $1, 'https://x.ng/', $2, '{CREATED}', true, now())",
            business["id"],
            old_keys.seal("webhook_endpoint", "secret", "whep_rot", secret),
        )
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
        assert rotation.returncode == 0, rotation.stderr
        assert "no value is left under an old key" in rotation.stdout

    conn = await _admin(fresh_db)
    try:
        assert await conn.fetchval(STALE_SQL, "knew") == 0
        sealed = await conn.fetchval("SELECT secret FROM webhook_endpoint WHERE id = 'whep_rot'")
    finally:
        await conn.close()
    new_only = Cipher(
        KeySet.parse(both["FINORA_ENCRYPTION_KEYS"].split(",")[0], old["FINORA_INDEX_KEY"])
    )
    assert new_only.open("webhook_endpoint", "secret", "whep_rot", sealed) == secret

    # The old key is gone from the configuration: everything still reads.
    only_new = {**both, "FINORA_ENCRYPTION_KEYS": both["FINORA_ENCRYPTION_KEYS"].split(",")[0]}
    async with (
        running_server(only_new) as server,
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http,
    ):
        after, seen = None, 0
        while True:
            page = await http.post(
                "/graphql",
                json={
                    "query": """query($b: ID!, $after: String) { customerConnection(businessId: $b,
                    first: 100, after: $after) { nodes { id email phone address tin }
                    pageInfo { hasNextPage endCursor } } }""",
                    "variables": {"b": b, "after": after},
                },
            )
            body = page.json()
            assert "errors" not in body, body["errors"][:1]
            connection = body["data"]["customerConnection"]
            seen += len(connection["nodes"])
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        assert seen == 2500 + len(written)
        check = await http.get(f"/v1/customers/{written[0]}")
        assert check.json()["data"]["address"] == "1 Rotation Road"  # the last of its two updates
