"""``Cache-Control: no-store`` on every answer of the service.

Answers carry decrypted PII (GraphQL by GET or POST, REST, even an error may
name a customer id), and a GET query is a URL that a browser, a proxy or a CDN
would otherwise be free to keep.  One rule for every path, so no new route can
forget it; the probes and the OpenAPI document lose nothing by it.  It replaces
any Cache-Control a handler set: nothing here may be stored.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE = (b"cache-control", b"no-store")


class NoStore:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != NO_STORE[0]]
                message = {**message, "headers": [*headers, NO_STORE]}
            await send(message)

        await self.app(scope, receive, send_no_store)
