"""GraphiQL in a real headless browser, with every request to another host blocked.

The service runs as it does for a developer (uvicorn, SQLite, development); Chromium
opens /graphql, the README's catalog query is pasted into the editor and run, and the
result pane must show the products in the database. A screenshot is kept for CI as
.ci/artifacts/graphiql.png.

Driven by Playwright's Python client against Debian's own chromium: the client is a
wheel (its protocol driver inside), so nothing is downloaded at run time and no
browser build of Playwright's is needed; route interception sees every request the
page makes, which a WebDriver client cannot without extra proxies.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from domain.products.models import ProductType
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade
from tests import factories as f
from tests.servers import free_port

CHROMIUM = os.environ.get("LENDGRAPH_CHROMIUM") or shutil.which("chromium") or ""
ARTIFACTS = Path(__file__).resolve().parents[2] / ".ci" / "artifacts"
PORTS = range(8130, 8140)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = pytest.mark.skipif(
    not CHROMIUM,
    reason="needs a headless chromium: apt-get install chromium (or set LENDGRAPH_CHROMIUM)",
)

# The README's example, verbatim ("Then open … GraphiQL or post to it").
README_CATALOG = """query Catalog {
  products(first: 5, filter: { types: [WORKING_CAPITAL_LOAN] }, orderBy: { field: RATE }) {
    totalCount
    edges { node { name minRate maxRate minAmount maxAmount institution { name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# Working-capital products, by rate; the term loan must not come back (the filter ran).
WORKING_CAPITAL = {
    "Harbour Working Capital": "0.039000",
    "Orchard Trade Finance": "0.044700",
    "Loom Payroll Bridge": "0.051000",
}
TERM_LOAN = "Kiln Equipment Term Loan"


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            bank = await f.institution(session)
            for name, rate in WORKING_CAPITAL.items():
                row = await f.product(
                    session,
                    institution_id=bank.id,
                    type_=ProductType.WORKING_CAPITAL_LOAN,
                    min_rate=rate,
                )
                row.name = name
            other = await f.product(session, institution_id=bank.id, min_rate="0.030000")
            other.name = TERM_LOAN
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def _database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("graphiql") / "ide.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def server(_database: str) -> AsyncIterator[str]:
    """uvicorn serving the app in development on its own SQLite file; its base URL."""
    await _seed(_database)
    port = free_port(PORTS)
    env = {
        **os.environ,
        "LENDGRAPH_ENV": "development",
        "LENDGRAPH_DATABASE_URL": _database,
        "LENDGRAPH_SECRET_KEY": "browser-test-signing-key-" + "x" * 32,
        "LENDGRAPH_MASTER_KEYS": f.TEST_MASTER_KEYS,
        "LENDGRAPH_BLIND_INDEX_KEY": f.TEST_BLIND_INDEX_KEY,
        "LENDGRAPH_RISK_SCAN_INTERVAL": "0",
        "LENDGRAPH_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "api.app:app_factory", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    process = await asyncio.create_subprocess_exec(*command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, "the server exited on start"
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                await asyncio.sleep(0.2)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


@pytest.fixture
def screenshot() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "graphiql.png"
    path.unlink(missing_ok=True)  # the one this run takes, not an older one
    return path


# Recorded in the page before any of its own scripts run: what the Content-Security-Policy
# refused (a request to another host would show up here if the route below missed it).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


async def test_the_readme_query_runs_in_graphiql_without_internet(
    server: str, screenshot: Path
) -> None:
    from playwright.async_api import Route, async_playwright

    outside: list[str] = []
    local: list[str] = []
    errors: list[str] = []

    async def only_this_machine(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            local.append(url)
            await route.continue_()
        else:  # as on a machine without internet: nothing leaves it
            outside.append(url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            await context.route("**/*", only_this_machine)
            await context.add_init_script(RECORD_VIOLATIONS)
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("websocket", lambda ws: local.append(ws.url))

            # given: the IDE, drawn from the service's own files
            await page.goto(f"{server}/graphql", wait_until="load")
            editor = page.locator(".graphiql-query-editor .CodeMirror")
            await editor.wait_for(state="visible", timeout=30_000)

            # when: the README's query is pasted into the editor and run
            await editor.click()
            await page.keyboard.press("Control+A")
            await page.keyboard.press("Delete")
            await page.keyboard.insert_text(README_CATALOG)
            typed = await editor.evaluate("node => node.CodeMirror.getValue()")
            assert typed == README_CATALOG
            await page.locator("button.graphiql-execute-button").click()

            # then: the result pane shows the products the database holds
            result = page.locator(".graphiql-response .CodeMirror")
            cheapest = min(WORKING_CAPITAL, key=lambda name: Decimal(WORKING_CAPITAL[name]))
            await result.get_by_text(cheapest).wait_for(state="visible", timeout=30_000)
            png = await page.screenshot(path=str(screenshot), full_page=True)
            shown = json.loads(await result.evaluate("node => node.CodeMirror.getValue()"))
            violations = await page.evaluate("window.__violations")
        finally:
            await browser.close()

    products = shown["data"]["products"]
    assert products["totalCount"] == len(WORKING_CAPITAL)
    names = [edge["node"]["name"] for edge in products["edges"]]
    assert names == sorted(WORKING_CAPITAL, key=lambda name: Decimal(WORKING_CAPITAL[name]))
    assert TERM_LOAN not in names
    assert len(png) > 10_000
    # and nothing was asked of another host, neither let through nor refused by the policy
    assert outside == []
    assert violations == []
    assert errors == []
    assert any(urlsplit(url).path.startswith("/graphql/ide/vendor/graphiql") for url in local)
