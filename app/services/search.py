"""searchCustomers: substring match on name or encrypted email, at scale.

The planner, in a bounded number of queries:

1. Candidates.  Three characters or more: active rows of the business whose
   keyed trigram tokens (app.crypto.tokens) hold every token of the query, for
   the name or for the email, plus rows not indexed yet (NULL tokens, during a
   backfill).  One or two characters have no trigram: every active row is a
   candidate.
2. Confirmation, in name order.  Candidates come in batches sorted like every
   list (name_lower, id), growing 4x each time; each is confirmed on its
   plaintext name or, failing that, on its decrypted email (a token match is
   only probable).  The walk stops at the 50th match.
3. The matches are read whole, in one query.

So the result equals decrypt-and-filter on any data; the index only decides how
few rows are decrypted.
"""

from __future__ import annotations

from typing import Any

from app import crypto, meter, pacing
from app.models import Customer
from app.models.records import CustomerRecord
from app.services.access import Caller, require_business
from app.services.customers import IN_ORDER, after_cursor, fetch, read_customers
from app.services.errors import BadUserInput

MAX_RESULTS = 50
QUERY_MAX = 100
FIRST_BATCH = 128
MAX_BATCH = 8192

_EMAIL = Customer._meta.fields_map["email"]


def normalise_query(q: str) -> str:
    needle = q.strip().lower()
    if not 1 <= len(needle) <= QUERY_MAX:
        raise BadUserInput(f"q must be 1 to {QUERY_MAX} characters after trimming")
    return needle


async def _candidates(
    business_id: str, needle: str, cursor: tuple[str, str] | None, limit: int
) -> list[Any]:
    """(id, name_lower, email) of the next candidates in list order."""
    params: list[Any] = [business_id]
    where = "business_id = $1 AND is_active"
    name_tokens, email_tokens = crypto.current().search_tokens.for_query(business_id, needle)
    if email_tokens:  # else shorter than a trigram: no index can help
        params += [name_tokens, email_tokens]
        where += " AND (search_tokens @> $2 OR search_tokens @> $3 OR search_tokens IS NULL)"
    if cursor is not None:
        where += f" AND {after_cursor(len(params) + 1)}"
        params += cursor
    params.append(limit)
    return await fetch(
        f"SELECT id, name_lower, email FROM customer WHERE {where} {IN_ORDER} LIMIT ${len(params)}",
        *params,
    )


async def _confirm(rows: list[Any], needle: str, found: list[str], limit: int) -> bool:
    """Adds the rows that match to `found`; True once it holds `limit`.

    Decrypting thousands of candidates is the heaviest loop of the service: it
    runs in slices (app.pacing) and reports what it decrypted (app.meter).
    """
    opened = 0
    try:
        async with pacing.heavy() as turn:
            for row_id, name_lower, sealed in rows:
                if turn.due():
                    await turn.pause()
                if needle not in name_lower:
                    opened += 1
                    if needle not in _EMAIL.open_for(row_id, sealed):
                        continue
                found.append(row_id)
                if len(found) == limit:
                    return True
    finally:
        meter.decrypted(opened)
    return False


async def matching_ids(business_id: str, needle: str, limit: int = MAX_RESULTS) -> list[str]:
    """Ids of the first `limit` active customers matching, in list order."""
    found: list[str] = []
    batch, cursor = FIRST_BATCH, None
    while True:
        rows = await _candidates(business_id, needle, cursor, batch)
        if await _confirm(rows, needle, found, limit) or len(rows) < batch:
            return found
        cursor = (rows[-1][1], rows[-1][0])
        batch = min(batch * 4, MAX_BATCH)


async def search_customers(caller: Caller, *, business_id: str, q: str) -> list[CustomerRecord]:
    """Up to 50 active customers whose name or email contains q, by name then id."""
    require_business(caller, business_id)
    needle = normalise_query(q)
    async with pacing.one_at_a_time(business_id):
        ids = await matching_ids(business_id, needle)
    return await read_customers(business_id, ids) if ids else []
