"""POST /v1/shops/{connection id}/webhooks: a shop's deliveries, trusted by signature.

No API key: the connection's secret signs each body.  The order of the checks
keeps a forged or flooding sender cheap: the body limit (413 on a declared
length over 1 MB before anything is read, and on a streamed body as soon as it
passes it; a body under it is read whole before the rest, app.http.bodylimit),
one primary-key read of the connection (404), one HMAC over the raw bytes and the
origin check (401), and only then the door (app.http.door): the connection's
own rate limit (429 with Retry-After, which shops honour), so forged requests
cannot spend a real shop's budget, and a slot of the business: a shop's
deliveries are its business's requests, so a burst waits behind that
business's own share, not other businesses'.  A verified delivery is applied in the request, in one
transaction (app.services.shop_sync), and answered 200 only once it has
committed: a 200 is never lost, and anything else is delivered again.

Answers never say which check failed beyond their status, and never echo the body.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.bodylimit import BodyLimit
from app.http.door import Door, Limit, Refused
from app.http.ratelimit import retry_after_header
from app.http.responses import json_response
from app.services import shop_sync, shops
from app.shops import deliveries, topics

log = logging.getLogger("finora.shops")

#: The contract's bound on a delivery's body.
MAX_BODY_BYTES = 1_000_000


def _answer(status: int, outcome: str) -> Response:
    return json_response({"status": outcome}, status)


def _later(outcome: str, wait: str) -> Response:
    """429 with the Retry-After shops honour."""
    response = _answer(429, outcome)
    response.headers["Retry-After"] = wait
    return response


class ShopWebhooks:
    """The endpoint; `limit` is each connection's bucket at the door, which also holds
    the businesses' admission slots (a shop's deliveries are its business's requests)."""

    def __init__(self, door: Door, limit: Limit) -> None:
        self.door = door
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.answer(request)
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        connection_id = str(request.path_params["connection_id"])
        connection = await shops.live_connection(connection_id)
        if connection is None:
            return _answer(404, "not_found")
        body = await request.body()
        headers = request.headers
        if deliveries.is_ping(connection.platform, headers, body):
            return _answer(200, "ping")
        try:
            delivery = deliveries.verified(
                connection.platform, connection.secret, connection.shop_domain, headers, body
            )
        except deliveries.Refused:
            return _answer(401, "unauthorized")
        entered = await self.door.enter(self.limit, connection.id, connection.business_id)
        if isinstance(entered, Refused):
            outcome = "rate_limited" if entered.reason == "rate" else "busy"
            return _later(outcome, retry_after_header(entered.wait))
        try:
            await shop_sync.touch(connection.id)
            if not topics.handled(connection.platform, delivery.topic):
                return _answer(200, shop_sync.Result.IGNORED)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                return _answer(400, "not_json")
            action = topics.action(connection.platform, delivery.topic, payload)
            applied = await shop_sync.apply(connection, delivery, action)
        finally:
            entered.leave(0.0)
        fields = {
            "connection": connection.id,
            "topic": delivery.topic,
            "result": str(applied.result),
            "created": applied.created,
            "changed": applied.changed,
            "erased": applied.erased,
            "problems": shop_sync.problem_fields(applied.problems),
        }
        log.info("shop delivery", extra={"fields": fields})
        return _answer(200, applied.result)


def shop_webhooks(door: Door, limit: Limit) -> ASGIApp:
    """The endpoint behind its body limit."""
    return BodyLimit(ShopWebhooks(door, limit), max_bytes=MAX_BODY_BYTES)
