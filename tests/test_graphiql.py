"""GraphiQL served by the service: its files from the manifest, a strict CSP,
the demo key only in development and only to a Host of this machine.

The browser side (it renders, runs, keeps the key out of the URL, loads nothing
from elsewhere) is tests/test_graphiql_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest

from app.http import logs
from app.settings import Settings
from app.startup.demo import DEMO_FILE, read_demo
from schema.asgi import create_app
from schema.ide import CSP, PREFIX, is_local_host, render_page, sri, vendor_files

DEMO = {"businessId": "biz_demo", "key": "fin_live_demokey"}
HTML = {"Accept": "text/html"}


@asynccontextmanager
async def serving(
    settings: Settings, host: str = "127.0.0.1:8000"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app of these settings (no lifespan: the page and its files need no database)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers={"Host": host}
        ) as client:
            yield client
    finally:
        logs.configure(json_lines=False)  # create_app in production switched to JSON logs


@pytest.fixture
def dev(tmp_path, settings) -> Settings:
    (tmp_path / DEMO_FILE).write_text(json.dumps(DEMO))
    return replace(settings, data_dir=tmp_path, env="development", graphiql=True)


def config_of(page: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="graphiql-config">(.*?)</script>', page, re.S
    )
    assert match, page
    return json.loads(match[1])


async def test_page_carries_the_demo_key_and_an_example_as_data(dev):
    async with serving(dev) as http:
        page = await http.get("/graphql", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    config = config_of(page.text)
    assert json.loads(config["headers"]) == {"Authorization": "Bearer fin_live_demokey"}
    assert json.loads(config["variables"]) == {"businessId": "biz_demo"}
    assert "customers(businessId: $businessId, limit: 10)" in config["query"]


async def test_page_has_no_inline_script_and_a_strict_csp(dev):
    async with serving(dev) as http:
        page = await http.get("/graphql", headers=HTML)
    assert page.headers["content-security-policy"] == CSP
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["connect-src"] == directives["img-src"] == "'self'"
    assert directives["font-src"] == "'self' data:"  # graphiql.min.css embeds its fonts
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    executable = [attrs for attrs, _ in scripts if 'type="application/json"' not in attrs]
    assert len(executable) == 5
    for attrs, body in scripts:
        if 'type="application/json"' not in attrs:
            assert body == "" and f'src="{PREFIX}/' in attrs and 'integrity="sha384-' in attrs
    assert "<style" not in page.text and "style=" not in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from elsewhere


async def test_served_files_match_the_manifest(dev):
    """The bytes served are npm's, as recorded; and the page asks the browser to check them."""
    files = vendor_files()
    assert {entry["file"].rsplit("/", 1)[1] for entry in files} == {
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
        "plugin-explorer.umd.js",
        "plugin-explorer.css",
    }
    async with serving(dev) as http:
        page = (await http.get("/graphql", headers=HTML)).text
        for entry in files:
            served = await http.get(f"{PREFIX}/{entry['file']}")
            assert served.status_code == 200, entry
            assert sri(served.content) == entry["integrity"], entry["file"]
            assert f'{PREFIX}/{entry["file"]}" integrity="{entry["integrity"]}"' in page
        for own in ("ide.js", "ide.css"):
            served = await http.get(f"{PREFIX}/{own}")
            assert served.status_code == 200 and sri(served.content) in page
        for hidden in ("/graphiql/../manifest.json", "/graphiql/page.html", "/graphiql/nope.js"):
            assert (await http.get(hidden)).status_code == 404


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:3000", "[::1]", "[::1]:8000"]
)
async def test_local_hosts_get_the_page(dev, host):
    async with serving(dev, host) as http:
        page = await http.get("/graphql", headers=HTML)
    assert page.status_code == 200 and "fin_live_demokey" in page.text


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8000",
        "127.0.0.1.evil.example",
        "localhost.evil.example:8000",
        "127.0.0.2:8000",
        "0.0.0.0:8000",
        "[::2]:8000",
        "localhost:8000:8000",
        "localhost:http",
        "[::1]evil",
    ],
)
async def test_other_hosts_are_refused_in_development_and_never_see_the_key(dev, host):
    """A DNS-rebinding page (evil.example resolving to 127.0.0.1) sends its own Host."""
    async with serving(dev, host) as http:
        page = await http.get("/graphql", headers=HTML)
        files = await http.get(f"{PREFIX}/ide.js")  # public files: no key in them
    assert page.status_code == 403
    assert "fin_live" not in page.text and "biz_demo" not in page.text
    assert "answers only on this machine" in page.text and "127.0.0.1" in page.text
    assert page.headers["content-type"].startswith("text/plain")
    assert files.status_code == 200 and "fin_live" not in files.text


def test_is_local_host_edge_cases():
    assert is_local_host("127.0.0.1:65535") and is_local_host(" localhost ")
    for host in (None, "", ":8000", "[::1", "::1", "localhost.", "127.0.0.1:123456"):
        assert not is_local_host(host), host


async def test_production_with_graphiql_serves_the_page_without_a_key_to_any_host(dev):
    production = replace(dev, env="production", graphiql=True)
    assert read_demo(production) is None
    async with serving(production, "api.finora.example") as http:
        page = await http.get("/graphql", headers=HTML)
        script = await http.get(f"{PREFIX}/ide.js")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "fin_live" not in page.text and "biz_demo" not in page.text
    assert set(config_of(page.text)) == {"query"}
    assert script.status_code == 200


async def test_without_graphiql_neither_page_nor_files(dev):
    production = replace(dev, env="production", graphiql=False)
    async with serving(production) as http:
        page = await http.get("/graphql", headers=HTML)
        script = await http.get(f"{PREFIX}/ide.js")
    assert page.status_code in (401, 404) and "graphiql" not in page.text.lower()
    assert script.status_code == 404


def test_page_data_cannot_close_its_script_element():
    page = render_page({"businessId": "</script><script>alert(1)</script>", "key": "k&<>"})
    assert "</script><script>alert(1)" not in page
    config = config_of(page)
    assert json.loads(config["variables"])["businessId"].startswith("</script>")


def test_a_wheel_ships_the_page_and_its_files(tmp_path):
    """A non-editable install (the Dockerfile's `pip install .`) must have the files."""
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, tmp_path / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for package in ("app", "schema"):
        shutil.copytree(root / package, tmp_path / package, ignore=ignore)
    build = "from setuptools.build_meta import build_wheel; build_wheel('dist')"  # no network
    (tmp_path / "dist").mkdir()
    subprocess.run([sys.executable, "-c", build], cwd=tmp_path, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    ide = root / "schema" / "graphiql"
    expected = {f"schema/graphiql/{p.relative_to(ide)}" for p in ide.rglob("*") if p.is_file()}
    assert len(expected) == 10 and expected <= shipped, expected - shipped
