"""Start-up check: are these the keys this database was written with?

Each key's check value is recorded the first time it is used.  A configured
key whose id is known but whose check value differs, an index key that differs,
or a set of keys none of which the database has seen, stops the start: running
on would write data no other process could read, or miss every blind index.
"""

from __future__ import annotations

from app.crypto.keys import KeySet, check_value
from app.models import KeyCheck
from app.settings import ConfigError

INDEX_ID = "@index"


async def verify_and_record(keys: KeySet, *, index_may_change: bool = False) -> None:
    """Refuse keys that do not match; record keys seen for the first time.

    `index_may_change` is for `finora reindex`, which rebuilds every blind index
    under a new index key and records it when done.
    """
    stored = {row.key_id: row.kcv for row in await KeyCheck.all()}
    index_kcv = check_value(keys.index)
    if INDEX_ID in stored and stored[INDEX_ID] != index_kcv and not index_may_change:
        raise ConfigError("FINORA_INDEX_KEY does not match the key this database was indexed with")
    known = [key_id for key_id, _ in keys.encryption if key_id in stored]
    for key_id, key in keys.encryption:
        if key_id in stored and stored[key_id] != check_value(key):
            raise ConfigError(
                f"FINORA_ENCRYPTION_KEYS key {key_id!r} does not match the key of that id "
                "this database was written with"
            )
    if any(k != INDEX_ID for k in stored) and not known:
        raise ConfigError(
            "none of the keys in FINORA_ENCRYPTION_KEYS is known to this database; "
            "add the current key (rotation keeps old keys at the end of the list)"
        )
    if INDEX_ID not in stored:
        await KeyCheck.get_or_create(
            key_id=INDEX_ID, defaults={"purpose": "index", "kcv": index_kcv}
        )
    for key_id, key in keys.encryption:
        if key_id not in stored:
            await KeyCheck.get_or_create(
                key_id=key_id, defaults={"purpose": "encryption", "kcv": check_value(key)}
            )
