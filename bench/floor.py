"""The floor: the least a server can do to answer the service's reads and writes.

    .venv/bin/uvicorn bench.floor:create_app --factory --workers 1 --port 8001 \\
        --no-access-log --log-level warning

A bare Starlette app on a plain asyncpg pool: no GraphQL, no ORM, no auth, no
logs, no metrics.  It reads the same rows as ``customers(businessId, limit)`` and
``customer(id)``, opens the same four PII columns with the same keys through
``app.crypto`` (the business's data key, unwrapped once per process by
bench/keys.py, as the service's keyring does), and writes the same JSON shape as
the GraphQL response with orjson.  ``bench/list.py`` compares the service
against it: the gap between the two is what the service's layers cost, since
the SQL, the decryption and the serialisation library are the same on both sides.

The write endpoints do the work of ``findOrCreateCustomer``, ``createCustomer``
and ``updateCustomer`` by hand, as cheaply as it can be written with the same
guarantees, and ``bench/writes.py`` compares them with the service.  The same
work means: the service's own input rules (``app.services.validation``: the
email and phone rules are not simple, so they are imported, not rewritten),
AES-GCM through ``app.crypto`` (same keys, same AAD), the HMAC blind index and
the keyed gram tokens of ``app.crypto`` into the service's own tables, whose
unique index, GIN indexes and count triggers therefore run on both sides, and
the same ``customer_event`` row (and webhook fan-out and wake-up) in the
transaction of the change; values, blind index and tokens under the business's
writing key (its data key, or the master key for a legacy business), each row
naming it in ``key_id``, and the service's guard (app.models.keyring.guard: the
write matches nothing once the business writes under another key) in the
statement that writes.  Where the floor is cheaper than the service by
design, each endpoint says so.  What none of them do: authenticate (the service
checks the key and its business; the floor takes ``businessId`` on trust), log,
count, or rate-limit.

Environment: ``DATABASE_URL``, ``FINORA_ENCRYPTION_KEYS``, ``FINORA_INDEX_KEY``,
and ``FINORA_FLOOR_ACTOR`` (the events' actor, default ``floor``: the service
writes its key's prefix there, so a benchmark passes that prefix).

    GET  /customers?businessId=biz_..&limit=100  -> {"data": {"customers": [...]}}
    GET  /customer?id=cust_..                    -> {"data": {"customer": {...} | null}}
    POST /find-or-create {businessId, email, name?, phone?}
                  -> {"data": {"findOrCreateCustomer": {customer, created, userErrors}}}
    POST /create {businessId, name, email, phone?, address?, companyName?, tin?}
                  -> {"data": {"createCustomer": {customer, userErrors}}}
    POST /update {businessId, id, name?, phone?}
                  -> {"data": {"updateCustomer": {customer, userErrors}}}
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import crypto
from app.crypto.datakeys import Generation
from app.crypto.keys import KeySet
from app.db.orm import release_without_reset
from app.http.responses import format_instant
from app.ids import new_id, well_formed
from app.models.keyring import KeysGone, guard
from app.services import validation
from app.services.errors import InvalidInput, UserError
from app.services.events import CHANNEL, CREATED, UPDATED
from app.settings import parse_database_url
from bench.keys import KeyCache

#: The service's pool size per worker (app.db.orm.tortoise_config), so neither side
#: gets more database connections than the other.
POOL_MAX = 10
MAX_LIMIT = 100
TABLE = "customer"
ENCRYPTED = ("email", "phone", "address", "tin")
COLUMNS = (
    "id, business_id, name, email, phone, address, tin, company_name, "
    "account_balance_kobo, is_active, created_at, updated_at"
)
# The same rows and order as app.services.customers.list_customers; name_lower and
# id are COLLATE "C" columns, so the order is the service's whatever the locale.
# `is_active` is written as a literal so that even a generic plan can use the
# partial sort index (WHERE is_active).
LIST_SQL = (
    f"SELECT {COLUMNS} FROM customer WHERE business_id = $1 AND is_active "
    "ORDER BY name_lower, id LIMIT $2"
)
ONE_SQL = f"SELECT {COLUMNS} FROM customer WHERE id = $1"


def opened(row: Mapping[str, Any]) -> dict[str, str | None]:
    """The four PII columns of a row, decrypted (same keys, same AAD as the service)."""
    cipher = crypto.current().cipher
    row_id = row["id"]
    plain: dict[str, str | None] = {}
    for column in ENCRYPTED:
        sealed = row[column]
        plain[column] = None if sealed is None else cipher.open(TABLE, column, row_id, sealed)
    return plain


def shown(
    row: Mapping[str, Any],
    plain: Mapping[str, str | None],
    *,
    name: str | None = None,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """One customer in the GraphQL type's field names and scalar formats; `name` and
    `updated_at` replace the row's (an update serves what it wrote, not a re-read)."""
    kobo = row["account_balance_kobo"]
    return {
        "id": row["id"],
        "businessId": row["business_id"],
        "name": row["name"] if name is None else name,
        "email": plain["email"],
        "phone": plain["phone"],
        "address": plain["address"],
        "tin": plain["tin"],
        "companyName": row["company_name"],
        "accountBalanceKobo": kobo,
        "accountBalance": kobo / 100,
        "isActive": row["is_active"],
        "createdAt": format_instant(row["created_at"]),
        "updatedAt": format_instant(row["updated_at"] if updated_at is None else updated_at),
    }


def customer_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One customer as read: every field, PII decrypted."""
    return shown(row, opened(row))


def json_body(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def bad_request(message: str) -> Response:
    return json_body({"errors": [{"message": message}]}, 400)


def pool_of(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


async def keys_of(request: Request, business_id: str) -> Generation:
    """The generation the business writes under; its data keys learnt by the cipher,
    so its values open (KeysGone for an unknown business)."""
    return (await request.app.state.keys.of(pool_of(request), business_id)).write


async def list_customers(request: Request) -> Response:
    business_id = request.query_params.get("businessId")
    limit_text = request.query_params.get("limit", "50")
    if not business_id:
        return bad_request("businessId is required")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        return bad_request(f"limit must be 1 to {MAX_LIMIT}")
    try:
        await keys_of(request, business_id)  # as the service's auth loads them
    except KeysGone:
        return json_body({"data": {"customers": []}})
    rows = await pool_of(request).fetch(LIST_SQL, business_id, int(limit_text))
    return json_body({"data": {"customers": [customer_json(row) for row in rows]}})


async def one_customer(request: Request) -> Response:
    customer_id = request.query_params.get("id")
    if not customer_id:
        return bad_request("id is required")
    row = await pool_of(request).fetchrow(ONE_SQL, customer_id)
    if row is not None:
        await keys_of(request, row["business_id"])
    return json_body({"data": {"customer": None if row is None else customer_json(row)}})


# Writes ---------------------------------------------------------------------

#: The partial unique index on (business_id, email_hash) WHERE is_active.
EMAIL_INDEX = "customer_active_email_uidx"
#: As app.services.customers: a lost insert race re-reads; a row deleted and
#: re-created in between, again and again, is not worth more tries.
FIND_OR_CREATE_TRIES = 3
INPUT = ("input",)
TAKEN = UserError(("input", "email"), "TAKEN", "Another active customer already has this email")
NOT_FOUND = UserError(("id",), "NOT_FOUND", "No such customer")
ERASED = UserError(
    ("id",), "ERASED", "The customer was erased; its personal data can no longer be changed"
)
NAME_CLEARED = UserError(("input", "name"), "BLANK", "Name cannot be cleared")

# The service's lookup (business, blind index, active) answered by the partial
# unique index; `is_active` is a literal so that the generic plan can use it too.
FIND_SQL = (
    f"SELECT {COLUMNS} FROM customer WHERE business_id = $1 AND email_hash = $2 AND is_active"
)
# The update's row lock: name, email and activity decide the tokens it writes.
LOCK_SQL = (
    f"SELECT {COLUMNS}, erased_at FROM customer WHERE id = $1 AND business_id = $2 FOR UPDATE"
)
# What app.services.events.record does after its event insert: a delivery row per
# subscribed endpoint, and a wake-up of the webhook workers when there is one.
# Appended to a statement whose `changed` CTE is the customer write and whose
# `event` CTE is the event insert; it returns how many customers were written.
_DELIVER_AND_WAKE = f"""
), delivery AS (
    INSERT INTO webhook_delivery (event_id, endpoint_id, status, attempts, next_attempt_at)
    SELECT event.seq, endpoint.id, 'pending', 0, now()
    FROM event JOIN webhook_endpoint endpoint
      ON endpoint.business_id = event.business_id AND endpoint.deleted_at IS NULL
     AND event.type = ANY(endpoint.event_types)
    RETURNING 1
), woken AS (
    SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM delivery LIMIT 1) AS one
)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM woken)
"""
# A new customer and its CREATED event in one statement: atomic without BEGIN and
# COMMIT, so one round trip where the service makes four.
INSERT_SQL = f"""
WITH changed AS (
    INSERT INTO customer (id, business_id, name, name_lower, name_from_email, email,
        email_hash, phone, address, tin, company_name, search_tokens, short_tokens,
        account_balance_kobo, is_active, created_at, updated_at, key_id)
    SELECT $1, $2::varchar, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, true, $14, $14,
        $17::varchar
    WHERE {guard("$2", "$17")}
    RETURNING business_id, id
), event AS (
    INSERT INTO customer_event
        (id, business_id, customer_id, type, changed_fields, actor, occurred_at)
    SELECT $15, business_id, id, '{CREATED}', '{{}}', $16, clock_timestamp() FROM changed
    RETURNING seq, business_id, type{_DELIVER_AND_WAKE}"""


@cache
def update_sql(columns: tuple[str, ...]) -> str:
    """The UPDATE of these columns and its UPDATED event (none when no field changed),
    in one statement, guarded as the service's when it writes ``key_id``; a handful
    of column sets, each prepared once per connection."""
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(columns, start=2))
    event = len(columns) + 2
    guarded = ""
    if "key_id" in columns:  # sealed or indexed values: under a key still writing
        guarded = " AND " + guard("customer.business_id", f"${columns.index('key_id') + 2}")
    return (
        f"WITH changed AS (UPDATE customer SET {sets} WHERE id = $1{guarded}"
        " RETURNING business_id, id"
        "), event AS (INSERT INTO customer_event"
        " (id, business_id, customer_id, type, changed_fields, actor, occurred_at)"
        f" SELECT ${event}, business_id, id, '{UPDATED}', ${event + 1}::text[], ${event + 2},"
        f" clock_timestamp() FROM changed WHERE cardinality(${event + 1}::text[]) > 0"
        " RETURNING seq, business_id, type" + _DELIVER_AND_WAKE
    )


def default_name(email: str) -> str:
    """app.services.customers.default_name: the email's local part (one line, not
    imported, so the floor does not load the ORM's service module)."""
    return email.rsplit("@", 1)[0][: validation.NAME_MAX]


def error_json(error: UserError) -> dict[str, Any]:
    """A user error as `userErrors { field code message }` shows it."""
    field = None if error.field is None else list(error.field)
    return {"field": field, "code": error.code, "message": error.message}


def payload(
    mutation: str,
    customer: dict[str, Any] | None,
    errors: Sequence[UserError] = (),
    **more: Any,
) -> Response:
    """`{data: {<mutation>: {customer, ..., userErrors}}}`, in the selection's order."""
    answer = {"customer": customer, **more, "userErrors": [error_json(e) for e in errors]}
    return json_body({"data": {mutation: answer}})


async def json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def insert(
    pool: asyncpg.Pool,
    business_id: str,
    generation: Generation,
    data: Mapping[str, str | None],
    email_hash: str,
    actor: str,
) -> dict[str, Any]:
    """A new customer from checked values, with its CREATED event; what it serves.

    The row of app.services.customers.new_row: the id first (the AAD binds every
    value to it), name_lower and name_from_email, the blind index, both token
    arrays (app.crypto's SearchTokens.for_rows), each PII value sealed, all under
    the business's writing `generation`, named in ``key_id``.
    Raises asyncpg.UniqueViolationError when the email is taken.
    """
    customer_id = new_id("cust")
    name, email = data["name"], data["email"]
    assert name is not None and email is not None
    name_lower = name.lower()
    tokens, short = generation.search_tokens.for_rows(business_id, name_lower, email)
    plain = {column: data.get(column) for column in ENCRYPTED}
    sealed = {
        column: None if value is None else generation.seal(TABLE, column, customer_id, value)
        for column, value in plain.items()
    }
    now = datetime.now(UTC)
    company_name = data.get("company_name")
    changed, _ = await pool.fetchrow(
        INSERT_SQL,
        customer_id,
        business_id,
        name,
        name_lower,
        name_lower == default_name(email),
        sealed["email"],
        email_hash,
        sealed["phone"],
        sealed["address"],
        sealed["tin"],
        company_name,
        tokens,
        short,
        now,
        new_id("evt"),
        actor,
        generation.id,
    )
    if not changed:  # the guard: a benchmark never switches a business's key
        raise RuntimeError("the business no longer writes under the key the floor loaded")
    stamp = format_instant(now)
    return {
        "id": customer_id,
        "businessId": business_id,
        "name": name,
        "email": email,
        "phone": plain["phone"],
        "address": plain["address"],
        "tin": plain["tin"],
        "companyName": company_name,
        "accountBalanceKobo": 0,
        "accountBalance": 0 / 100,
        "isActive": True,
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def is_email_conflict(exc: asyncpg.UniqueViolationError) -> bool:
    return exc.constraint_name == EMAIL_INDEX


async def find_or_create(request: Request) -> Response:
    """findOrCreateCustomer: the active customer with this email, or a new one.

    Same as the service: app.services.customers.find_or_create_data's rules (the
    service's own validation.check on email and phone; a blank name means the
    default, the email's local part), the HMAC blind index, the lookup among
    active customers through the partial unique index, and on a miss an insert
    whose loss of the unique-index race re-reads the winner (up to 3 tries), so
    exactly one concurrent call says `created`.

    Written as the service now writes it too: the insert and its event in one
    statement, plans PostgreSQL may keep (plan_cache_mode=auto).  Cheaper by
    design: no GraphQL, no record object; the lookup reads only the columns served.
    """
    body = await json_object(request)
    business_id = body.get("businessId") if body is not None else None
    if body is None or not isinstance(business_id, str):
        return bad_request("a JSON object with a businessId is required")
    values: dict[str, Any] = {"email": body.get("email"), "phone": body.get("phone")}
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or name.strip()):
        values["name"] = name
    try:
        data = validation.check(values, INPUT)
    except InvalidInput as invalid:
        return payload("findOrCreateCustomer", None, invalid.errors, created=False)
    email = str(data["email"])
    if "name" not in data:
        data["name"] = default_name(email)
    try:
        generation = await keys_of(request, business_id)
    except KeysGone:
        return bad_request("no such business")
    email_hash = generation.email_index.digest(business_id, email)
    pool = pool_of(request)
    for _ in range(FIND_OR_CREATE_TRIES):
        row = await pool.fetchrow(FIND_SQL, business_id, email_hash)
        if row is not None:
            return payload("findOrCreateCustomer", customer_json(row), created=False)
        try:
            customer = await insert(
                pool, business_id, generation, data, email_hash, request.app.state.actor
            )
        except asyncpg.UniqueViolationError as exc:
            if not is_email_conflict(exc):
                raise
            continue  # another call created it first: read it
        return payload("findOrCreateCustomer", customer, created=True)
    raise RuntimeError("find-or-create did not settle")


async def create(request: Request) -> Response:
    """createCustomer: a new customer, or TAKEN if an active one has the email.

    Same as the service: validation.check over every field of the input (the
    service's own rules, phonenumbers' and email-validator's answers included),
    the row of new_row (see ``insert``), the CREATED event in the same
    transaction, and the unique index deciding TAKEN (no read first).

    As the service: one statement for the row and its event.  Cheaper by
    design: a plain VALUES insert (the service's is the bulk path's unnest of
    arrays, one statement for 1 or 500 rows).
    """
    body = await json_object(request)
    business_id = body.get("businessId") if body is not None else None
    if body is None or not isinstance(business_id, str):
        return bad_request("a JSON object with a businessId is required")
    values = {key: body.get(api_name) for key, (api_name, _) in validation.RULES.items()}
    try:
        data = validation.check(values, INPUT)
    except InvalidInput as invalid:
        return payload("createCustomer", None, invalid.errors)
    try:
        generation = await keys_of(request, business_id)
    except KeysGone:
        return bad_request("no such business")
    email_hash = generation.email_index.digest(business_id, str(data["email"]))
    try:
        customer = await insert(
            pool_of(request), business_id, generation, data, email_hash, request.app.state.actor
        )
    except asyncpg.UniqueViolationError as exc:
        if not is_email_conflict(exc):
            raise
        return payload("createCustomer", None, [TAKEN])
    return payload("createCustomer", customer)


#: The fields /update takes (service name, input name), in the service's order.
UPDATABLE = (("name", "name"), ("phone", "phone"))


async def update(request: Request) -> Response:
    """updateCustomer of name and phone: absent stays, null clears the phone.

    Same as the service: every input problem before anything is read (name
    cannot be cleared; the service's validation.check), then in one transaction
    the row locked by id within the business (NOT_FOUND, ERASED), the changed
    fields against the old values (the old phone decrypted), the new phone
    sealed, name_lower, name_from_email and both token arrays recomputed from
    the new name and the decrypted email when the customer is active, every
    given column written with updated_at, and an UPDATED event naming the
    changed fields (none when nothing changed).

    Different by design: the floor locks the row in a transaction (BEGIN, SELECT
    FOR UPDATE, UPDATE with its event, COMMIT: four round trips); the service
    reads without a lock and writes the UPDATE with its event at the row's
    version (xmin), retrying if another write came first (two round trips).  The
    floor's read fetches only the columns served (the service's model reads every
    column, both token arrays included).
    """
    body = await json_object(request)
    business_id = body.get("businessId") if body is not None else None
    if body is None or not isinstance(business_id, str):
        return bad_request("a JSON object with a businessId is required")
    customer_id = body.get("id")
    changes = {key: body[api_name] for key, api_name in UPDATABLE if api_name in body}
    errors = [NAME_CLEARED] if "name" in changes and changes["name"] is None else []
    try:
        data = validation.check(
            {k: v for k, v in changes.items() if k != "name" or v is not None}, INPUT
        )
    except InvalidInput as invalid:
        errors += invalid.errors
    if errors:
        return payload("updateCustomer", None, errors)
    if not isinstance(customer_id, str) or not well_formed(customer_id, "cust"):
        return payload("updateCustomer", None, [NOT_FOUND])
    try:
        generation = await keys_of(request, business_id)
    except KeysGone:
        return payload("updateCustomer", None, [NOT_FOUND])
    async with pool_of(request).acquire() as conn, conn.transaction():
        row = await conn.fetchrow(LOCK_SQL, customer_id, business_id)
        if row is None:
            return payload("updateCustomer", None, [NOT_FOUND])
        if row["erased_at"] is not None:
            return payload("updateCustomer", None, [ERASED])
        plain = opened(row)
        if not data:
            return payload("updateCustomer", shown(row, plain))
        old = {"name": row["name"], "phone": plain["phone"]}
        changed = [key for key, _ in UPDATABLE if key in data and old[key] != data[key]]
        now = datetime.now(UTC)
        columns: dict[str, Any] = {}
        if "name" in data:
            columns["name"] = data["name"]
        if "phone" in data:
            phone = plain["phone"] = data["phone"]
            columns["phone"] = (
                None if phone is None else generation.seal(TABLE, "phone", customer_id, phone)
            )
        columns["updated_at"] = now
        if "name" in data:
            name_lower = str(data["name"]).lower()
            email = str(plain["email"])
            columns["name_lower"] = name_lower
            columns["name_from_email"] = name_lower == default_name(email)
            if row["is_active"]:
                columns["search_tokens"], columns["short_tokens"] = (
                    generation.search_tokens.for_rows(row["business_id"], name_lower, email)
                )
        if "phone" in columns or "search_tokens" in columns:
            columns["key_id"] = generation.id  # as the service: sealed, so guarded
        await conn.execute(
            update_sql(tuple(columns)),
            customer_id,
            *columns.values(),
            new_id("evt"),
            changed,
            request.app.state.actor,
        )
    return payload("updateCustomer", shown(row, plain, name=data.get("name"), updated_at=now))


async def healthz(request: Request) -> Response:
    return json_body({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Keys and pool per worker process, as the service's lifespan does."""
    crypto.install(
        KeySet.parse(os.environ["FINORA_ENCRYPTION_KEYS"], os.environ["FINORA_INDEX_KEY"])
    )
    app.state.actor = os.environ.get("FINORA_FLOOR_ACTOR", "floor")
    app.state.keys = KeyCache()
    app.state.pool = await asyncpg.create_pool(
        **parse_database_url(os.environ["DATABASE_URL"]),  # type: ignore[arg-type]
        min_size=1,
        max_size=POOL_MAX,
        timeout=5,
        command_timeout=30,
        server_settings={"application_name": "finora-floor"},
        reset=release_without_reset,  # the same pool settings as the service
    )
    try:
        yield
    finally:
        await app.state.pool.close()


def create_app() -> Starlette:
    """The ASGI app; a factory so that each Uvicorn worker builds its own."""
    return Starlette(
        routes=[
            Route("/customers", list_customers, methods=["GET"]),
            Route("/customer", one_customer, methods=["GET"]),
            Route("/find-or-create", find_or_create, methods=["POST"]),
            Route("/create", create, methods=["POST"]),
            Route("/update", update, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
