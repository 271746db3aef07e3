"""GraphiQL in a real browser (headless Chromium): it renders, runs the demo
query, never puts the key in the address bar and loads nothing from elsewhere.

Chromium starts with every host name resolving to nothing (``--host-resolver-rules``),
which stands for "no network": a page that still needed a CDN would stay on
"Loading...".  Every request the page makes is read from Chrome's performance
log (CDP Network events) and must go to the server's own origin.

Needs Debian's ``chromium`` and ``chromium-driver``; selenium is given both
paths, so Selenium Manager never downloads a browser.  Under CI (CI=true) a
missing browser fails the test; elsewhere it is skipped with how to install it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from app.services import customers as svc
from app.services.access import Caller
from app.startup.demo import DEMO_FILE
from tests.conftest import make_tenant, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REBOUND = "rebind.test"  # a "DNS-rebinding" name the browser resolves to 127.0.0.1
NAMES = ["Ada Obi", "Bola Ade", "Chidi Eze"]
WAIT_S = 20


def _browser_or_skip() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI must run the browser test (.ci/run installs it)")
    pytest.skip(f"{message}: install with `sudo apt-get install -y chromium chromium-driver`")


def _driver() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    return webdriver.Chrome(service=service, options=options)


def _editor_value(driver: webdriver.Chrome, selector: str) -> str:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "return e && e.CodeMirror ? e.CodeMirror.getValue() : null;",
        selector,
    )


def _requested_urls(driver: webdriver.Chrome) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


async def _demo(data_dir: Path) -> dict[str, str]:
    tenant = await make_tenant("Browser Shop")
    caller = Caller(tenant.business_id, "test")
    for n, name in enumerate(NAMES):
        await svc.create_customer(
            caller,
            business_id=tenant.business_id,
            values={"name": name, "email": f"c{n}@example.ng"},
        )
    demo = {"businessId": tenant.business_id, "key": tenant.key}
    (data_dir / DEMO_FILE).write_text(json.dumps(demo))
    return demo


def _drive(url: str, demo: dict[str, str], screenshot: str | None) -> None:
    origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    driver = _driver()
    try:
        driver.get(f"{url}/graphql")
        wait = WebDriverWait(driver, WAIT_S)
        query_editor = ".graphiql-query-editor .CodeMirror"
        wait.until(lambda d: "customers(businessId" in (_editor_value(d, query_editor) or ""))

        # The Headers tab holds the demo key.
        driver.find_element(By.XPATH, "//button[normalize-space()='Headers']").click()
        headers_editor = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
        wait.until(lambda d: "Authorization" in (_editor_value(d, headers_editor) or ""))
        assert json.loads(_editor_value(driver, headers_editor)) == {
            "Authorization": f"Bearer {demo['key']}"
        }

        # The prefilled query runs and shows the demo business's customers.
        driver.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        result = ".result-window .CodeMirror"
        wait.until(lambda d: "customers" in (_editor_value(d, result) or ""))
        answer = json.loads(_editor_value(driver, result))
        assert [c["name"] for c in answer["data"]["customers"]] == NAMES

        # Typing in the query and the headers editors never writes the key into the URL.
        # The stray "}" is a syntax error: its lint mark is an image of the CSS (CSP below).
        for editor, text in ((query_editor, "}"), (headers_editor, " ")):
            ActionChains(driver).click(driver.find_element(By.CSS_SELECTOR, editor)).perform()
            ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.END).key_up(
                Keys.CONTROL
            ).send_keys(text).perform()
        wait.until(lambda d: "q=" in d.current_url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".CodeMirror-lint-mark-error"))
        assert demo["key"] not in driver.current_url and "headers" not in driver.current_url
        stored = driver.execute_script("return JSON.stringify(window.localStorage);")
        assert demo["key"] not in stored
        if screenshot:
            driver.save_screenshot(screenshot)

        # Nothing but the service itself was asked for anything (data: URLs are the CSS's fonts).
        urls = _requested_urls(driver)
        assert f"{origin}/graphiql/vendor/graphiql.min.js" in urls, urls
        assert [u for u in urls if not u.startswith((f"{origin}/", "data:"))] == []
        console = [entry["message"] for entry in driver.get_log("browser")]
        assert [m for m in console if "Content Security Policy" in m] == []

        # A page of another name resolving to this machine (DNS rebinding) gets no key.
        driver.get(f"http://{REBOUND}:{urlsplit(url).port}/graphql")
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "answers only on this machine" in body and demo["key"] not in driver.page_source
        assert f"open it at {url}/graphql" in body
    finally:
        driver.quit()


async def test_graphiql_in_a_browser_offline(settings, app, tmp_path):
    _browser_or_skip()
    demo = await _demo(tmp_path)
    env = {**os.environ, "FINORA_ENV": "development", "FINORA_DATA_DIR": str(tmp_path)}
    screenshot = os.environ.get("FINORA_BROWSER_SCREENSHOT")  # a PNG path, to look at it
    async with running_server(env) as server:
        await asyncio.to_thread(_drive, server.url, demo, screenshot)


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_browser_skips_on_a_laptop_and_fails_under_ci(monkeypatch, tmp_path, ci):
    # Both paths made up, so the message is the same whatever this machine has installed.
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(f"{__name__}.CHROMEDRIVER", tmp_path / "no-chromedriver")
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected) as raised:
        _browser_or_skip()
    assert f"{tmp_path}/no-chromium, {tmp_path}/no-chromedriver missing" in str(raised.value)
    assert ("CI must run" if ci else "apt-get install -y chromium chromium-driver") in str(
        raised.value
    )
