"""Recommendations: eligible first, cheapest first, a default risk that weighs, a stable order."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain.products.eligibility import EnterpriseFacts
from domain.products.models import Product, ProductStatus
from domain.products.recommend import Recommendation, recommend
from tests.domain.products.builders import unsaved_product

AS_OF = date(2026, 11, 20)
START = date(2026, 12, 1)
AMOUNT = Decimal("100000.00")
FACTS = EnterpriseFacts(
    industry="manufacturing",
    region="Zhejiang",
    founded_on=date(2019, 5, 1),
    annual_revenue=Decimal("3000000.00"),
    total_assets=Decimal("2000000.00"),
    total_liabilities=Decimal("800000.00"),
)


def _product(**overrides: object) -> Product:
    return unsaved_product(**{"repayment_methods": ["annuity"], **overrides})


def _ids(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=i) for i in range(1, n + 1)]


def test_eligible_products_come_before_cheaper_ineligible_ones() -> None:
    # given: the cheapest product serves another region
    elsewhere = _product(min_rate=Decimal("0.050000"), eligibility={"regions": ["Yunnan"]})
    here = _product(min_rate=Decimal("0.070000"))

    # when
    ranked = recommend(
        [elsewhere, here], FACTS, amount=AMOUNT, term_months=24, as_of=AS_OF, start=START
    )

    # then
    assert [(r.product, r.eligible, r.rank) for r in ranked] == [
        (here, True, 1),
        (elsewhere, False, 2),
    ]
    assert ranked[1].reasons == ("region Zhejiang is not served (serves: Yunnan)",)
    assert ranked[1].probability_of_default is None


def test_eligible_products_are_ranked_by_total_cost_with_the_figures_in_the_reasons() -> None:
    # given: 100,000.00 over 24 months by annuity costs 6,369.48 at 6%, 5,291.34 at 5%,
    # and 6,869.48 at 6% with a 0.5% fee
    at_six = _product(min_rate=Decimal("0.060000"))
    at_five = _product(min_rate=Decimal("0.050000"))
    at_six_with_fee = _product(
        min_rate=Decimal("0.060000"), origination_fee_rate=Decimal("0.005000")
    )

    # when
    ranked = recommend(
        [at_six_with_fee, at_six, at_five],
        FACTS,
        amount=AMOUNT,
        term_months=24,
        as_of=AS_OF,
        start=START,
    )

    # then
    assert [r.product for r in ranked] == [at_five, at_six, at_six_with_fee]
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert [r.quote.total_cost if r.quote else None for r in ranked] == [
        Decimal("5291.34"),
        Decimal("6369.48"),
        Decimal("6869.48"),
    ]
    assert ranked[0].reasons == (
        "cheapest total cost of the eligible products: 5,291.34 over 24 months",
        "effective annual rate 5.12%",
        "cheapest repayment: annuity",
        "no collateral needed",
    )
    assert ranked[2].reasons[:2] == (
        "total cost 6,869.48 over 24 months, 1,578.14 more than the cheapest eligible one",
        "effective annual rate 6.69%",
    )


def test_an_eligible_product_that_cannot_lend_the_amount_follows_those_that_can() -> None:
    # given: the cheaper product lends at most 80,000.00
    small = _product(min_rate=Decimal("0.040000"), max_amount=Decimal("80000.00"))
    fitting = _product(min_rate=Decimal("0.070000"))

    # when
    ranked = recommend(
        [small, fitting], FACTS, amount=AMOUNT, term_months=24, as_of=AS_OF, start=START
    )

    # then
    assert [r.product for r in ranked] == [fitting, small]
    assert ranked[1].eligible
    assert ranked[1].quote is None
    assert ranked[1].reasons[0] == "amount 100,000.00 is outside 50,000.00 to 80,000.00"
    assert ranked[0].reasons[0] == (
        "cheapest total cost of the eligible products: 7,454.18 over 24 months"
    )


def test_a_higher_probability_of_default_reorders_two_products_of_close_cost() -> None:
    # given: 6,369.48 at 6.0% and 6,477.64 at 6.1%; the cheaper one carries more risk
    cheaper = _product(min_rate=Decimal("0.060000"))
    safer = _product(min_rate=Decimal("0.061000"))
    pds = {cheaper.id: 0.05, safer.id: 0.01}

    def pd(product: Product) -> float | None:
        return pds[product.id]

    # when
    plain = recommend(
        [cheaper, safer], FACTS, amount=AMOUNT, term_months=24, as_of=AS_OF, start=START
    )
    weighed = recommend(
        [cheaper, safer],
        FACTS,
        amount=AMOUNT,
        term_months=24,
        as_of=AS_OF,
        start=START,
        probability_of_default=pd,
    )

    # then: 6,369.48 x 1.05 = 6,687.95 is above 6,477.64 x 1.01 = 6,542.42
    assert [r.product for r in plain] == [cheaper, safer]
    assert [r.product for r in weighed] == [safer, cheaper]
    assert [r.probability_of_default for r in weighed] == [0.01, 0.05]
    assert "ranked allowing for your estimated risk of default" in weighed[0].reasons
    # the quote is a price, not a ranking weight
    assert weighed[1].quote is not None
    assert weighed[1].quote.total_cost == Decimal("6369.48")
    assert weighed[1].reasons[0] == (
        "cheapest total cost of the eligible products: 6,369.48 over 24 months"
    )


def test_a_probability_of_default_does_not_overturn_a_wide_cost_gap() -> None:
    # given: 5,291.34 at 5% against 7,454.18 at 7%
    cheap = _product(min_rate=Decimal("0.050000"))
    dear = _product(min_rate=Decimal("0.070000"))
    pds = {cheap.id: 0.10, dear.id: 0.0}

    # when
    ranked = recommend(
        [dear, cheap],
        FACTS,
        amount=AMOUNT,
        term_months=24,
        as_of=AS_OF,
        start=START,
        probability_of_default=lambda p: pds[p.id],
    )

    # then
    assert [r.product for r in ranked] == [cheap, dear]


def test_no_probability_leaves_the_cost_alone_and_ineligible_products_are_not_scored() -> None:
    # given
    scored: list[Product] = []
    cheap = _product(min_rate=Decimal("0.050000"))
    closed = _product(status=ProductStatus.RETIRED)

    def pd(product: Product) -> float | None:
        scored.append(product)
        return None

    # when
    ranked = recommend(
        [closed, cheap],
        FACTS,
        amount=AMOUNT,
        term_months=24,
        as_of=AS_OF,
        start=START,
        probability_of_default=pd,
    )

    # then
    assert scored == [cheap]
    assert [r.product for r in ranked] == [cheap, closed]
    assert ranked[0].probability_of_default is None
    assert not any("probability" in reason for reason in ranked[0].reasons)


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan")])
def test_a_probability_outside_zero_to_one_is_refused(bad: float) -> None:
    # when / then
    with pytest.raises(ValueError, match="probability of default"):
        recommend(
            [_product()],
            FACTS,
            amount=AMOUNT,
            term_months=24,
            as_of=AS_OF,
            start=START,
            probability_of_default=lambda _: bad,
        )


def test_ties_are_broken_by_product_id_whatever_the_input_order() -> None:
    # given: three identical products
    first, second, third = (_product(id=i) for i in _ids(3))

    # when
    orders = [
        [r.product.id for r in _ranked(products)]
        for products in ([third, first, second], [second, third, first], [first, second, third])
    ]

    # then
    assert orders == [[first.id, second.id, third.id]] * 3


def test_at_most_limit_recommendations_are_returned_best_first() -> None:
    # given: five products from 5% to 9%
    products = [
        _product(id=pid, min_rate=Decimal(f"0.0{5 + n}0000"))
        for n, pid in enumerate(reversed(_ids(5)))
    ]

    # when
    ranked = _ranked(products, limit=2)
    none = _ranked(products, limit=0)

    # then
    assert [(r.rank, r.product.min_rate) for r in ranked] == [
        (1, Decimal("0.050000")),
        (2, Decimal("0.060000")),
    ]
    assert none == []
    assert len(_ranked(products)) == 5


def test_the_default_limit_is_ten() -> None:
    # given
    products = [_product(id=pid) for pid in _ids(12)]

    # when
    ranked = _ranked(products)

    # then
    assert [r.product.id for r in ranked] == _ids(10)


def test_a_negative_limit_is_refused() -> None:
    # when / then
    with pytest.raises(ValueError, match="limit"):
        _ranked([_product()], limit=-1)


def test_without_amount_and_term_products_are_ranked_by_rate_then_fee() -> None:
    # given
    dear = _product(min_rate=Decimal("0.070000"))
    with_fee = _product(min_rate=Decimal("0.050000"), origination_fee_rate=Decimal("0.010000"))
    no_fee = _product(min_rate=Decimal("0.050000"))

    # when
    ranked = recommend(
        [dear, with_fee, no_fee], FACTS, amount=None, term_months=None, as_of=AS_OF, start=START
    )

    # then
    assert [r.product for r in ranked] == [no_fee, with_fee, dear]
    assert all(r.quote is None for r in ranked)
    assert ranked[0].reasons[:2] == (
        "lowest starting rate of the eligible products: 5.00%",
        "no origination fee",
    )
    assert ranked[1].reasons[:2] == (
        "lowest starting rate of the eligible products: 5.00%",
        "origination fee 1.00%",
    )
    assert ranked[2].reasons[0] == "rates from 7.00%"


def test_an_amount_without_a_term_makes_no_quote() -> None:
    # when
    ranked = recommend(
        [_product()], FACTS, amount=AMOUNT, term_months=None, as_of=AS_OF, start=START
    )

    # then
    assert ranked[0].quote is None
    assert ranked[0].reasons[0] == "lowest starting rate of the eligible products: 6.00%"


def test_reasons_name_the_rules_the_enterprise_meets() -> None:
    # given
    product = _product(
        collateral_required=True,
        eligibility={"industries": ["manufacturing", "energy"], "regions": ["Zhejiang"]},
    )

    # when
    stated = _ranked([product])
    offered = _ranked([product], replace(FACTS, has_collateral=True))

    # then
    assert stated[0].reasons[-3:] == (
        "collateral required; you have not said whether you can offer it",
        "matches your industry, manufacturing",
        "matches your region, Zhejiang",
    )
    assert offered[0].reasons[-3] == "collateral required, which you said you can offer"


def test_ineligible_products_carry_why_not_fewest_reasons_first() -> None:
    # given: the products with more reasons are cheaper and sort first by id
    one_reason = _product(
        id=uuid.UUID(int=3), min_rate=Decimal("0.070000"), eligibility={"industries": ["energy"]}
    )
    two_reasons = _product(
        id=uuid.UUID(int=1),
        min_rate=Decimal("0.050000"),
        eligibility={"industries": ["energy"], "min_years_in_business": 10},
    )
    two_and_too_small = _product(
        id=uuid.UUID(int=2),
        min_rate=Decimal("0.040000"),
        eligibility={"industries": ["energy"], "min_years_in_business": 10},
        max_amount=Decimal("60000.00"),
    )

    # when
    ranked = _ranked([two_and_too_small, two_reasons, one_reason])

    # then
    assert [r.product for r in ranked] == [one_reason, two_reasons, two_and_too_small]
    assert not any(r.eligible for r in ranked)
    assert ranked[2].reasons == (
        "in business 7 years; the product asks for at least 10 years",
        "industry manufacturing is not served (serves: energy)",
        "amount 100,000.00 is outside 50,000.00 to 60,000.00",
    )
    assert ranked[1].quote is not None
    assert ranked[2].quote is None


def _ranked(
    products: list[Product], facts: EnterpriseFacts = FACTS, *, limit: int = 10
) -> list[Recommendation]:
    """Recommendations for 100,000.00 over 24 months."""
    return recommend(
        products, facts, amount=AMOUNT, term_months=24, as_of=AS_OF, start=START, limit=limit
    )
