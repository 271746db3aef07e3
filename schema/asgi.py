"""The composition root: the web app with the GraphQL view (and GraphiQL) mounted.

Uvicorn imports ``schema.asgi:create_app`` (a factory) in every worker.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from app.http.app import create_web_app
from app.settings import Settings
from app.shared.documents import SharedDocuments
from app.shared.link import connect
from schema.http import GraphQLView
from schema.ide import ide_routes, with_ide
from schema.persisted import PersistedStore
from schema.schema import schema


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings.from_env()
    link = connect(settings)
    view = GraphQLView(
        schema,
        graphql_ide=None,  # schema.ide serves the page
        allow_queries_via_get=True,
        multipart_uploads_enabled=False,
        persisted=PersistedStore(SharedDocuments(link) if link else None),
    )
    return create_web_app(
        settings, with_ide(view, settings), routes=ide_routes(settings), link=link
    )
