"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as _Info

from app.services.access import Caller


@dataclass
class Context:
    request: Request
    response: Response
    caller: Caller


Info = _Info[Context, None]
