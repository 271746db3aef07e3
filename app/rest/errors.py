"""Service errors as REST answers: ``{"success": false, "error": {code, message, field}}``.

Statuses: 400 bad input, 403 a foreign business, 404 no such customer, 409 an
email taken, 429 a call the key has not paid for (with Retry-After), 503 database
unavailable; anything unexpected is masked as 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from app.http.ratelimit import retry_after_header
from app.http.responses import rest_error
from app.models import keyring
from app.services.errors import (
    Forbidden,
    InvalidInput,
    RateLimited,
    ServiceError,
    Unavailable,
)
from app.services.health import is_unavailable

log = logging.getLogger("finora.rest")

USER_ERROR_STATUS = {"NOT_FOUND": 404, "TAKEN": 409}
SERVICE_ERROR_STATUS = {"FORBIDDEN": 403, "BAD_USER_INPUT": 400, "SERVICE_UNAVAILABLE": 503}


class BadRequest(Exception):
    """A request the REST layer cannot even hand to a service (no businessId, bad JSON)."""

    def __init__(self, message: str, field: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def _from_invalid(exc: InvalidInput) -> Response:
    first = exc.errors[0]
    status = max(USER_ERROR_STATUS.get(e.code, 400) for e in exc.errors)
    return rest_error(status, first.code, first.message, first.field[-1] if first.field else None)


Handler = Callable[[Request], Awaitable[Response]]


def handle_errors(handler: Handler) -> Handler:
    operation = f"rest.{handler.__name__}"

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        request.state.operation = operation
        try:
            return await handler(request)
        except BadRequest as exc:
            return rest_error(exc.status, "BAD_USER_INPUT", exc.message, exc.field)
        except InvalidInput as exc:
            return _from_invalid(exc)
        except RateLimited as exc:
            response = rest_error(429, exc.code, exc.message)
            response.headers["Retry-After"] = retry_after_header(exc.retry_after)
            return response
        except ServiceError as exc:
            if exc.code in SERVICE_ERROR_STATUS:
                return rest_error(SERVICE_ERROR_STATUS[exc.code], exc.code, exc.message)
            raise
        except keyring.KeysGone:  # offboarded since this key was checked
            gone = Forbidden()
            return rest_error(403, gone.code, gone.message)
        except Exception as exc:
            unavailable = is_unavailable(exc)
            log.error(
                "handler failed",
                extra={"fields": {"error_type": type(exc).__name__, "route": handler.__name__}},
            )
            if unavailable:
                error = Unavailable()
                return rest_error(503, error.code, error.message)
            return rest_error(500, "INTERNAL_SERVER_ERROR", "Internal server error")

    return wrapped
