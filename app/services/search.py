"""searchCustomers: substring match on name or encrypted email, at bounded cost.

Candidates are active rows of the business that hold every token of the query
(app.crypto.tokens), for the name or for the email, plus rows not indexed yet
(NULL tokens, during a backfill).  One character: its 1-gram token.  Two or
more: the tokens of its pairs, and from three on of its trigrams as well.
Short tokens are 32 bits, so candidates are matches in all but a vanishing
share of cases; each is still confirmed on its plaintext name or its decrypted
email before it is returned.

Candidates are wanted in list order (name_lower, id), and two ways get there:

1. The probe: the first ``PROBE`` rows of the business in name order (the name
   index), filtered by tokens, stopping at the 64th candidate.  Cheap whatever
   the query; enough when matches are common ("a", "gmail" find their 50 there).
   When, at the density it saw, walking on to the 50th match is likely to read
   fewer rows than the index would fetch candidates (and at most ``MAX_WALK``),
   a second walk goes on from there (middling frequency: "ade", "bank").
2. The index: otherwise matches are rare (at least in the head of the order):
   the candidates after the walk are picked by the GIN indexes, sorted, and
   confirmed in batches that grow 4x until 50 match.

A read_masked key matches names only, and never a name that shows its email's
local part (or may: ``name_from_email`` not false), in SQL, in every one of these
ways: such a match would confirm a guess of the email the key sees masked.

So no query walks or decrypts a whole business because its matches are few or
none (what the name order alone did), nor fetches every candidate of a common
query to sort it (what the index alone did).  What is left unbounded is a gram
that a large share of a business holds only late in the name order: its cost
is that share (see the README).
The result equals decrypt-and-filter on any data; the tokens only decide how
few rows are read and decrypted.
"""

from __future__ import annotations

from typing import Any

from app import meter, pacing
from app.crypto.tokens import QueryTokens
from app.db.reads import fetch
from app.models import Customer, keyring
from app.models.records import CustomerRecord
from app.services.access import Caller, require_business
from app.services.customers import (
    IN_ORDER,
    after_cursor,
    count_active,
    read_customers,
    record_type,
)
from app.services.errors import BadUserInput

MAX_RESULTS = 50
QUERY_MAX = 100
#: Rows of the name order the probe reads; and the most the second walk reads,
#: when walking on looks cheaper than the index (see _worth_walking).
PROBE = 500
MAX_WALK = 3000
#: Candidates the probe returns, and the first batch of the index walk: 50
#: results and room for the odd candidate that is not a match.
FIRST_BATCH = 64
MAX_BATCH = 8192

_EMAIL = Customer._meta.fields_map["email"]
_UNINDEXED = "search_tokens IS NULL OR short_tokens IS NULL"
#: What a masked key's candidates must also be: names that are not (and may not be)
#: their emails' local parts (app.services.masking.name_hidden, in SQL).
_NAME_SHOWN = "name_from_email IS FALSE"


def normalise_query(q: str) -> str:
    needle = q.strip().lower()
    if not 1 <= len(needle) <= QUERY_MAX:
        raise BadUserInput(f"q must be 1 to {QUERY_MAX} characters after trimming")
    return needle


def _token_condition(
    domains: tuple[QueryTokens, ...], params: list[Any], *, names_only: bool = False
) -> str:
    """SQL true for candidate rows; appends the token arrays to `params`.

    ``names_only`` (a masked key): rows whose name a masked key may see, by the
    name's tokens alone (the caller passes only those).
    """
    arms = []
    for domain in domains:
        params.append(domain.short)
        held = [f"short_tokens @> ${len(params)}"]
        if domain.trigrams:
            params.append(domain.trigrams)
            held.append(f"search_tokens @> ${len(params)}")
        arms.append(" AND ".join(held))
    condition = "(" + " OR ".join(f"({arm})" for arm in [*arms, _UNINDEXED]) + ")"
    return f"{condition} AND {_NAME_SHOWN}" if names_only else condition


async def _confirmed(
    needle: str, rows: list[Any], want: int, *, names_only: bool = False
) -> list[str]:
    """Ids of the rows whose name (or, unless `names_only`, decrypted email) holds the
    needle, in order; at most `want`.

    Decrypting candidates is the heaviest loop of the service: it runs in slices
    (app.pacing) and reports what it decrypted (app.meter).
    """
    found: list[str] = []
    opened = 0
    try:
        async with pacing.heavy() as turn:
            for row_id, name_lower, sealed in rows:
                if turn.due():
                    await turn.pause()
                if needle not in name_lower:
                    if names_only:
                        continue
                    opened += 1
                    if needle not in _EMAIL.open_for(row_id, sealed):
                        continue
                found.append(row_id)
                if len(found) == want:
                    break
    finally:
        meter.decrypted(opened)
    return found


async def _walk(
    business_id: str,
    domains: tuple[QueryTokens, ...],
    cursor: tuple[str, str] | None,
    rows: int,
    *,
    names_only: bool = False,
) -> list[Any]:
    """The first FIRST_BATCH candidates among the next `rows` active rows in name order.

    The filter is applied as rows come, so a common query stops after its
    first candidates instead of reading all `rows`.
    """
    params: list[Any] = [business_id]
    condition = _token_condition(domains, params, names_only=names_only)
    after = ""
    if cursor is not None:
        after = f"AND {after_cursor(len(params) + 1)}"
        params += cursor
    return await fetch(
        "SELECT id, name_lower, email FROM ("
        " SELECT id, name_lower, email, search_tokens, short_tokens, name_from_email"
        " FROM customer"
        f" WHERE business_id = $1 AND is_active {after} {IN_ORDER} LIMIT {int(rows)}"
        f") head WHERE {condition} {IN_ORDER} LIMIT {FIRST_BATCH}",
        *params,
    )


async def _candidates(
    business_id: str,
    domains: tuple[QueryTokens, ...],
    cursor: tuple[str, str] | None,
    limit: int,
    *,
    names_only: bool = False,
) -> list[Any]:
    """(id, name_lower, email) of the next candidates in list order, picked by the indexes.

    The candidates are materialised before they are sorted, so PostgreSQL
    reads them through the GIN indexes rather than walking the name order.
    """
    params: list[Any] = [business_id]
    condition = _token_condition(domains, params, names_only=names_only)
    if cursor is not None:
        condition += f" AND {after_cursor(len(params) + 1)}"
        params += cursor
    params.append(limit)
    return await fetch(
        "WITH candidate AS MATERIALIZED ("
        " SELECT id, name_lower, email FROM customer"
        f" WHERE business_id = $1 AND is_active AND {condition})"
        f" SELECT id, name_lower, email FROM candidate {IN_ORDER} LIMIT ${len(params)}",
        *params,
    )


def _worth_walking(matches: int, limit: int, active: int) -> bool:
    """Whether walking on is cheaper than the index, at the density the probe saw.

    Both cost about one row read per row: the walk needs the rows up to the
    last result, the index every candidate.  A rare surname (a few matches per
    PROBE rows, spread through the business) goes to the index; a fragment
    frequent enough walks, up to MAX_WALK rows.
    """
    if matches == 0:
        return False
    walk = (limit - matches) * PROBE / matches
    return walk <= min(MAX_WALK, active * matches / PROBE)


async def matching_ids(
    business_id: str, needle: str, limit: int = MAX_RESULTS, *, names_only: bool = False
) -> list[str]:
    """Ids of the first `limit` active customers matching, in list order.

    ``names_only`` (a read_masked key) matches names and never opens an email:
    a masked caller must not learn an email by searching for it, nor by searching
    for a name that is its local part (those rows are never candidates).
    """
    # (name, email) under each live key of the business: while its rows move to a new
    # key, a row holds the tokens of one or the other.
    keys = await keyring.of(business_id)
    domains = tuple(
        domain
        for generation in keys.live
        for domain in generation.search_tokens.for_query(business_id, needle)[
            : 1
            if names_only
            else 2  # a masked key: the name's tokens alone
        ]
    )
    rows = await _walk(business_id, domains, None, PROBE, names_only=names_only)
    found = await _confirmed(needle, rows, limit, names_only=names_only)
    cursor = (rows[-1][1], rows[-1][0]) if rows else None
    if 0 < len(found) < limit and _worth_walking(
        len(found), limit, await count_active(business_id)
    ):
        rows = await _walk(business_id, domains, cursor, MAX_WALK, names_only=names_only)
        found += await _confirmed(needle, rows, limit - len(found), names_only=names_only)
        cursor = (rows[-1][1], rows[-1][0]) if rows else cursor
    batch = FIRST_BATCH
    while len(found) < limit:
        rows = await _candidates(business_id, domains, cursor, batch, names_only=names_only)
        found += await _confirmed(needle, rows, limit - len(found), names_only=names_only)
        if len(rows) < batch:
            break
        cursor = (rows[-1][1], rows[-1][0])
        batch = min(batch * 4, MAX_BATCH)
    return found[:limit]


async def search_customers(caller: Caller, *, business_id: str, q: str) -> list[CustomerRecord]:
    """Up to 50 active customers whose name or email contains q, by name then id."""
    require_business(caller, business_id)
    needle = normalise_query(q)
    async with pacing.one_at_a_time(business_id):
        ids = await matching_ids(business_id, needle, names_only=caller.masked)
    return await read_customers(business_id, ids, kind=record_type(caller)) if ids else []
