"""What a shop's delivery does to the directory: one customer per shopper.

A delivery is applied in one transaction, so it is applied whole or not at all,
and a 200 is only answered once it has committed (a shop retries anything else):

1. it is remembered by (connection, delivery id, signature); a repeat of one
   applied before changes nothing (shops deliver at least once);
2. the shop customer's link is looked up under a transaction-level advisory lock
   on (connection, shop customer id), so two deliveries of one new shopper,
   racing on two workers, make one customer and one link;
3. a linked customer is updated with the shop's values; else the active
   customer with the shop's email is found (and updated), or created, and linked.

The fields are app.shoppers' (the same mapping as a file import).  The upsert
rules are the contract's: a shop never clears a field (an empty value leaves the
directory's); a value that fails validation is left out and kept as a problem;
an email another active customer holds is left out (TAKEN); a shop customer
without a valid email is not created.  A guest (no shop customer id) is found
or created by email and never updated: a guest's order is not the shopper's
record, and nothing links it.  Changes write the usual events, actor
``shop:<connection id>``, so outbound webhooks tell downstream systems.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from app.db import statistics
from app.db.transaction import transaction
from app.models import Customer, ShopConnection, keyring
from app.models.keyring import BusinessKeys
from app.services import customers, events, imports, validation
from app.services.errors import UserError
from app.shoppers import rules
from app.shops.deliveries import Delivery
from app.shops.topics import Action, Kind

ACTOR_PREFIX = "shop:"
#: The top byte of a shop customer's advisory lock key: "S", apart from the webhook
#: endpoints' "W" and the migrations' "F" (app.webhooks.store, app.db.migrate).
LOCK_CLASS = 0x53
#: Contract codes of a problem; a validation code outside them reads as INVALID.
CODES = ("INVALID", "BLANK", "TAKEN", "TOO_LONG")
TRIES = 3
#: Deliveries and problems are kept at least this long (the contract's floor).
KEEP = timedelta(days=7)
#: Problems kept per connection whatever their age (the contract's floor).
KEEP_PROBLEMS = 100


class _LinkedMeanwhile(Exception):
    """Another transaction linked the shop id first: the delivery is applied again, and
    finds the link."""


class Result(enum.StrEnum):
    APPLIED = "applied"
    REPEAT = "repeat"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Connection:
    """A live connection, as a delivery needs it (the secret opened)."""

    id: str
    business_id: str
    platform: str
    shop_domain: str
    secret: str

    @property
    def actor(self) -> str:
        return ACTOR_PREFIX + self.id


@dataclass
class Applied:
    """What a delivery did (for the answer, logs and tests; never a value)."""

    result: Result
    customer_id: str | None = None
    created: bool = False
    changed: list[str] = field(default_factory=list)
    erased: bool = False
    problems: list[tuple[str | None, str]] = field(default_factory=list)


def lock_key(connection_id: str, external_id: str) -> int:
    """LOCK_CLASS, then 56 bits of SHA-256 of (connection, shop customer id)."""
    digest = hashlib.sha256(f"{connection_id}\0{external_id}".encode()).digest()
    return LOCK_CLASS << 56 | int.from_bytes(digest[:7], "big")


_REMEMBER = """
WITH fresh AS (
    INSERT INTO shop_delivery (connection_id, delivery_id, signature, received_at)
    SELECT $1, $2::text, $3, now() WHERE $2::text <> ''
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT $2::text <> '' AND NOT EXISTS (SELECT 1 FROM fresh) AS seen
"""
_LINK = "SELECT customer_id FROM customer_external_id WHERE connection_id = $1 AND external_id = $2"
# The link's owner, whoever made it: an import's batch may have linked the shop id
# while this delivery looked (imports take no advisory lock), and then it must not
# keep the customer it created or found by email.
_LINK_ADD = (
    "INSERT INTO customer_external_id "
    "(connection_id, customer_id, platform, external_id, linked_at) "
    "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (connection_id, external_id) "
    "DO UPDATE SET connection_id = EXCLUDED.connection_id RETURNING customer_id"
)
_LINK_REMOVE = (
    "UPDATE customer_external_id SET removed_at = now() "
    "WHERE connection_id = $1 AND external_id = $2 AND removed_at IS NULL"
)
_TAKEN = (
    "SELECT 1 FROM customer WHERE business_id = $1 AND is_active AND email_hash = ANY($2) "
    "AND id <> $3"
)
_FORGET_PROBLEMS = "DELETE FROM shop_problem WHERE connection_id = $1 AND external_id = $2"
_PROBLEMS = """
INSERT INTO shop_problem (connection_id, occurred_at, topic, external_id, field, code)
SELECT $1, now(), $2, $3, f, c FROM unnest($4::text[], $5::text[]) AS p(f, c)
"""


#: A connection's lastDeliveryAt is written at most this often per process: it is
#: the time of the last verified delivery to within a second, and a burst of
#: deliveries does not queue on the connection's row.
TOUCH_EVERY_S = 1.0
_touched: dict[str, float] = {}


async def touch(connection_id: str) -> None:
    """Note that a verified delivery arrived (outside its transaction: writing the
    connection's row in each delivery's transaction would serialise them all)."""
    now = time.monotonic()
    if now - _touched.get(connection_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
        return
    if len(_touched) >= 10_000:
        _touched.clear()  # bounded memory; a reset only writes once more
    _touched[connection_id] = now
    await ShopConnection.filter(id=connection_id).update(last_delivery_at=datetime.now(UTC))


async def apply(connection: Connection, delivery: Delivery, action: Action) -> Applied:
    """Apply a verified delivery whole, or not at all (an error rolls everything back,
    the shop is not answered 200, and it delivers again)."""
    for attempt in range(TRIES):
        try:
            return await _apply_once(connection, delivery, action)
        except IntegrityError as exc:
            # Another writer took the email between the check and the write (a create
            # racing this one, or an email change): the next try sees it.
            if not customers.is_email_conflict(exc) or attempt == TRIES - 1:
                raise
        except _LinkedMeanwhile:
            if attempt == TRIES - 1:
                raise
    raise AssertionError("unreachable")


async def _apply_once(connection: Connection, delivery: Delivery, action: Action) -> Applied:
    async with transaction() as conn:
        _, rows = await conn.execute_query(
            _REMEMBER, [connection.id, delivery.delivery_id, delivery.signature]
        )
        if rows[0]["seen"]:
            return Applied(Result.REPEAT)
        applied = Applied(Result.APPLIED)
        if action.external_id is not None:
            key = lock_key(connection.id, action.external_id)
            await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [key])
        if action.kind in (Kind.UPSERT, Kind.GUEST):
            assert action.shopper is not None
            keys = await keyring.for_write(conn, connection.business_id)
            await _upsert(conn, keys, connection, action, applied)
        elif action.kind is Kind.REMOVE and action.external_id is not None:
            await conn.execute_query(_LINK_REMOVE, [connection.id, action.external_id])
        elif action.kind is Kind.REDACT and action.external_id is not None:
            await _redact(conn, connection, action.external_id, applied)
        if applied.problems:
            # Newest first is by id: inserted last to first, one delivery's read in field order.
            fields_, codes = zip(*reversed(applied.problems), strict=True)
            await conn.execute_query(
                _PROBLEMS,
                [connection.id, delivery.topic, action.external_id, list(fields_), list(codes)],
            )
    if applied.erased:
        statistics.analyze_soon(Customer._meta.db_table)
    return applied


def _values(shopper: rules.Shopper) -> tuple[dict[str, str | None], list[tuple[str | None, str]]]:
    """The shop's valid, non-empty values, and the problems of the others (an absent
    email is no problem here: only a creation needs one).  The problems are kept
    only where the customer is written: a shopper refused, a guest found, an
    erased customer have nothing left out."""
    given = {key: value for key, value in rules.values(shopper).items() if value is not None}
    clean, errors = validation.check_each(given, ())
    problems = [(_field(error), _code(error)) for error in errors]
    return {key: value for key, value in clean.items() if value is not None}, problems


def _field(error: UserError) -> str | None:
    return error.field[-1] if error.field else None


def _code(error: UserError) -> str:
    return error.code if error.code in CODES else "INVALID"


async def _upsert(
    conn: Any, keys: BusinessKeys, connection: Connection, action: Action, applied: Applied
) -> None:
    assert action.shopper is not None
    values, problems = _values(action.shopper)
    linked = await _linked(conn, connection, action.external_id)
    if linked is not None:
        customer = await _locked(conn, connection.business_id, linked)
        if customer is not None and customer.erased_at is None:
            applied.problems += problems
            await _update(conn, keys, connection, customer, values, applied)
        return
    email = values.get("email")
    if email is None:
        # No customer without an email: the problem is the whole shopper's, BLANK
        # when the shop sent none, INVALID when the one it sent is not usable.
        sent = any(field == "email" for field, _ in problems)
        applied.problems.append((None, "INVALID" if sent else "BLANK"))
        return
    found = (
        await customers.active(connection.business_id)
        .filter(email_hash__in=keys.digests(email))
        .using_db(conn)
        .select_for_update()
        .first()
    )
    if found is not None:
        if action.kind is Kind.UPSERT:
            applied.problems += problems
            await _update(conn, keys, connection, found, values, applied)
        applied.customer_id = found.id
    else:
        applied.problems += problems
        await _create(conn, keys, connection, values, applied)
    if action.kind is Kind.UPSERT:
        assert action.external_id is not None and applied.customer_id is not None
        rows = await conn.execute_query_dict(
            _LINK_ADD,
            [connection.id, applied.customer_id, connection.platform, action.external_id],
        )
        if rows[0]["customer_id"] != applied.customer_id:
            raise _LinkedMeanwhile  # everything here rolls back; the next try updates it


async def _linked(conn: Any, connection: Connection, external_id: str | None) -> str | None:
    """The customer the shop customer id is linked to.  A removed link still names
    it, and stays removed: shops deliver out of order, so an update that arrives
    after the deletion is older news, not the shopper's return."""
    if external_id is None:
        return None
    _, rows = await conn.execute_query(_LINK, [connection.id, external_id])
    return str(rows[0]["customer_id"]) if rows else None


async def _locked(conn: Any, business_id: str, customer_id: str) -> Customer | None:
    query = Customer.filter(id=customer_id, business_id=business_id)
    return await query.select_for_update().using_db(conn).first()


async def _create(
    conn: Any,
    keys: BusinessKeys,
    connection: Connection,
    values: Mapping[str, str | None],
    applied: Applied,
) -> None:
    data = dict(values)
    if "name" not in data:
        data["name"] = customers.default_name(str(data["email"]))
    customer = customers.new_customer(keys, data)
    await customer.save(force_create=True, using_db=conn)  # a lost race: IntegrityError, retried
    change = events.Change(connection.business_id, customer.id, events.CREATED, connection.actor)
    await events.record(conn, [change])
    applied.customer_id, applied.created = customer.id, True


async def _update(
    conn: Any,
    keys: BusinessKeys,
    connection: Connection,
    customer: Customer,
    values: Mapping[str, str | None],
    applied: Applied,
) -> None:
    """The shop's values on the (not erased) customer, as an import's OVERWRITE: none
    cleared; and its email, unless another active customer holds it (TAKEN)."""
    applied.customer_id = customer.id
    changes = imports.changes(customer, values, imports.Update.OVERWRITE)
    email = values.get("email")
    if email is not None and email != customer.email:
        digests = keys.digests(email)
        _, taken = await conn.execute_query(_TAKEN, [customer.business_id, digests, customer.id])
        if taken and customer.is_active:
            applied.problems.append(("email", "TAKEN"))
        else:
            changes["email"] = email
    if not changes:
        return
    fields_, changed = customers.apply_changes(customer, changes, keys)
    await customer.save(update_fields=fields_, using_db=conn)
    applied.changed = [validation.RULES[key][0] for key in changed]
    if changed:
        change = events.Change(
            customer.business_id, customer.id, events.UPDATED, connection.actor, applied.changed
        )
        await events.record(conn, [change])


async def _redact(conn: Any, connection: Connection, external_id: str, applied: Applied) -> None:
    """The shopper asked the shop to erase them: erase the linked customer, if any."""
    linked = await _linked(conn, connection, external_id)
    if linked is None:
        return
    customer = await _locked(conn, connection.business_id, linked)
    if customer is None:
        return
    applied.customer_id = customer.id
    if customer.erased_at is None:
        await customers.erase_locked(conn, customer, connection.actor)
        applied.erased = True
    await conn.execute_query(_LINK_REMOVE, [connection.id, external_id])
    # What the shop's problems said of this shopper goes too (codes, but tied to them).
    await conn.execute_query(_FORGET_PROBLEMS, [connection.id, external_id])


# Retention -----------------------------------------------------------------

_PRUNE_DELIVERIES = "DELETE FROM shop_delivery WHERE received_at < $1"
_PRUNE_PROBLEMS = """
DELETE FROM shop_problem p WHERE p.occurred_at < $1 AND p.id < (
    SELECT min(id) FROM (
        SELECT id FROM shop_problem q WHERE q.connection_id = p.connection_id
        ORDER BY id DESC LIMIT $2
    ) AS newest
)
"""


async def prune(connection: Any, *, now: datetime | None = None) -> int:
    """Forget deliveries older than KEEP, and problems older than KEEP beyond each
    connection's newest KEEP_PROBLEMS (an asyncpg connection, autocommit)."""
    cutoff = (now or datetime.now(UTC)) - KEEP
    removed = 0
    for sql, args in ((_PRUNE_DELIVERIES, (cutoff,)), (_PRUNE_PROBLEMS, (cutoff, KEEP_PROBLEMS))):
        status = await connection.execute(sql, *args)
        removed += int(status.rsplit(" ", 1)[-1])
    return removed


def problem_fields(problems: Sequence[tuple[str | None, str]]) -> list[str]:
    """Problems as `field:CODE` (or `CODE`), for logs: names and codes, never values."""
    return [f"{f}:{c}" if f else c for f, c in problems]


# Imports -------------------------------------------------------------------

_LINK_MANY = """
INSERT INTO customer_external_id (connection_id, customer_id, platform, external_id, linked_at)
SELECT $1, c, $2, x, now() FROM unnest($3::text[], $4::text[]) AS pairs(c, x)
ON CONFLICT (connection_id, external_id) DO NOTHING
RETURNING 1
"""


async def link_all(
    conn: Any, connection_id: str, platform: str, pairs: Sequence[tuple[str, str]]
) -> int:
    """Link (customer id, shop customer id) pairs on a connection, in the caller's
    transaction (an import's batch); a shop id already linked keeps its customer (the
    shop's deliveries made that link).  The number of new links."""
    if not pairs:
        return 0
    customer_ids, external_ids = zip(*pairs, strict=True)
    # execute_query would count an INSERT by its status's OID field: read the rows back.
    rows = await conn.execute_query_dict(
        _LINK_MANY, [connection_id, platform, list(customer_ids), list(external_ids)]
    )
    return len(rows)
