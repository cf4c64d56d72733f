"""GraphQL over HTTP: content negotiation, GET and GraphiQL, production hardening,
request guards, request ids and the request log, health probes and debug figures."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import make_settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

CATALOG = "query Catalog { products(first: 5) { edges { node { name } } } }"
UNKNOWN_FIELD = "query Broken { products { nonsense } }"
SYNTAX_ERROR = "query Broken { products { edges "


@asynccontextmanager
async def client_for(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def limited(database_url: str, db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, max_query_depth=3, max_aliases=2, max_tokens=100)
    async with client_for(create_app(settings, engine=db)) as client:
        yield client


async def post(
    client: httpx.AsyncClient,
    query: str,
    *,
    accept: str | None = None,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if accept is not None:
        sent["accept"] = accept
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
    )


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body["errors"]]


async def _one_product(db: AsyncEngine) -> None:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        await f.product(s, institution_id=bank.id)


# --- Accept negotiation --------------------------------------------------------------


async def test_graphql_response_json_is_served_when_accepted(
    http: httpx.AsyncClient, db: AsyncEngine
) -> None:
    # given
    await _one_product(db)

    # when
    response = await post(http, CATALOG, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "errors" not in body
    assert len(body["data"]["products"]["edges"]) == 1


async def test_a_validation_error_is_400_without_data_under_graphql_response_json(
    http: httpx.AsyncClient,
) -> None:
    # when
    response = await post(http, UNKNOWN_FIELD, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nonsense" in body["errors"][0]["message"]


async def test_a_syntax_error_is_400_parse_failed_under_graphql_response_json(
    http: httpx.AsyncClient,
) -> None:
    # when
    response = await post(http, SYNTAX_ERROR, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"]


async def test_variables_that_do_not_coerce_are_a_400_request_error(
    http: httpx.AsyncClient,
) -> None:
    # given
    query = "query Page($first: Int) { products(first: $first) { edges { cursor } } }"

    # when
    response = await post(http, query, accept=GRAPHQL_RESPONSE, variables={"first": "abc"})

    # then
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_a_field_error_keeps_data_and_200_under_graphql_response_json(
    http: httpx.AsyncClient,
) -> None:
    # when: execution began, so this is not a request error
    response = await post(
        http, "{ products(first: 0) { edges { cursor } } }", accept=GRAPHQL_RESPONSE
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert "data" in body
    assert body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_a_validation_error_is_200_with_errors_under_application_json(
    http: httpx.AsyncClient,
) -> None:
    # when
    response = await post(http, UNKNOWN_FIELD, accept=JSON)

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(JSON)
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_no_accept_header_answers_application_json(http: httpx.AsyncClient) -> None:
    # given: httpx sends */* unless told otherwise, so send the request without one
    request = http.build_request("POST", "/graphql", json={"query": CATALOG})
    del request.headers["accept"]

    # when
    response = await http.send(request)

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(JSON)
    assert "errors" not in response.json()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("*/*", JSON),
        ("application/*", JSON),
        (f"{JSON};q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0.1", JSON),
        (f"text/html, {GRAPHQL_RESPONSE};q=0.8", GRAPHQL_RESPONSE),
    ],
)
async def test_q_values_choose_the_media_type(
    http: httpx.AsyncClient, accept: str, expected: str
) -> None:
    # when
    response = await post(http, CATALOG, accept=accept)

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(expected)


@pytest.mark.parametrize("accept", ["text/plain", f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0"])
async def test_an_unacceptable_media_type_is_406(http: httpx.AsyncClient, accept: str) -> None:
    # when
    response = await post(http, CATALOG, accept=accept)

    # then
    assert response.status_code == 406
    assert GRAPHQL_RESPONSE in response.text


# --- GET and GraphiQL ----------------------------------------------------------------


async def test_get_runs_a_query(http: httpx.AsyncClient, db: AsyncEngine) -> None:
    # given
    await _one_product(db)

    # when
    response = await http.get("/graphql", params={"query": CATALOG}, headers={"accept": JSON})

    # then
    assert response.status_code == 200
    assert len(response.json()["data"]["products"]["edges"]) == 1


async def test_graphiql_is_served_in_development(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get("/graphql", headers={"accept": "text/html"})

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize(
    "accept",
    ["text/html", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
)
async def test_graphiql_is_not_found_in_production(
    production: httpx.AsyncClient, accept: str
) -> None:
    # when
    response = await production.get("/graphql", headers={"accept": accept})

    # then
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


# --- production hardening ------------------------------------------------------------


async def test_introspection_is_refused_in_production(production: httpx.AsyncClient) -> None:
    # when
    schema = await post(production, "{ __schema { types { name } } }", accept=GRAPHQL_RESPONSE)
    one_type = await post(production, '{ __type(name: "Product") { name } }', accept=JSON)

    # then
    assert schema.status_code == 400
    body = schema.json()
    assert "data" not in body
    assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in body["errors"][0]["message"]
    assert one_type.json().get("data") is None
    assert codes(one_type.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_introspection_is_allowed_in_development(http: httpx.AsyncClient) -> None:
    # when
    response = await post(http, "{ __schema { types { name } } }", accept=JSON)

    # then
    names = {t["name"] for t in response.json()["data"]["__schema"]["types"]}
    assert "Product" in names


async def test_production_does_not_suggest_field_names(production: httpx.AsyncClient) -> None:
    # when
    response = await post(production, "{ prodcts { totalCount } }", accept=JSON)

    # then
    body = response.json()
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "prodcts" in body["errors"][0]["message"]
    assert "Did you mean" not in response.text
    assert "products" not in body["errors"][0]["message"].replace("prodcts", "")


async def test_development_suggests_field_names(http: httpx.AsyncClient) -> None:
    # when
    response = await post(http, "{ prodcts { totalCount } }", accept=JSON)

    # then
    message = response.json()["errors"][0]["message"]
    assert "Did you mean" in message
    assert "'products'" in message


async def test_production_serves_the_public_catalog(
    production: httpx.AsyncClient, db: AsyncEngine
) -> None:
    # given
    await _one_product(db)

    # when
    response = await post(production, CATALOG, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 200
    assert len(response.json()["data"]["products"]["edges"]) == 1


# --- request guards ------------------------------------------------------------------


async def test_a_query_within_the_limits_runs(limited: httpx.AsyncClient) -> None:
    # given: depth 3, two aliases
    query = "{ a: products { edges { cursor } } b: products { totalCount } }"

    # when
    response = await post(limited, query, accept=JSON)

    # then
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["b"]["totalCount"] == 0


async def test_a_query_deeper_than_the_limit_is_rejected(limited: httpx.AsyncClient) -> None:
    # given: depth 4 against a limit of 3
    query = "query Deep { products { edges { node { institution { code } } } } }"

    # when
    response = await post(limited, query, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "depth" in body["errors"][0]["message"].lower()


async def test_more_aliases_than_the_limit_are_rejected(limited: httpx.AsyncClient) -> None:
    # given: three aliases against a limit of two
    query = "{ a: products { totalCount } b: products { totalCount } c: products { totalCount } }"

    # when
    response = await post(limited, query, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    body = response.json()
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "alias" in body["errors"][0]["message"].lower()


async def test_a_document_with_too_many_tokens_is_rejected(limited: httpx.AsyncClient) -> None:
    # given: well over 100 tokens, though shallow and without aliases
    query = "{ products { " + "totalCount " * 150 + "} }"

    # when
    response = await post(limited, query, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"]
    assert "token" in body["errors"][0]["message"].lower()


# --- request ids and the request log -------------------------------------------------


async def test_a_valid_request_id_is_echoed(http: httpx.AsyncClient) -> None:
    # given
    given = "req-2026.11.01_abc"

    # when
    response = await post(http, CATALOG, headers={"x-request-id": given})

    # then
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["has spaces in it", "short", "x" * 65, "a;b=c<script>"])
async def test_an_unsafe_request_id_is_replaced(http: httpx.AsyncClient, given: str) -> None:
    # when
    response = await post(http, CATALOG, headers={"x-request-id": given})

    # then
    assert response.headers["x-request-id"] != given
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_every_request_gets_its_own_generated_id(http: httpx.AsyncClient) -> None:
    # when
    first = await post(http, CATALOG)
    second = await post(http, CATALOG)

    # then
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_one_log_line_per_request_with_status_and_operation(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    caplog.set_level(logging.INFO, logger="lendgraph.request")

    # when
    response = await post(http, CATALOG, headers={"x-request-id": "trace-0000001"})

    # then
    records = [r for r in caplog.records if r.name == "lendgraph.request"]
    assert len(records) == 1
    record = records[0]
    assert record.__dict__["request_id"] == "trace-0000001"
    assert record.__dict__["status"] == 200
    assert record.__dict__["operation"] == "Catalog"
    assert record.__dict__["method"] == "POST"
    assert record.__dict__["path"] == "/graphql"
    assert isinstance(record.__dict__["duration_ms"], float)
    assert record.__dict__["duration_ms"] >= 0
    assert (
        record.__dict__["sql_statements"]
        == (response.json()["extensions"]["debug"]["sqlStatements"])
    )


async def test_refused_requests_are_logged_with_their_status(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    caplog.set_level(logging.INFO, logger="lendgraph.request")

    # when
    await post(http, CATALOG, accept="text/plain")
    await post(http, UNKNOWN_FIELD, accept=GRAPHQL_RESPONSE)

    # then
    records = [r for r in caplog.records if r.name == "lendgraph.request"]
    assert [r.__dict__["status"] for r in records] == [406, 400]


# --- health --------------------------------------------------------------------------


async def test_healthz_is_ok(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database_ok(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get("/readyz")

    # then
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    # given: nothing listens on port 1
    app = create_app(make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/none"))

    # when
    try:
        async with client_for(app) as client:
            response = await client.get("/readyz")
            healthz = await client.get("/healthz")
    finally:
        await app.state.engine.dispose()

    # then
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert healthz.status_code == 200


# --- debug figures -------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "reference"])
async def test_development_reports_sql_statements_and_the_executor(
    compiled: bool, database_url: str, db: AsyncEngine
) -> None:
    # given
    app = create_app(make_settings(database_url, compiled_reads=compiled), engine=db)
    await _one_product(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await post(http, "{ products { totalCount } }")  # loads the policy once

        # when
        with_count = (await post(http, "{ products { totalCount } }")).json()
        without = (await post(http, "{ products { edges { cursor } } }")).json()

    # then: the compiled statement counts in the same round trip; the reference
    # executor's totalCount costs exactly one more statement
    debug = with_count["extensions"]["debug"]
    statements = debug["sqlStatements"]
    assert isinstance(statements, int)
    assert statements >= 2
    assert debug["executor"] == ("compiled" if compiled else "reference")
    extra = 0 if compiled else 1
    assert statements == without["extensions"]["debug"]["sqlStatements"] + extra


async def test_production_reports_no_debug_figures(
    production: httpx.AsyncClient, db: AsyncEngine
) -> None:
    # given
    await _one_product(db)

    # when
    response = await post(production, "{ products { totalCount } }")

    # then
    body = response.json()
    assert body["data"]["products"]["totalCount"] == 1
    assert "debug" not in (body.get("extensions") or {})
    assert "sqlStatements" not in response.text
