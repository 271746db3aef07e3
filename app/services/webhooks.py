"""Webhook endpoints of a business: create (the secret shown once), list, delete.

The secret is stored encrypted like PII (bound to its row), and only the worker
opens it, to sign.  URLs follow the SSRF rules of app.webhooks.addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from app.db.transaction import transaction
from app.ids import new_id, well_formed
from app.models import Business, WebhookDelivery, WebhookEndpoint
from app.services import events
from app.services.access import Caller, require_business, require_clear, require_write
from app.services.errors import InvalidInput, UserError
from app.webhooks import signing
from app.webhooks.addresses import URL_MAX, Policy, Refused, check, current_policy

#: Live endpoints per business: every customer change is fanned out to each.
MAX_ENDPOINTS = 20


def _invalid(field: tuple[str, ...] | None, code: str, message: str) -> InvalidInput:
    return InvalidInput([UserError(field, code, message)])


def _event_types(given: Sequence[str] | None) -> list[str]:
    if given is None:
        return list(events.TYPES)
    if not given:
        raise _invalid(("eventTypes",), "INVALID", "Give at least one event type, or null for all")
    return [kind for kind in events.TYPES if kind in given]


async def create_endpoint(
    caller: Caller,
    *,
    business_id: str,
    url: str,
    event_types: Sequence[str] | None,
    policy: Policy | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned here only, never again)."""
    require_write(caller)
    require_business(caller, business_id)
    url = url.strip()
    if not url:
        raise _invalid(("url",), "BLANK", "url is required")
    if len(url) > URL_MAX:
        raise _invalid(("url",), "TOO_LONG", f"url is longer than {URL_MAX} characters")
    kinds = _event_types(event_types)
    try:
        await check(url, policy or current_policy())
    except Refused as refused:
        raise _invalid(("url",), "INVALID", f"url refused: {refused}") from None
    secret = signing.new_secret()
    async with transaction() as conn:
        # The business row lock makes the count and the insert one step.
        await Business.filter(id=business_id).select_for_update().using_db(conn).first()
        live = await WebhookEndpoint.filter(business_id=business_id, deleted_at=None)
        if len(live) >= MAX_ENDPOINTS:
            raise _invalid(
                None, "INVALID", f"A business may have at most {MAX_ENDPOINTS} webhook endpoints"
            )
        endpoint = WebhookEndpoint(
            id=new_id("whep"), business_id=business_id, url=url, secret=secret, event_types=kinds
        )
        await endpoint.save(force_create=True, using_db=conn)
    return endpoint, secret


async def list_endpoints(caller: Caller, *, business_id: str) -> list[WebhookEndpoint]:
    """The business's endpoints (enabled or not), oldest first; not for masked keys
    (an endpoint's URL can name a person, and its list tells where data flows)."""
    require_clear(caller)
    require_business(caller, business_id)
    return (
        await WebhookEndpoint.filter(business_id=business_id, deleted_at=None)
        .order_by("created_at", "id")
        .limit(MAX_ENDPOINTS)
    )


async def delete_endpoint(caller: Caller, *, endpoint_id: str) -> str:
    """Delete an endpoint of the caller's business and drop its pending deliveries."""
    require_write(caller)
    if not well_formed(endpoint_id, "whep"):
        raise _invalid(("id",), "NOT_FOUND", "No such webhook endpoint")
    async with transaction() as conn:
        gone = await (
            WebhookEndpoint.filter(id=endpoint_id, business_id=caller.business_id, deleted_at=None)
            .using_db(conn)
            .update(deleted_at=datetime.now(UTC))
        )
        if not gone:
            raise _invalid(("id",), "NOT_FOUND", "No such webhook endpoint")
        await (
            WebhookDelivery.filter(endpoint_id=endpoint_id, status="pending")
            .using_db(conn)
            .delete()
        )
    return endpoint_id
