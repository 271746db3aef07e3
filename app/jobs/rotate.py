"""`finora keys rotate`: re-encrypt every PII value under the active key.

Put the new key first in FINORA_ENCRYPTION_KEYS (old keys after it), restart
the service, run this; when it reports nothing left, drop the old keys.

Rows are walked by id in batches, each committed with its cursor (a killed run
resumes).  A batch's writes are conditional on the ciphertext being unchanged,
so a request that rewrote a value meanwhile (necessarily under the active key)
wins; the final count, done in SQL from the key id in each value's header,
says whether another pass is needed, and the command runs passes until none is.
"""

from __future__ import annotations

from app import crypto
from app.crypto.cipher import DecryptionError, key_id_of
from app.jobs.batches import resume, unreadable, walk
from app.models import Customer

BATCH = 1000
COLUMNS = ("email", "phone", "address", "tin")
MAX_PASSES = 5

_UPDATE = (
    "UPDATE customer SET email = $2, phone = $3, address = $4, tin = $5 WHERE id = $1 "
    "AND email = $6 AND phone IS NOT DISTINCT FROM $7 "
    "AND address IS NOT DISTINCT FROM $8 AND tin IS NOT DISTINCT FROM $9"
)


def _header_key(column: str) -> str:
    """SQL for the key id in a sealed value's header (version, id length, id)."""
    return f"convert_from(substring({column} from 3 for get_byte({column}, 1)), 'UTF8')"


STALE = " OR ".join(f"({column} IS NOT NULL AND {_header_key(column)} <> $1)" for column in COLUMNS)


#: Signing secrets are sealed with the same keys (a few rows per business): the
#: webhook endpoints' (and the one kept during a rotation) and the shop connections'.
SECRETS = (
    ("webhook_endpoint", "secret"),
    ("webhook_endpoint", "previous_secret"),
    ("shop_connection", "secret"),
)


def _stale_secrets(table: str, column: str) -> str:
    return f"FROM {table} WHERE {column} IS NOT NULL AND {_header_key(column)} <> $1"


async def stale_rows() -> int:
    """Rows (customers, secrets) with a value sealed under an old key."""
    active = crypto.current().keys.active_id
    counts = " + ".join(
        f"(SELECT count(*) {_stale_secrets(table, column)})" for table, column in SECRETS
    )
    rows = await Customer._meta.db.execute_query_dict(
        f"SELECT (SELECT count(*) FROM customer WHERE {STALE}) + {counts} AS n", [active]
    )
    return int(rows[0]["n"])


async def _reseal_secrets() -> int:
    """Secrets under the active key; a secret changed meanwhile is left to it."""
    keys = crypto.current()
    db = Customer._meta.db
    resealed = 0
    for table, column in SECRETS:
        rows = await db.execute_query_dict(
            f"SELECT id, {column} AS sealed {_stale_secrets(table, column)}", [keys.keys.active_id]
        )
        for row in rows:
            old = bytes(row["sealed"])
            plain = keys.cipher.open(table, column, row["id"], old)
            new = keys.cipher.seal(table, column, row["id"], plain)
            await db.execute_query(
                f"UPDATE {table} SET {column} = $2 WHERE id = $1 AND {column} = $3",
                [row["id"], new, old],
            )
        resealed += len(rows)
    return resealed


async def _pass(*, restart: bool, show_progress: bool) -> int:
    keys = crypto.current()
    active = keys.keys.active_id
    job = await resume(f"rotate:{active}", restart=restart)

    def reseal(column: str, row_id: str, value: bytes | None) -> bytes | None:
        if value is None or key_id_of(value) == active:
            return value
        plain = keys.cipher.open("customer", column, row_id, value)
        return keys.cipher.seal("customer", column, row_id, plain)

    def rewrite(batch: list[tuple]) -> list[tuple]:
        updates = []
        for row_id, *sealed in batch:
            old = [None if value is None else bytes(value) for value in sealed]
            try:
                new = [
                    reseal(column, row_id, value)
                    for column, value in zip(COLUMNS, old, strict=True)
                ]
            except DecryptionError:
                unreadable(row_id)  # left as it is; the stale count says so at the end
                continue
            if new != old:
                updates.append((row_id, *new, *old))
        return updates

    return await walk(
        job,
        Customer.filter(erased_at=None),  # an erased row holds no ciphertext
        COLUMNS,
        label="rotate",
        update_sql=_UPDATE,
        rewrite=rewrite,
        show_progress=show_progress,
        batch_size=BATCH,
    )


async def rotate(*, restart: bool = False, show_progress: bool = True) -> tuple[int, int]:
    """Passes until no value is left under an old key: (rows rewritten, rows left)."""
    written = 0
    for number in range(MAX_PASSES):
        written += await _pass(restart=restart and number == 0, show_progress=show_progress)
        written += await _reseal_secrets()
        left = await stale_rows()
        if not left:
            return written, 0
    return written, left
