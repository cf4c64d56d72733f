"""Input scalars refuse what the service cannot represent: BAD_USER_INPUT with the
argument's or variable's path, never an internal error (api.scalars, api.guards)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.scalars import parse_decimal
from domain.identity.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f

GRAPHQL_RESPONSE = "application/graphql-response+json"

CATALOG = """
query Catalog($amount: Decimal, $maxRate: Rate, $industry: String, $region: String) {
  products(first: 5, filter: {
    amount: $amount, maxRate: $maxRate, industry: $industry, region: $region
  }) { totalCount edges { node { name } } }
}
"""
COMPARE = """
query Compare($ids: [ID!]!, $amount: Decimal!) {
  compareProducts(ids: $ids, amount: $amount, termMonths: 12) { reasons }
}
"""
MIGRATION = """
query Migration($start: Date!, $end: Date!) {
  ratingMigration(start: $start, end: $end) { total }
}
"""
ACCESS_LOG = """
query Log($since: DateTime, $until: DateTime) {
  accessLog(first: 5, filter: { since: $since, until: $until }) { totalCount }
}
"""
IMPOSSIBLE_DECIMALS = [
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e999999",
    "1e-999999",
    "9" * 5000,
    "0." + "1" * 7,  # finer than any column (rates keep six places)
    "1" + "0" * 16,  # beyond money's 16 integer digits
]


async def send(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    *,
    token: str | None = None,
    accept: str = "application/json",
) -> httpx.Response:
    # Encoded here, ASCII-escaped: a lone surrogate travels as "\ud800", as browsers send it.
    headers = {"content-type": "application/json", "accept": accept}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables}).encode()
    return await http.post("/graphql", content=body, headers=headers)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def _product(db: AsyncEngine) -> str:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
    return f.global_id("Product", product.id)


async def _token(db: AsyncEngine, settings: Settings, role: Role) -> str:
    async with session_factory(db)() as s, s.begin():
        holder = await f.user(s, roles=[(role, None)])
        return await f.access_token(s, settings, holder)


# --- Decimal -------------------------------------------------------------------------


@pytest.mark.parametrize("amount", IMPOSSIBLE_DECIMALS)
async def test_an_impossible_decimal_variable_is_bad_user_input_at_its_path(
    http: httpx.AsyncClient, amount: str
) -> None:
    # when
    response = await send(http, CATALOG, {"amount": amount})

    # then
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"].startswith("Variable '$amount' has invalid value")


@pytest.mark.parametrize("amount", IMPOSSIBLE_DECIMALS)
async def test_an_impossible_decimal_literal_is_bad_user_input_where_it_stands(
    http: httpx.AsyncClient, db: AsyncEngine, amount: str
) -> None:
    # given
    product = await _product(db)
    arguments = f'ids: ["{product}"], amount: "{amount}", termMonths: 12'
    query = f"{{ compareProducts({arguments}) {{ reasons }} }}"

    # when
    response = await http.post("/graphql", json={"query": query})

    # then: refused before execution, at the literal's place in the document
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["locations"] == [{"line": 1, "column": query.index('"' + amount) + 1}]
    assert body["errors"][0]["message"].startswith("Argument 'amount' has invalid value: ")


async def test_an_impossible_literal_deep_in_an_input_names_its_path(
    http: httpx.AsyncClient,
) -> None:
    # when
    query = '{ products(first: 5, filter: { maxRate: "NaN" }) { totalCount } }'
    response = await http.post("/graphql", json={"query": query})

    # then
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"] == (
        "Argument 'filter' has invalid value at .maxRate: "
        "Decimal takes a finite number, not NaN or an infinity."
    )


@pytest.mark.parametrize("amount", ["1250.00", "1250", 1250, 1250.5, "0.045", "1E+3", "-0.000001"])
async def test_representable_decimals_are_taken(
    http: httpx.AsyncClient, db: AsyncEngine, amount: object
) -> None:
    # given
    product = await _product(db)

    # when
    response = await send(http, COMPARE, {"ids": [product], "amount": amount})

    # then: whatever compareProducts says of the amount, the scalar took it
    body = response.json()
    assert "Variable" not in json.dumps(body.get("errors", [])), body
    assert "INTERNAL_SERVER_ERROR" not in codes(body)


def test_a_decimal_keeps_what_it_was_given() -> None:
    # then: "100.00" stays "100.00" (resolvers compare the places they were sent)
    assert str(parse_decimal("100.00")) == "100.00"
    assert str(parse_decimal(12)) == "12"
    assert str(parse_decimal("0E-999999")) == "0"


# --- Date and DateTime ---------------------------------------------------------------


async def test_dates_out_of_range_are_bad_user_input_not_an_overflow(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    token = await _token(db, settings, Role.PLATFORM_RISK_OFFICER)
    literal = '{ ratingMigration(start: "0001-01-01", end: "9999-12-31") { total } }'

    # when
    as_literal = await http.post(
        "/graphql", json={"query": literal}, headers={"authorization": f"Bearer {token}"}
    )
    as_variables = await send(
        http, MIGRATION, {"start": "0001-01-01", "end": "9999-12-31"}, token=token
    )

    # then
    assert codes(as_literal.json()) == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert as_literal.json()["errors"][0]["message"] == (
        "Argument 'start' has invalid value: Date takes years 1900 to 2200."
    )
    assert codes(as_variables.json()) == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert as_variables.json()["errors"][0]["message"].startswith("Variable '$start'")


async def test_dates_in_range_still_answer(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    token = await _token(db, settings, Role.PLATFORM_RISK_OFFICER)

    # when
    response = await send(
        http, MIGRATION, {"start": "1900-01-01", "end": "2200-12-31"}, token=token
    )

    # then
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["ratingMigration"]["total"] == 0


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
async def test_date_times_out_of_range_are_bad_user_input(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings, since: str
) -> None:
    # given
    token = await _token(db, settings, Role.PRIVACY_OFFICER)

    # when
    response = await send(http, ACCESS_LOG, {"since": since}, token=token)

    # then
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"].startswith("Variable '$since' has invalid value")


# --- text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fault"), [("a\x00b", "NUL"), ("\ud800", "lone surrogate"), ("ok\udfff", "lone")]
)
async def test_unstorable_text_in_a_variable_is_bad_user_input_with_its_path(
    http: httpx.AsyncClient, text: str, fault: str
) -> None:
    # when
    response = await send(http, CATALOG, {"industry": text})
    strict = await send(http, CATALOG, {"industry": text}, accept=GRAPHQL_RESPONSE)

    # then: a request error (HTTP 400 only under graphql-response+json)
    body = response.json()
    assert response.status_code == 200
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith("Variable '$industry' has invalid value")
    assert fault in body["errors"][0]["message"]
    assert strict.status_code == 400
    assert "data" not in strict.json()


async def test_unstorable_text_deep_in_a_mutation_input_names_its_path(
    http: httpx.AsyncClient,
) -> None:
    # given: NUL in an idempotency key (PostgreSQL's text cannot hold it)
    query = """
    mutation Repay($input: RecordRepaymentInput!) {
      recordRepayment(input: $input) { __typename }
    }
    """
    variables = {
        "input": {
            "loanId": "TG9hbjox",
            "amount": "100.00",
            "idempotencyKey": "key\x00",
            "paidOn": "2026-01-05",
        }
    }

    # when
    response = await send(http, query, variables)

    # then
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith(
        "Variable '$input' has invalid value at .idempotencyKey: text may not contain NUL"
    )


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (
            '{ products(filter: { industry: "a\\u0000b" }) { totalCount } }',
            "Argument 'filter' has invalid value at .industry: text may not contain NUL",
        ),
        (
            '{ compareProducts(ids: ["UHJvZHVjdDox", "x\\u0000"], amount: "1", termMonths: 1)'
            " { reasons } }",
            "Argument 'ids' has invalid value at [1]: text may not contain NUL",
        ),
    ],
)
async def test_unstorable_text_in_a_literal_is_bad_user_input_with_its_path(
    http: httpx.AsyncClient, literal: str, message: str
) -> None:
    # when
    response = await http.post("/graphql", json={"query": literal})

    # then
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"].startswith(message)


async def test_the_executor_refuses_unstorable_text_whatever_the_transport(app: Starlette) -> None:
    # given: a WebSocket or multipart request reaches the schema without the HTTP guard
    schema = app.state.view.schema

    # when
    result = await schema.execute(CATALOG, variable_values={"region": ["\ud800"]})

    # then
    assert result.data is None
    assert result.errors is not None
    assert [e.extensions["code"] for e in result.errors] == ["BAD_USER_INPUT"]
    assert result.errors[0].message.startswith("Variable '$region' has invalid value at [0]")


# --- fuzzing -------------------------------------------------------------------------

# Text with every code point a JSON string can carry: NUL, controls, lone surrogates.
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(ANY_TEXT, children, max_size=3)
    ),
    max_leaves=6,
)
DECIMALISH = st.from_regex(
    r"[-+]?[0-9]{0,25}(\.[0-9]{0,25})?([eE][-+]?[0-9]{1,8})?", fullmatch=True
)
DATEISH = st.from_regex(r"[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}", fullmatch=True) | st.dates().map(
    dt.date.isoformat
)
DATETIMEISH = st.datetimes(timezones=st.timezones() | st.none()).map(dt.datetime.isoformat)
REQUESTS = st.one_of(
    st.fixed_dictionaries(
        {"amount": DECIMALISH | st.decimals().map(str) | JSON_VALUES},
        optional={
            "maxRate": DECIMALISH | JSON_VALUES,
            "industry": ANY_TEXT | JSON_VALUES,
            "region": ANY_TEXT,
        },
    ).map(lambda v: ("catalog", v)),
    st.fixed_dictionaries({"amount": DECIMALISH | JSON_VALUES}).map(lambda v: ("compare", v)),
    st.fixed_dictionaries({"start": DATEISH | JSON_VALUES, "end": DATEISH | JSON_VALUES}).map(
        lambda v: ("migration", v)
    ),
    st.fixed_dictionaries(
        {}, optional={"since": DATETIMEISH | ANY_TEXT, "until": DATETIMEISH | JSON_VALUES}
    ).map(lambda v: ("log", v)),
)


async def test_no_generated_input_is_an_internal_error(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a product to compare, and viewers who may ask each question
    product = await _product(db)
    risk = await _token(db, settings, Role.PLATFORM_RISK_OFFICER)
    privacy = await _token(db, settings, Role.PRIVACY_OFFICER)
    loop = asyncio.get_running_loop()
    sent = 0

    def ask(kind: str, variables: dict[str, Any]) -> httpx.Response:
        query, token = {
            "catalog": (CATALOG, None),
            "compare": (COMPARE, None),
            "migration": (MIGRATION, risk),
            "log": (ACCESS_LOG, privacy),
        }[kind]
        if kind == "compare":
            variables = {**variables, "ids": [product]}
        request = send(http, query, variables, token=token)
        # Called from Hypothesis' thread; the app and database live on the test's loop.
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    @hypothesis_settings(
        max_examples=300,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(request=REQUESTS)
    def never_internal(request: tuple[str, dict[str, Any]]) -> None:
        nonlocal sent
        kind, variables = request
        response = ask(kind, variables)
        sent += 1
        assert response.status_code in (200, 400), response.text
        assert "INTERNAL_SERVER_ERROR" not in codes(response.json()), response.text

    # when / then
    await asyncio.to_thread(never_internal)
    assert sent >= 300
