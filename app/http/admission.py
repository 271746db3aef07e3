"""Admission: every API request through the door (app.http.door) before it runs.

The door takes a token of the caller's key (app.http.ratelimit) and a slot of
its business (app.http.slots).  Once in, the request runs under a work meter
(app.meter) that can take tokens from its key for work about to start (a bulk
call's rows) and, when it is answered, its key is charged for the work done,
so cost follows the real work.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app import meter
from app.http.auth import CALLER
from app.http.door import Door, Limit, Refused
from app.http.ratelimit import retry_after_header
from app.http.responses import error_response


class Admit:
    """ASGI middleware behind RequireApiKey: through the door (a token of the caller's
    key, then a slot of its business), a work meter while the request runs, and the
    work charged to its key when it leaves."""

    def __init__(self, app: ASGIApp, *, door: Door, limit: Limit, work_per_token: float) -> None:
        self.app = app
        self.door = door
        self.limit = limit
        self.work_per_token = work_per_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get("state", {}).get(CALLER)
        if scope["type"] != "http" or caller is None:
            await self.app(scope, receive, send)
            return
        entered = await self.door.enter(self.limit, caller.key_prefix, caller.business_id)
        if isinstance(entered, Refused):
            if entered.reason == "rate":
                message, wait = "Too many requests for this API key", entered.wait
            else:
                message, wait = "Too many requests in progress for this business", 1.0
            response = error_response(scope, 429, "RATE_LIMITED", message)
            response.headers["Retry-After"] = retry_after_header(wait)
            await response(scope, receive, send)
            return
        work = None
        try:
            with meter.metered(entered.pay) as work:
                await self.app(scope, receive, send)
        finally:
            entered.leave(work.tokens(self.work_per_token) if work is not None else 0.0)
