"""GraphiQL, served whole by the service: no CDN, no inline script, no key in the URL.

The page (``graphiql/page.html``) loads only files of this package, mounted at
``/graphiql/``: the npm files in ``graphiql/static/vendor`` (pinned, with their
hashes in ``graphiql/manifest.json``; ``make graphiql-assets`` refreshes them)
and our own ``ide.js`` and ``ide.css``.  So the page works with no internet,
under a Content-Security-Policy of the service's own origin, and every tag
carries its Subresource Integrity hash.

In development the page holds the demo API key (in a JSON element the browser
does not execute).  A page that holds a key is answered only to a ``Host`` of
this machine: a DNS-rebinding site (``evil.example`` resolving to 127.0.0.1)
sends its own name as ``Host`` and is refused, so its script never reads the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from string import Template

from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.auth import wants_ide
from app.settings import Settings
from app.startup.demo import read_demo

HERE = Path(__file__).resolve().parent / "graphiql"
STATIC = HERE / "static"
MANIFEST = HERE / "manifest.json"
PREFIX = "/graphiql"

EXAMPLE_QUERY = """# Customers of the demo business: press the play button (Ctrl-Enter).
query Customers($businessId: ID!) {
  customers(businessId: $businessId, limit: 10) {
    id name email phone createdAt
  }
}
"""
PLAIN_QUERY = "# GraphiQL for the Finora API: send your key in the Headers tab.\n"

# graphiql.min.css embeds its fonts as data: URLs (no request: the bytes are in the CSS).
# Its data: images (CodeMirror's lint icons) are overridden by GraphiQL's own rules, so
# images stay 'self'; the browser test shows no CSP violation, lint marks included.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "font-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",  # the development page holds a key
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
_HOST = re.compile(r"(?P<name>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>\d{1,5}))?")
REFUSAL = (
    "GraphiQL in development answers only on this machine, with the demo key: "
    "open it at http://127.0.0.1:{port}/graphql (Host 127.0.0.1, localhost or [::1]).\n"
)


def is_local_host(host: str | None) -> bool:
    """Whether a Host header names this machine (127.0.0.1, localhost, [::1]; any port)."""
    match = _HOST.fullmatch((host or "").strip().lower())
    return bool(match) and match["name"] in LOCAL_NAMES


def sri(data: bytes, algorithm: str = "sha384") -> str:
    """A Subresource Integrity value (``sha384-<base64>``), the form of npm and browsers."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def vendor_files() -> list[dict[str, str]]:
    """The npm files of the manifest, in load order: ``file`` (under static/), ``integrity``."""
    manifest = json.loads(MANIFEST.read_text())
    return [entry for package in manifest["packages"] for entry in package["files"]]


def _tags() -> tuple[str, str]:
    """The page's <link> and <script> tags: vendor files first, then ours, each with SRI."""
    files = [(entry["file"], entry["integrity"]) for entry in vendor_files()]
    files += [(name, sri((STATIC / name).read_bytes())) for name in ("ide.css", "ide.js")]
    styles, scripts = [], []
    for name, integrity in files:
        url = f"{PREFIX}/{name}"
        if name.endswith(".css"):
            styles.append(f'    <link rel="stylesheet" href="{url}" integrity="{integrity}" />')
        else:
            scripts.append(f'    <script src="{url}" integrity="{integrity}"></script>')
    return "\n".join(styles), "\n".join(scripts)


def _json_for_html(value: object) -> str:
    """JSON that cannot end its <script> element early, whatever its strings hold."""
    text = json.dumps(value, indent=2)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(demo: dict[str, str] | None) -> str:
    """The page; with the demo key in its headers and a first query when there is a demo."""
    if demo:
        config = {
            "query": EXAMPLE_QUERY,
            "headers": json.dumps({"Authorization": f"Bearer {demo['key']}"}, indent=2),
            "variables": json.dumps({"businessId": demo["businessId"]}, indent=2),
        }
    else:
        config = {"query": PLAIN_QUERY}
    styles, scripts = _tags()
    template = Template((HERE / "page.html").read_text())
    return template.substitute(styles=styles, scripts=scripts, config=_json_for_html(config))


class WithIde:
    """ASGI: a browser asking /graphql for HTML gets the page; everything else, the API.

    The predicate is the one the key check uses to let the page through without
    a key (``wants_ide``), so nothing else passes unauthenticated.
    """

    def __init__(self, api: ASGIApp, *, demo: dict[str, str] | None, local_only: bool) -> None:
        self.api = api
        self.page = render_page(demo)
        self.local_only = local_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_ide(scope):
            await self.api(scope, receive, send)
            return
        host = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1")
        if self.local_only and not is_local_host(host):
            port = (scope.get("server") or ("", "<port>"))[1]
            response = PlainTextResponse(REFUSAL.format(port=port), 403, headers=PAGE_HEADERS)
        else:
            response = HTMLResponse(self.page, headers=PAGE_HEADERS)
        await response(scope, receive, send)


def with_ide(api: ASGIApp, settings: Settings) -> ASGIApp:
    """The API with GraphiQL in front when it is on; production gets no demo key."""
    if not settings.graphiql:
        return api
    return WithIde(api, demo=read_demo(settings), local_only=not settings.is_production)


def ide_routes(settings: Settings) -> list[BaseRoute]:
    """The page's files at /graphiql/ (public: libraries and our own script, no secret)."""
    if not settings.graphiql:
        return []
    return [Mount(PREFIX, app=StaticFiles(directory=STATIC), name="graphiql")]
