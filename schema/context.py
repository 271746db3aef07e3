"""The per-request context every resolver receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.dataloader import DataLoader
from strawberry.types import Info as _Info

from app.services.access import Caller


@dataclass
class Context:
    request: Request
    response: Response
    caller: Caller
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def loader(
        self, name: str, batch: Callable[[Sequence[Any]], Awaitable[dict[Any, Any]]]
    ) -> DataLoader[Any, Any]:
        """This request's loader `name`: the keys asked for while a response is built
        are read in one call of `batch` (keys -> values), e.g. a page's links."""
        found = self.loaders.get(name)
        if found is None:

            async def load(keys: list[Any]) -> list[Any]:
                values = await batch(keys)
                return [values[key] for key in keys]

            found = self.loaders[name] = DataLoader(load_fn=load)
        return found


Info = _Info[Context, None]
