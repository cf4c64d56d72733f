"""Errors are part of the API: stable ``extensions.code`` values, and unexpected
failures logged with the request id and masked to clients outside development."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry import relay

import domain.products.repository
from api.app import create_app
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings

PAGE = """
query Page($first: Int, $after: String, $orderBy: ProductOrder) {
  products(first: $first, after: $after, orderBy: $orderBy) {
    edges { cursor node { name } }
    pageInfo { endCursor }
  }
}
"""
NODE = "query Node($id: ID!) { node(id: $id) { id } }"
CATALOG = "query Catalog { products { edges { node { name } } } }"
RATE = {"field": "RATE", "direction": "ASC"}


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> tuple[httpx.Response, dict[str, Any]]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return response, body


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["errors"]) == 1, body["errors"]
    error: dict[str, Any] = body["errors"][0]
    return error


def forged_cursor(ordering: str, key: list[Any]) -> str:
    raw = json.dumps({"o": ordering, "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def _products(db: AsyncEngine, count: int) -> None:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        for i in range(count):
            await f.product(s, institution_id=bank.id, min_rate=f"0.0{4 + i}0000")


# --- request errors ------------------------------------------------------------------


async def test_a_syntax_error_is_parse_failed(gql: GraphQLClient) -> None:
    # when
    body = await gql.post("{ products { edges ")

    # then
    error = only_error(body)
    assert error["message"].startswith("Syntax Error")
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_an_unknown_field_is_validation_failed(gql: GraphQLClient) -> None:
    # when
    body = await gql.post("{ products { nonsense } }")

    # then
    assert body.get("data") is None
    assert only_error(body)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_the_same_validation_error_keeps_its_code_when_served_again(
    gql: GraphQLClient,
) -> None:
    # given: validation results are cached, so the second answer comes from the cache
    await gql.post("{ products { alsoNonsense } }")

    # when
    body = await gql.post("{ products { alsoNonsense } }")

    # then
    assert only_error(body)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize("first", ["abc", 1.5, True, [1]])
async def test_variables_that_do_not_coerce_are_bad_user_input(
    gql: GraphQLClient, first: object
) -> None:
    # when
    body = await gql.post(PAGE, {"first": first})

    # then
    assert "data" not in body
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$first" in error["message"]


async def test_a_missing_required_variable_is_bad_user_input(gql: GraphQLClient) -> None:
    # when
    body = await gql.post(NODE, {})

    # then
    assert only_error(body)["extensions"]["code"] == "BAD_USER_INPUT"


# --- page size and cursors -----------------------------------------------------------


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_first_outside_its_bounds_is_bad_user_input(gql: GraphQLClient, first: int) -> None:
    # when
    body = await gql.post(PAGE, {"first": first})

    # then
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["products"]
    assert "between 1 and 100" in error["message"]


async def test_first_at_its_bounds_is_accepted(gql: GraphQLClient, db: AsyncEngine) -> None:
    # given
    await _products(db, 2)

    # when
    one = await gql.data(PAGE, {"first": 1})
    hundred = await gql.data(PAGE, {"first": 100})

    # then
    assert len(one["products"]["edges"]) == 1
    assert len(hundred["products"]["edges"]) == 2


async def test_the_bound_follows_page_size_max(database_url: str, db: AsyncEngine) -> None:
    # given
    app = create_app(make_settings(database_url, page_size_max=5), engine=db)
    transport = httpx.ASGITransport(app=app)

    # when
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        _, body = await post(client, PAGE, {"first": 6})

    # then
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 5" in error["message"]


@pytest.mark.parametrize(
    "after",
    [
        "not a cursor",
        "abc",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"o": "rate_asc"}').decode(),
        forged_cursor("rate_asc", ["0.05"]),
        forged_cursor("rate_asc", [None, str(uuid.uuid4())]),
        forged_cursor("rate_asc", ["0.05", "not-a-uuid"]),
        # JSON nested past the interpreter's recursion limit, once decoded
        base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),
    ],
)
async def test_a_malformed_cursor_is_bad_user_input(gql: GraphQLClient, after: str) -> None:
    # when
    body = await gql.post(PAGE, {"after": after, "orderBy": RATE})

    # then
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "the cursor is malformed"


@pytest.mark.parametrize("rate", ["NaN", "Infinity", "1e999999", "0.0450001"])
async def test_a_cursor_with_an_impossible_key_value_is_bad_user_input(
    gql: GraphQLClient, rate: str
) -> None:
    # given: a cursor forged by hand; the key names a rate no product can have
    after = forged_cursor("rate_asc", [rate, str(uuid.uuid4())])

    # when
    body = await gql.post(PAGE, {"after": after, "orderBy": RATE})

    # then: the client's mistake, never an internal error
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_cursor_cannot_be_replayed_against_another_ordering(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    await _products(db, 3)
    first_page = await gql.data(PAGE, {"first": 1, "orderBy": RATE})
    cursor = first_page["products"]["pageInfo"]["endCursor"]
    assert cursor is not None

    # when
    by_amount = await gql.post(
        PAGE, {"first": 1, "after": cursor, "orderBy": {"field": "AMOUNT", "direction": "ASC"}}
    )
    by_rate_desc = await gql.post(
        PAGE, {"first": 1, "after": cursor, "orderBy": {"field": "RATE", "direction": "DESC"}}
    )
    by_rate = await gql.data(PAGE, {"first": 1, "after": cursor, "orderBy": RATE})

    # then
    for body in (by_amount, by_rate_desc):
        error = only_error(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "different ordering" in error["message"]
    assert len(by_rate["products"]["edges"]) == 1


# --- node ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node_id",
    [
        "nope",
        "",
        relay.to_base64("Product", "123"),
        relay.to_base64("Nonsense", str(uuid.uuid4())),
        str(uuid.uuid4()),
    ],
)
async def test_a_malformed_node_id_is_bad_user_input(gql: GraphQLClient, node_id: str) -> None:
    # when
    body = await gql.post(NODE, {"id": node_id})

    # then
    assert body["data"] == {"node": None}
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["node"]


async def test_the_id_of_a_missing_row_is_not_found(gql: GraphQLClient) -> None:
    # given
    missing = relay.to_base64("Product", str(uuid.uuid4()))

    # when
    body = await gql.post(NODE, {"id": missing})

    # then
    assert body["data"] == {"node": None}
    error = only_error(body)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["node"]


async def test_the_id_of_an_existing_row_is_found(gql: GraphQLClient, db: AsyncEngine) -> None:
    # given
    await _products(db, 1)
    listed = await gql.data("{ products(first: 1) { edges { node { id name } } } }")
    product = listed["products"]["edges"][0]["node"]

    # when
    data = await gql.data(
        "query Node($id: ID!) { node(id: $id) { id ... on Product { name } } }",
        {"id": product["id"]},
    )

    # then
    assert data == {"node": product}


# --- unexpected errors ---------------------------------------------------------------


def _explode(*_: object, **__: object) -> None:
    # Where both executors read the catalog: the compiled path falls back to the
    # reference on a fault of its own, and the reference then meets the same fault.
    raise RuntimeError("secret detail")


async def test_an_unexpected_error_is_masked_in_production(
    production: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    monkeypatch.setattr(domain.products.repository, "catalog", _explode)
    caplog.set_level(logging.ERROR, logger="lendgraph.errors")

    # when
    response, body = await post(production, CATALOG)

    # then: the client learns nothing but the request id
    request_id = response.headers["x-request-id"]
    error = only_error(body)
    assert "secret detail" not in response.text
    assert "RuntimeError" not in response.text
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert request_id in error["message"]
    assert error["path"] == ["products"]
    # and the operators learn everything, under the same request id
    records = [r for r in caplog.records if r.name == "lendgraph.errors"]
    assert len(records) == 1
    assert records[0].__dict__["request_id"] == request_id
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)
    assert str(records[0].exc_info[1]) == "secret detail"


async def test_an_unexpected_error_quotes_the_callers_request_id(
    production: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.setattr(domain.products.repository, "catalog", _explode)

    # when
    response = await production.post(
        "/graphql", json={"query": CATALOG}, headers={"x-request-id": "support-ticket-42"}
    )

    # then
    assert response.headers["x-request-id"] == "support-ticket-42"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "support-ticket-42"


async def test_an_unexpected_error_is_shown_in_development(
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    monkeypatch.setattr(domain.products.repository, "catalog", _explode)
    caplog.set_level(logging.ERROR, logger="lendgraph.errors")

    # when
    response, body = await post(http, CATALOG)

    # then
    request_id = response.headers["x-request-id"]
    error = only_error(body)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == request_id
    assert "secret detail" in error["message"]
    records = [r for r in caplog.records if r.name == "lendgraph.errors"]
    assert [r.__dict__["request_id"] for r in records] == [request_id]


async def test_expected_errors_are_not_logged_as_unexpected(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    caplog.set_level(logging.DEBUG, logger="lendgraph.errors")

    # when
    await gql.post(PAGE, {"first": 0})
    await gql.post(NODE, {"id": relay.to_base64("Product", str(uuid.uuid4()))})
    await gql.post("{ products { nonsense } }")

    # then
    assert [r for r in caplog.records if r.name == "lendgraph.errors"] == []


async def test_expected_errors_keep_their_message_in_production(
    production: httpx.AsyncClient,
) -> None:
    # when
    _, body = await post(production, PAGE, {"first": 0})

    # then
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 100" in error["message"]
