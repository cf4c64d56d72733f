"""The public catalog: filters, orderings and keyset pages through real GraphQL."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import ProductStatus, ProductType
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

CATALOG = """
query Catalog($first: Int, $after: String, $filter: ProductFilter, $orderBy: ProductOrder) {
  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id name type minRate maxAmount institution { code } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

RATES = ["0.061000", "0.039000", "0.052000", "0.039000", "0.070000", "0.045000", "0.058000"]


async def _catalog(db: AsyncEngine) -> dict[str, str]:
    """Seven published products over two institutions, one draft, one retired."""
    async with session_factory(db)() as s, s.begin():
        first = await f.institution(s, code="ALPHA")
        second = await f.institution(s, code="BETA")
        names = {}
        for i, rate in enumerate(RATES):
            row = await f.product(
                s,
                institution_id=(first if i % 2 else second).id,
                type_=ProductType.FACTORING if i < 3 else ProductType.TERM_LOAN,
                min_rate=rate,
                max_amount=f"{(i + 1) * 100000}.00",
            )
            names[row.name] = rate
        await f.product(s, institution_id=first.id, status=ProductStatus.DRAFT)
        await f.product(s, institution_id=first.id, status=ProductStatus.RETIRED)
    return names


async def _walk(gql: GraphQLClient, variables: dict[str, object]) -> list[dict[str, object]]:
    nodes: list[dict[str, object]] = []
    after = None
    while True:
        data = await gql.data(CATALOG, {**variables, "after": after})
        page = data["products"]
        nodes.extend(edge["node"] for edge in page["edges"])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_pages_by_rate_visit_every_published_product_once_in_order(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    names = await _catalog(db)

    # when
    ascending = await _walk(gql, {"first": 2, "orderBy": {"field": "RATE", "direction": "ASC"}})
    descending = await _walk(gql, {"first": 3, "orderBy": {"field": "RATE", "direction": "DESC"}})

    # then
    assert sorted(n["name"] for n in ascending) == sorted(names)
    rates = [Decimal(str(n["minRate"])) for n in ascending]
    assert rates == sorted(rates)
    assert [n["id"] for n in descending] == [n["id"] for n in reversed(ascending)]


async def test_default_order_is_newest_first_and_drafts_are_not_public(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    names = await _catalog(db)

    # when
    data = await gql.data(CATALOG, {"first": 100})

    # then
    listed = [e["node"]["name"] for e in data["products"]["edges"]]
    assert listed == list(reversed(names))  # created in order, ids are time-ordered
    assert data["products"]["totalCount"] == len(RATES)


async def test_filters_combine_and_total_count_follows_them(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    await _catalog(db)

    # when
    factoring = await gql.data(CATALOG, {"filter": {"types": ["FACTORING"]}})
    affordable = await gql.data(CATALOG, {"filter": {"types": ["TERM_LOAN"], "maxRate": "0.0500"}})
    big = await gql.data(CATALOG, {"filter": {"amount": "650000.00"}})

    # then
    assert factoring["products"]["totalCount"] == 3
    assert {e["node"]["type"] for e in factoring["products"]["edges"]} == {"FACTORING"}
    assert [e["node"]["minRate"] for e in affordable["products"]["edges"]] == [
        "0.045000",
        "0.039000",
    ]
    assert big["products"]["totalCount"] == 1  # only the 700,000 ceiling contains 650,000


async def test_an_amount_finer_than_a_cent_filters_exactly(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: ranges of 10,000.00 up to 100,000.00 ... 700,000.00
    await _catalog(db)

    async def count(amount: str) -> int:
        data = await gql.data(CATALOG, {"filter": {"amount": amount}})
        total: int = data["products"]["totalCount"]
        return total

    # when / then: contained exactly when the ranges contain it, never an error
    assert await count("0.001") == 0
    assert await count("9999.999") == 0
    assert await count("10000.001") == 7
    assert await count("100000.001") == 6
    assert await count("700000.000001") == 0
    assert await count("9999999999999999.999999") == 0  # beyond what a money column holds
    assert await count("-9999999999999999") == 0


async def test_a_rate_bound_beyond_what_rates_hold_filters_exactly(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    await _catalog(db)

    async def count(max_rate: str) -> int:
        data = await gql.data(CATALOG, {"filter": {"maxRate": max_rate}})
        total: int = data["products"]["totalCount"]
        return total

    # when / then: rates are stored as Numeric(9, 6); no bound is an error
    assert await count("1000") == 7
    assert await count("9999999999999999.999999") == 7
    assert await count("0.039") == 2
    assert await count("-1000") == 0


async def test_filter_by_institution_uses_its_global_id(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    await _catalog(db)
    everything = await gql.data(CATALOG, {"first": 100})
    alpha = next(
        e["node"]
        for e in everything["products"]["edges"]
        if e["node"]["institution"]["code"] == "ALPHA"
    )
    institution_id = (
        await gql.data(
            "query($id: ID!) { node(id: $id) { ... on Product { institution { id } } } }",
            {"id": alpha["id"]},
        )
    )["node"]["institution"]["id"]

    # when
    data = await gql.data(CATALOG, {"filter": {"institutionId": institution_id}})

    # then
    codes = {e["node"]["institution"]["code"] for e in data["products"]["edges"]}
    assert codes == {"ALPHA"}
    assert data["products"]["totalCount"] == 3
