"""Anyone compares up to five products for one amount and term, computed exactly."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import ProductStatus
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

COMPARE = """
query($ids: [ID!]!, $amount: Decimal!, $term: Int!) {
  compareProducts(ids: $ids, amount: $amount, termMonths: $term) {
    product { name }
    available reasons repaymentMethod annualRate firstInstalment totalInterest fees
    totalCost totalRepaid effectiveAnnualRate
  }
}
"""


async def test_an_anonymous_visitor_compares_products_side_by_side(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: two published products, one that cannot lend this much, and a draft
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        products = [
            await f.product(s, institution_id=bank.id),
            await f.product(s, institution_id=bank.id, max_amount="100000.00"),
        ]
        draft = await f.product(s, institution_id=bank.id, status=ProductStatus.DRAFT)
    ids = [f.global_id("Product", p.id) for p in products]

    # when
    body = await gql.post(COMPARE, {"ids": ids, "amount": "200000.00", "term": 12})
    too_many = await gql.post(COMPARE, {"ids": ids * 3, "amount": "200000.00", "term": 12})
    hidden = await gql.post(
        COMPARE, {"ids": [f.global_id("Product", draft.id)], "amount": "200000.00", "term": 12}
    )

    # then
    fits, too_small = body["data"]["compareProducts"]
    assert [fits["product"]["name"], too_small["product"]["name"]] == [p.name for p in products]
    assert fits["available"] is True
    assert fits["annualRate"] == "0.045000"
    repaid = Decimal(fits["totalRepaid"])
    assert repaid == Decimal("200000.00") + Decimal(fits["totalInterest"]) + Decimal(fits["fees"])
    assert Decimal(fits["totalCost"]) == Decimal(fits["totalInterest"]) + Decimal(fits["fees"])
    assert Decimal(fits["effectiveAnnualRate"]) >= Decimal("0.045940")  # 4.5% compounded
    assert too_small["available"] is False
    assert too_small["reasons"] == ["amount 200,000.00 is outside 10,000.00 to 100,000.00"]
    assert too_small["totalCost"] is None
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
