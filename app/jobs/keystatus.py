"""`finora keys status`: what is left under the legacy scheme, or on its way to a new key.

Counts only (ids and numbers, never a value), read in SQL from the key ids the
rows and the values' headers name.
"""

from __future__ import annotations

from app import crypto
from app.jobs.rotate import legacy_under_old_master
from app.models import Business

_COUNTS = """
SELECT
  (SELECT count(*) FROM business WHERE offboarded_at IS NULL) AS businesses,
  (SELECT count(*) FROM business WHERE offboarded_at IS NULL AND write_key IS NOT NULL)
    AS businesses_with_data_key,
  (SELECT count(*) FROM business WHERE offboarded_at IS NULL
     AND (write_key IS NULL OR legacy_values)) AS businesses_to_migrate,
  (SELECT count(*) FROM business b WHERE offboarded_at IS NULL
     AND (SELECT count(*) FROM business_key k WHERE k.business_id = b.id) > 1)
    AS businesses_rotating,
  (SELECT count(*) FROM business WHERE offboarded_at IS NOT NULL) AS businesses_offboarded,
  (SELECT count(*) FROM customer WHERE key_id IS NULL AND erased_at IS NULL)
    AS legacy_customers,
  (SELECT count(*) FROM webhook_endpoint WHERE key_id IS NULL)
    + (SELECT count(*) FROM shop_connection WHERE key_id IS NULL) AS legacy_secrets,
  (SELECT count(*) FROM customer c JOIN business b ON b.id = c.business_id
     WHERE b.offboarded_at IS NULL AND b.write_key IS NOT NULL
     AND c.key_id IS DISTINCT FROM b.write_key
     AND c.erased_at IS NULL) AS customers_not_under_writing_key,
  (SELECT count(*) FROM business_key WHERE master_key_id <> $1)
    AS data_keys_under_old_master_key
"""


async def status() -> dict[str, int]:
    """Each count by name; all zero but the first two once every value has moved."""
    rows = await Business._meta.db.execute_query_dict(_COUNTS, [crypto.current().keys.active_id])
    counts = {name: int(value) for name, value in rows[0].items()}
    counts["legacy_values_under_old_master_key"] = await legacy_under_old_master()
    return counts
