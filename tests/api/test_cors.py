"""CORS: browser origins allowed by LENDGRAPH_CORS_ORIGINS, none by default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from domain.settings import ConfigurationError, load_settings
from tests.api.conftest import make_settings

ALLOWED = "https://app.example.com"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type, x-purpose",
}
CATALOG = {"query": "query Catalog { products(first: 1) { totalCount } }"}


@pytest.fixture
async def browser(database_url: str, db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, cors_origins=f"{ALLOWED},http://localhost:3000")
    transport = httpx.ASGITransport(app=create_app(settings, engine=db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_preflight_from_an_allowed_origin_is_answered(
    browser: httpx.AsyncClient,
) -> None:
    # when
    response = await browser.options("/graphql", headers={"origin": ALLOWED, **PREFLIGHT})
    # then
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-purpose"} <= set(allowed.split(", "))
    assert "access-control-allow-credentials" not in response.headers  # bearer tokens only
    assert response.headers["x-request-id"]  # logged like any request


async def test_a_preflight_from_another_origin_gets_no_cors_headers(
    browser: httpx.AsyncClient,
) -> None:
    # when
    response = await browser.options(
        "/graphql", headers={"origin": "https://evil.example.net", **PREFLIGHT}
    )
    # then
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_answers_and_refusals_carry_the_headers_a_page_needs(
    browser: httpx.AsyncClient,
) -> None:
    # when
    answer = await browser.post("/graphql", json=CATALOG, headers={"origin": ALLOWED})
    refused = await browser.post("/graphql", json=[CATALOG], headers={"origin": ALLOWED})
    other = await browser.post(
        "/graphql", json=CATALOG, headers={"origin": "https://evil.example.net"}
    )
    # then
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in answer.headers["access-control-expose-headers"]
    assert refused.status_code == 400  # the transport guard's refusal, readable by the page
    assert refused.headers["access-control-allow-origin"] == ALLOWED
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert other.status_code == 200  # not a browser matter: the answer carries no grant
    assert "access-control-allow-origin" not in other.headers


async def test_no_origin_is_allowed_by_default(http: httpx.AsyncClient) -> None:
    # when
    response = await http.options("/graphql", headers={"origin": ALLOWED, **PREFLIGHT})
    answer = await http.post("/graphql", json=CATALOG, headers={"origin": ALLOWED})
    # then
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in answer.headers


def test_origins_are_read_from_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setenv("LENDGRAPH_CORS_ORIGINS", " https://a.example.com , http://localhost:3000/")
    # then
    assert load_settings().cors_origins == ("https://a.example.com", "http://localhost:3000")
    monkeypatch.setenv("LENDGRAPH_CORS_ORIGINS", "a.example.com")
    with pytest.raises(ConfigurationError, match="LENDGRAPH_CORS_ORIGINS"):
        load_settings()
    monkeypatch.setenv("LENDGRAPH_CORS_ORIGINS", "https://a.example.com/app")
    with pytest.raises(ConfigurationError, match="not an origin"):
        load_settings()
    monkeypatch.delenv("LENDGRAPH_CORS_ORIGINS")
    assert load_settings().cors_origins == ()
