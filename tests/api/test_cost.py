"""Query cost: a document whose answer could be too large is refused before it runs,
with its estimated cost and the budget (api.cost)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from api.cost import DEFAULT_LIST_SIZE, estimate
from domain.identity.models import Role
from domain.settings import ConfigurationError, Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings

# Item 1 of the hardening issue: thirty aliases of this built 129,000 objects.
EXPENSIVE_LOANS = """
  loans(first: 100) { edges { node {
    schedule { sequence dueOn principalDue interestDue }
    repayments { amount }
    application { decisions { outcome } timeline { toStatus } }
    enterprise {
      financialStatements { fiscalYear }
      ratingHistory { grade }
      applications(first: 100) { edges { node { id status amount } } }
    }
  } } }
"""
CATALOG = """
query Catalog {
  products(first: 5, filter: { types: [WORKING_CAPITAL_LOAN] }, orderBy: { field: RATE }) {
    totalCount
    edges { node { name minRate maxRate minAmount maxAmount institution { name } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def cost(schema: Any, query: str, page_size_max: int = 100) -> int:
    document = parse(query)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return estimate(schema._schema, operation, fragments, page_size_max=page_size_max)


@pytest.fixture
def schema(app: Starlette) -> Any:
    return app.state.view.schema


# --- the estimate --------------------------------------------------------------------


def test_first_multiplies_along_the_path(schema: Any) -> None:
    # given: products 1, edges 1, then per edge: node 1 + name 1
    query = "{ products(first: 7) { edges { node { name } } } }"

    # then
    assert cost(schema, query) == 1 + 1 + 7 * 2


def test_an_absent_first_is_the_default_page_and_a_variable_the_maximum(schema: Any) -> None:
    # then
    assert cost(schema, "{ products { edges { cursor } } }") == 2 + 20
    assert cost(schema, "query Q($n: Int) { products(first: $n) { edges { cursor } } }") == 102
    assert cost(schema, "query Q($n: Int = 3) { products(first: $n) { edges { cursor } } }") == 5
    assert cost(schema, "query Q($n: Int) { products(first: $n) { edges { cursor } } }", 40) == 42


def test_nested_pages_multiply(schema: Any) -> None:
    # given
    query = """{ enterprises(first: 10) { edges { node {
        applications(first: 5) { edges { node { id } } } } } } }"""

    # then: 2 + 10 * (node + applications + edges + 5 * (node + id))
    assert cost(schema, query) == 2 + 10 * (3 + 5 * 2)


def test_a_plain_list_counts_as_its_stated_size(schema: Any) -> None:
    # given
    query = '{ node(id: "x") { ... on Application { decisions { outcome } } } }'

    # then
    assert cost(schema, query) == 1 + 1 + DEFAULT_LIST_SIZE


def test_fragments_on_other_types_are_priced_as_the_dearest(schema: Any) -> None:
    # given: a node is one type; a fragment per type costs its most expensive branch
    query = """
    query Q { node(id: "x") { id ...Cheap ... on Loan { schedule { sequence } } } }
    fragment Cheap on Application { status }
    """

    # then: node 1 + id 1 + schedule (1 + 60 instalments)
    assert cost(schema, query) == 2 + 1 + 60


def test_a_fragment_bomb_is_priced_in_linear_time(schema: Any) -> None:
    # given: each fragment spreads the next twice, 2^60 copies of the last one
    fragments = "\n".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(60)
    )
    query = f"query Q {{ ...F0 }}\n{fragments}\nfragment F60 on Query {{ __typename }}"

    # then: an answer, and a sane number
    assert cost(schema, query) == 10**12


def test_the_documented_catalog_query_is_cheap(schema: Any) -> None:
    assert cost(schema, CATALOG) < 100


def test_the_attack_of_the_issue_is_far_over_budget(schema: Any, settings: Settings) -> None:
    # given
    aliases = " ".join(f"a{n}: {EXPENSIVE_LOANS}" for n in range(30))

    # then
    assert cost(schema, f"{{ {aliases} }}") > 5 * settings.max_query_cost


# --- refusals ------------------------------------------------------------------------


@pytest.fixture
async def tight(database_url: str, db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, max_query_cost=1000), engine=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_an_operation_over_budget_is_refused_with_its_cost(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given: the policy loaded (the first request of a worker reads it)
    aliases = " ".join(f"a{n}: {EXPENSIVE_LOANS}" for n in range(30))
    await http.post("/graphql", json={"query": "{ nonsense }"})

    # when
    response = await http.post(
        "/graphql",
        json={"query": f"query Everything {{ {aliases} }}"},
        headers={"accept": "application/graphql-response+json"},
    )

    # then: a request error
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["budget"] == settings.query_cost_budgets["anonymous"]
    assert error["extensions"]["cost"] > settings.max_query_cost
    assert str(error["extensions"]["cost"]) in error["message"]
    # and no more SQL than a request that never runs (signing in, the policy version)
    never_runs = (await http.post("/graphql", json={"query": "{ nonsense }"})).json()
    assert (
        body["extensions"]["debug"]["sqlStatements"]
        == never_runs["extensions"]["debug"]["sqlStatements"]
    )


async def test_the_budget_is_configurable(tight: httpx.AsyncClient) -> None:
    # when: 2 + 100 * 2 within 1000; 2 + 100 * 11 is not
    within = await tight.post(
        "/graphql", json={"query": "{ products(first: 100) { edges { node { name } } } }"}
    )
    over = await tight.post(
        "/graphql",
        json={
            "query": "{ products(first: 100) { edges { node {"
            " name minRate maxRate minAmount maxAmount minTermMonths maxTermMonths type"
            " institution { name } } } } }"
        },
    )

    # then
    assert "errors" not in within.json(), within.json()
    assert [e["extensions"]["code"] for e in over.json()["errors"]] == ["QUERY_TOO_COSTLY"]
    assert over.json()["errors"][0]["extensions"]["budget"] == 1000


# Products with everything an anonymous visitor may read, a hundred to a page.
WIDE_CATALOG = """
  products(first: 100) { edges { cursor node {
    id name type minRate maxRate minAmount maxAmount minTermMonths maxTermMonths
    institution { id name }
  } } }
"""


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "reference"])
async def test_each_caller_has_its_own_budget(
    compiled: bool, database_url: str, db: AsyncEngine, settings: Settings
) -> None:
    """An anonymous visitor gets less than staff: the same document is refused to one
    and answered for the other, on either executor."""
    # given: a document between the anonymous and the staff budget
    app = create_app(make_settings(database_url, compiled_reads=compiled), engine=db)
    query = "{ " + " ".join(f"p{n}: {WIDE_CATALOG}" for n in range(20)) + " }"
    price = cost(app.state.view.schema, query)
    assert settings.query_cost_budgets["anonymous"] < price < settings.max_query_cost
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        gql = GraphQLClient(http)
        async with session_factory(db)() as session, session.begin():
            admin = await f.user(session, roles=[(Role.PLATFORM_ADMIN, None)])
            token = await f.access_token(session, settings, admin)

        # when
        anonymous = (await http.post("/graphql", json={"query": query})).json()
        staff = await gql.as_(token).post(query)

    # then
    [error] = anonymous["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] == price
    assert error["extensions"]["budget"] == settings.query_cost_budgets["anonymous"]
    assert "errors" not in staff, staff["errors"]
    assert staff["extensions"]["debug"]["executor"] == ("compiled" if compiled else "reference")


def test_a_budget_for_an_unknown_caller_is_refused(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="not one of"):
        make_settings(database_url, query_cost_budgets={"visitor": 1000})
