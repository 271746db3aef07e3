"""Request body limit: bodies over the limit get HTTP 413 before anything reads them.

The body is read here, up to the limit, and handed on whole: a declared
Content-Length over the limit is refused at once, and a streamed (chunked) body
is refused as soon as it passes the limit, before any endpoint has started.
It sits behind the API key check (app.http.app), so a body is only ever
buffered for a caller with a valid key and rate budget.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.responses import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, declared in scope["headers"]:
            if name == b"content-length":
                if not declared.isdigit() or int(declared) > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # later messages (a disconnect) come from the server
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(scope, 413, "BAD_USER_INPUT", "The request body is too large")
        await response(scope, receive, send)
