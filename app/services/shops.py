"""Shop connections of a business: create (the secret kept encrypted, never shown
again), list, delete; their problems; the links they made.

A connection is how a shop's webhooks are trusted: the URL names it, the secret
signs each body.  Deleting one stops its deliveries (404) and keeps the links it
made, so a customer's history still says where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from app.db.reads import fetch
from app.db.transaction import transaction
from app.ids import new_id, well_formed
from app.models import ExternalLink, ShopConnection, ShopProblem, keyring
from app.models.records import CustomerRecord
from app.services import customers, shop_sync
from app.services.access import Caller, require_business, require_write
from app.services.errors import BadUserInput, InvalidInput, UserError
from app.settings import Settings
from app.shoppers.platforms import SHOPIFY, WOOCOMMERCE
from app.shops import domains

PLATFORMS = (SHOPIFY, WOOCOMMERCE)
#: Live connections per business (the contract's).
MAX_CONNECTIONS = 20
SECRET_MIN, SECRET_MAX = 8, 256
PROBLEMS_MAX = 100
_LIVE_INDEX = "shop_connection_live_uidx"


def _invalid(field: str | None, code: str, message: str) -> InvalidInput:
    return InvalidInput([UserError((field,) if field else None, code, message)])


def webhook_url(connection_id: str, settings: Settings | None = None) -> str:
    """Where the shop sends its webhooks: FINORA_PUBLIC_URL (else the listening
    address) + /v1/shops/{id}/webhooks."""
    origin = (settings or Settings.from_env()).origin
    return f"{origin}/v1/shops/{connection_id}/webhooks"


def _checked(platform: str, shop_domain: str, secret: str) -> str:
    """The normalised domain; every problem of the input at once."""
    errors: list[UserError] = []
    domain = ""
    if not shop_domain.strip():
        errors.append(UserError(("shopDomain",), "BLANK", "shopDomain is required"))
    else:
        try:
            domain = domains.checked(platform, shop_domain)
        except domains.BadDomain:
            expected = "a *.myshopify.com domain" if platform == SHOPIFY else "a site address"
            errors.append(UserError(("shopDomain",), "INVALID", f"shopDomain must be {expected}"))
    if len(secret.strip()) < SECRET_MIN:
        message = f"secret must be at least {SECRET_MIN} characters"
        errors.append(UserError(("secret",), "BLANK", message))
    elif len(secret) > SECRET_MAX:
        message = f"secret is longer than {SECRET_MAX} characters"
        errors.append(UserError(("secret",), "TOO_LONG", message))
    if errors:
        raise InvalidInput(errors)
    return domain


async def create_connection(
    caller: Caller, *, business_id: str, platform: str, shop_domain: str, secret: str
) -> ShopConnection:
    """A new connection; TAKEN for a second one to the same shop."""
    require_write(caller)
    require_business(caller, business_id)
    if platform not in PLATFORMS:
        raise BadUserInput("Unknown platform")
    domain = _checked(platform, shop_domain, secret)
    async with transaction() as conn:
        # The business row lock makes the count and the insert one step.
        keys = await keyring.for_write(conn, business_id, exclusive=True)
        connection = ShopConnection(
            id=new_id("shop"),
            business_id=business_id,
            platform=platform,
            shop_domain=domain,
            secret=secret,
            key_id=keys.write.id,
        )
        live = (
            await ShopConnection.filter(business_id=business_id, deleted_at=None)
            .using_db(conn)
            .count()
        )
        if live >= MAX_CONNECTIONS:
            message = f"A business may have at most {MAX_CONNECTIONS} shop connections"
            raise _invalid(None, "INVALID", message)
        try:
            await connection.save(force_create=True, using_db=conn)
        except IntegrityError as exc:
            constraint = getattr(exc.args[0] if exc.args else None, "constraint_name", None)
            if constraint == _LIVE_INDEX:
                raise _invalid("shopDomain", "TAKEN", "This shop is already connected") from None
            raise
    return connection


async def list_connections(caller: Caller, *, business_id: str) -> list[ShopConnection]:
    """The business's live connections, oldest first."""
    require_business(caller, business_id)
    return (
        await ShopConnection.filter(business_id=business_id, deleted_at=None)
        .order_by("created_at", "id")
        .limit(MAX_CONNECTIONS)
    )


async def delete_connection(caller: Caller, *, connection_id: str) -> str:
    """Stop accepting the connection's deliveries; its links stay on the customers."""
    require_write(caller)
    if not well_formed(connection_id, "shop"):
        raise _invalid("id", "NOT_FOUND", "No such shop connection")
    gone = await ShopConnection.filter(
        id=connection_id, business_id=caller.business_id, deleted_at=None
    ).update(deleted_at=datetime.now(UTC))
    if not gone:
        raise _invalid("id", "NOT_FOUND", "No such shop connection")
    return connection_id


async def problems(connection_id: str, first: int) -> list[ShopProblem]:
    """The connection's recent problems, newest first."""
    if not 1 <= first <= PROBLEMS_MAX:
        raise BadUserInput(f"first must be between 1 and {PROBLEMS_MAX}")
    return await ShopProblem.filter(connection_id=connection_id).order_by("-id").limit(first)


async def links_of(customer_ids: Sequence[str]) -> dict[str, list[ExternalLink]]:
    """Each customer's links, oldest first (one query for a whole page of customers)."""
    found: dict[str, list[ExternalLink]] = {customer_id: [] for customer_id in customer_ids}
    if customer_ids:
        rows = await ExternalLink.filter(customer_id__in=list(found)).order_by("id")
        for row in rows:
            found[row.customer_id].append(row)  # type: ignore[attr-defined]
    return found


async def customer_by_external_id(
    caller: Caller, *, connection_id: str, external_id: str
) -> CustomerRecord | None:
    """The customer linked to a shop customer id on one of the caller's connections
    (active or not, link removed or not); None otherwise."""
    if not well_formed(connection_id, "shop"):
        return None
    kind = customers.record_type(caller)
    rows = await fetch(
        f"SELECT {kind.select} FROM customer WHERE business_id = $3 AND id = ("
        "SELECT l.customer_id FROM customer_external_id l "
        "JOIN shop_connection s ON s.id = l.connection_id "
        "WHERE l.connection_id = $1 AND l.external_id = $2 AND s.business_id = $3)",
        connection_id,
        external_id.strip(),
        caller.business_id,
    )
    return kind(rows[0]) if rows else None


_LIVE = (
    "SELECT id, business_id, platform, shop_domain, secret FROM shop_connection "
    "WHERE id = $1 AND deleted_at IS NULL"
)
_SECRET = ShopConnection._meta.fields_map["secret"]


async def live_connection(connection_id: str) -> shop_sync.Connection | None:
    """A connection that accepts deliveries, its secret opened; None if unknown or deleted
    (one primary-key read: a delivery costs no more before its signature is checked)."""
    if not well_formed(connection_id, "shop"):
        return None
    rows = await fetch(_LIVE, connection_id)
    if not rows:
        return None
    row = rows[0]
    try:
        await keyring.of(row["business_id"])  # its secret opens under the business's key
    except keyring.KeysGone:
        return None  # offboarded: the shop's deliveries are refused like an unknown one's
    return shop_sync.Connection(
        id=row["id"],
        business_id=row["business_id"],
        platform=row["platform"],
        shop_domain=row["shop_domain"],
        secret=_SECRET.open_for(row["id"], bytes(row["secret"])),  # type: ignore[attr-defined]
    )
