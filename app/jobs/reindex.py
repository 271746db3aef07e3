"""Rebuild the blind indexes (email_hash and search tokens) from the encrypted data.

Two uses: the backfill after a migration adds an index (rows whose trigram or
1-2-gram tokens are NULL), and a full rebuild after FINORA_INDEX_KEY changes.
Both also decide ``name_from_email`` where it is NULL (rows older than migration
7): it needs the decrypted email, which only a job like this one has.  A flag
already set is kept: after an email change it records the old email
(app.services.customers._still_from_email), which the row no longer holds.
Batches commit with their cursor (app.jobs.batches), so a killed run resumes.  A
row that a request changed between our read and our write is left alone: its
writer computed its indexes.
"""

from __future__ import annotations

from tortoise.expressions import Q

from app import crypto
from app.crypto.cipher import DecryptionError
from app.crypto.keys import check_value
from app.jobs.batches import resume, unreadable, walk
from app.models import Customer, KeyCheck, keyring
from app.services.customers import name_from_email
from app.startup.keycheck import INDEX_ID

BATCH = 1000
_EMAIL = Customer._meta.fields_map["email"]
_UPDATE = (
    "UPDATE customer SET search_tokens = $2, short_tokens = $3, email_hash = $4, "
    "name_from_email = COALESCE(name_from_email, $8) "
    "WHERE id = $1 AND email = $5 AND name_lower = $6 AND is_active = $7"
)


async def reindex(
    *,
    business_id: str | None = None,
    only_missing: bool = False,
    restart: bool = False,
    show_progress: bool = True,
) -> int:
    """Recompute indexes; returns the number of rows written by this run."""
    scope = f"{business_id or 'all'}:{'missing' if only_missing else 'full'}"
    job = await resume(f"reindex:{scope}", restart=restart)
    # An erased row has nothing left to index, an offboarded business nothing that reads.
    rows = Customer.filter(erased_at=None, business__offboarded_at__isnull=True)
    if business_id:
        rows = rows.filter(business_id=business_id)
    if only_missing:
        rows = rows.filter(
            Q(search_tokens__isnull=True)
            | Q(short_tokens__isnull=True)
            | Q(name_from_email__isnull=True)
        )

    async def rewrite(batch: list[tuple]) -> list[tuple]:
        updates = []
        for row_id, owner, name_lower, sealed, is_active, key_id in batch:
            try:
                # Under the row's own key: a row moving to a new key is the move's to index.
                generation = (await keyring.of(owner)).generation(key_id)
                email = _EMAIL.open_for(row_id, sealed)
            except keyring.KeysGone:
                continue  # offboarded: nothing of it reads, nor is indexed again
            except DecryptionError:
                unreadable(row_id)  # its indexes stay as they are
                continue
            tokens, short = (
                generation.search_tokens.for_rows(owner, name_lower, email)
                if is_active
                else ([], [])
            )
            digest = generation.email_index.digest(owner, email)
            shows = name_from_email(name_lower, email)
            updates.append(
                (row_id, tokens, short, digest, bytes(sealed), name_lower, is_active, shows)
            )
        return updates

    written = await walk(
        job,
        rows,
        ("business_id", "name_lower", "email", "is_active", "key_id"),
        label="reindex",
        update_sql=_UPDATE,
        rewrite=rewrite,
        show_progress=show_progress,
        batch_size=BATCH,
    )
    if written:
        await Customer._meta.db.execute_script("ANALYZE customer")
    if not only_missing and business_id is None:
        kcv = check_value(crypto.current().keys.index)
        await KeyCheck.update_or_create(key_id=INDEX_ID, defaults={"purpose": "index", "kcv": kcv})
    return written
