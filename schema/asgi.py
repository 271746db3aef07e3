"""The composition root: the web app with the GraphQL view mounted.

Uvicorn imports ``schema.asgi:create_app`` (a factory) in every worker.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from app.http.app import create_web_app
from app.settings import Settings
from app.startup.demo import read_demo
from schema.http import GraphQLView
from schema.schema import schema


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings.from_env()
    view = GraphQLView(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        allow_queries_via_get=True,
        multipart_uploads_enabled=False,
        demo=read_demo(settings),
    )
    return create_web_app(settings, view)
