"""`finora keys rotate`: every business's data key wrapped again under the active master key.

Put the new master key first in FINORA_ENCRYPTION_KEYS (old ones after it),
restart the service, run this.  Only ``business_key`` rows change: each data
key is unwrapped with the master key it was wrapped under and wrapped again
under the active one, so no customer row is rewritten and 10,000 businesses
take seconds.  Batches of keys commit on their own; a killed run resumes by
itself (what is left is what is still under an old master key).  A key wrapped
again meanwhile by another run is left to it (the update checks the old master
key id).

Values still in the legacy scheme (sealed under a master key directly, before
``finora keys migrate``) would need that master key: they are counted, and the
old master key must stay until the migration has moved them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app import crypto
from app.crypto.cipher import DecryptionError
from app.crypto.datakeys import unwrap, wrap
from app.db.transaction import transaction
from app.jobs.batches import progress
from app.models import BusinessKey

BATCH = 1000
#: Every sealed column, by table: what a move to a new key re-seals (app.jobs.rekey) too.
SEALED = {
    "customer": ("email", "phone", "address", "tin"),
    "webhook_endpoint": ("secret", "previous_secret"),
    "shop_connection": ("secret",),
}
_REWRAP = (
    "UPDATE business_key SET master_key_id = $2, wrapped = $3 WHERE id = $1 AND master_key_id = $4"
)


def _under_master(column: str) -> str:
    """SQL: a value sealed under a master key directly (format 1) other than $1."""
    return (
        f"({column} IS NOT NULL AND get_byte({column}, 0) = 1 AND "
        f"convert_from(substring({column} from 3 for get_byte({column}, 1)), 'UTF8') <> $1)"
    )


async def legacy_under_old_master() -> int:
    """Values in the legacy scheme under a master key other than the active one."""
    db = BusinessKey._meta.db
    total = 0
    for table, columns in SEALED.items():
        stale = " OR ".join(_under_master(column) for column in columns)
        rows = await db.execute_query_dict(
            f"SELECT count(*) AS n FROM {table} WHERE key_id IS NULL AND ({stale})",
            [crypto.current().keys.active_id],
        )
        total += int(rows[0]["n"])
    return total


@dataclass
class Rotated:
    rewrapped: int = 0
    #: data keys whose master key is not configured, or that do not unwrap (ids)
    unreadable: list[str] = field(default_factory=list)
    legacy_left: int = 0


async def rotate(*, show_progress: bool = True) -> Rotated:
    """Wrap every data key under the active master key (see the module docstring)."""
    keys = crypto.current().keys
    active = keys.active_id
    db = BusinessKey._meta.db
    done = Rotated()
    counted = await db.execute_query_dict(
        "SELECT count(*) AS n FROM business_key WHERE master_key_id <> $1", [active]
    )
    total = int(counted[0]["n"])
    after = ""
    with progress("rotate", total=total, initial=0, enabled=show_progress and total > 0) as bar:
        while True:
            rows = await db.execute_query_dict(
                "SELECT id, business_id, master_key_id, wrapped FROM business_key "
                "WHERE master_key_id <> $1 AND id > $2 ORDER BY id LIMIT $3",
                [active, after, BATCH],
            )
            if not rows:
                break
            after = rows[-1]["id"]
            updates = []
            for row in rows:
                try:
                    data_key = unwrap(
                        keys, row["business_id"], row["id"], row["master_key_id"], row["wrapped"]
                    )
                except DecryptionError:
                    done.unreadable.append(row["id"])
                    continue
                _, wrapped = wrap(keys, row["business_id"], row["id"], data_key)
                updates.append([row["id"], active, wrapped, row["master_key_id"]])
            if updates:
                async with transaction() as conn:
                    await conn.execute_many(_REWRAP, updates)
            done.rewrapped += len(updates)
            bar.update(len(rows))
    done.legacy_left = await legacy_under_old_master()
    return done
