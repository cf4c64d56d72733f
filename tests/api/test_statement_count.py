"""No N+1: the SQL a page needs does not grow with the page."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import ApplicationStatus
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

PAGE = """
query Page($first: Int!) {
  applications(first: $first) {
    edges { node {
      id amount status
      enterprise { name financialStatements { fiscalYear } }
      product { name institution { code } }
      institution { name }
      riskAssessment { grade }
      decisions { outcome }
      timeline { toStatus }
      contract { termsHash }
      loan { principal schedule { sequence } repayments { amount } }
    } }
  }
}
"""


async def _population(db: AsyncEngine) -> None:
    async with session_factory(db)() as s, s.begin():
        institutions = [await f.institution(s) for _ in range(3)]
        products = [await f.product(s, institution_id=i.id) for i in institutions for _ in range(2)]
        enterprises = [await f.enterprise(s) for _ in range(30)]
        for n in range(120):
            application = await f.application(
                s,
                enterprise_id=enterprises[n % len(enterprises)].id,
                product_row=products[n % len(products)],
                status=ApplicationStatus.DISBURSED if n % 3 == 0 else ApplicationStatus.SUBMITTED,
            )
            if n % 3 == 0:
                await f.loan(s, application_row=application)


async def _statements(gql: GraphQLClient, first: int) -> int:
    body = await gql.post(PAGE, {"first": first})
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["applications"]["edges"]) == first
    count: int = body["extensions"]["debug"]["sqlStatements"]
    return count


async def test_a_page_of_100_costs_the_same_statements_as_a_page_of_10(
    admin_gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: a signed-in reader, and a policy already loaded by an earlier request
    await _population(db)
    gql = admin_gql
    await gql.post(PAGE, {"first": 1})

    # when
    small = await _statements(gql, 10)
    large = await _statements(gql, 100)

    # then: one statement for the page, one per relation crossed, whatever the size, and
    # two to authenticate (the policy version; the account, its session and roles)
    assert small == large
    assert large <= 14


NESTED = """
query Nested($first: Int!) {
  enterprises(first: $first) {
    edges { node {
      name
      applications(first: 2) { totalCount edges { node { id product { name } } } }
    } }
  }
}
"""


async def test_nested_connections_and_their_counts_are_batched(
    admin_gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    await _population(db)
    gql = admin_gql
    await gql.post(NESTED, {"first": 1})

    # when
    small = await gql.post(NESTED, {"first": 5})
    large = await gql.post(NESTED, {"first": 30})

    # then
    assert "errors" not in large, large["errors"]
    counts = [
        e["node"]["applications"]["totalCount"] for e in large["data"]["enterprises"]["edges"]
    ]
    assert sum(counts) == 120
    assert all(
        len(e["node"]["applications"]["edges"]) == 2 for e in large["data"]["enterprises"]["edges"]
    )
    assert (
        small["extensions"]["debug"]["sqlStatements"]
        == large["extensions"]["debug"]["sqlStatements"]
    )
