"""GraphiQL in development opens with the demo key and a first query."""

from __future__ import annotations

import json
from dataclasses import replace

from app.startup.demo import DEMO_FILE, read_demo
from schema.asgi import create_app
from schema.http import GraphQLView
from schema.schema import schema


def test_page_carries_the_demo_key_and_an_example(tmp_path, settings):
    demo = {"businessId": "biz_demo", "key": "fin_live_demokey"}
    (tmp_path / DEMO_FILE).write_text(json.dumps(demo))
    dev = replace(settings, data_dir=tmp_path)
    assert read_demo(dev) == demo
    page = GraphQLView(schema, graphql_ide="graphiql", demo=read_demo(dev)).graphql_ide_html
    assert "Bearer fin_live_demokey" in page and "biz_demo" in page
    assert "customers(businessId: $businessId, limit: 10)" in page
    plain = GraphQLView(schema, graphql_ide="graphiql").graphql_ide_html
    assert "fin_live" not in plain


def test_production_never_reads_the_demo_key(tmp_path, settings):
    (tmp_path / DEMO_FILE).write_text(json.dumps({"businessId": "b", "key": "k"}))
    production = replace(settings, data_dir=tmp_path, env="production", graphiql=True)
    assert read_demo(production) is None
    assert create_app(production) is not None
