"""Quotes: exact money, and an effective rate that means what it says."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.products.models import Product, RepaymentMethod
from domain.products.pricing import Quote, Unavailable, cheapest_quote, quote, why_not
from tests.domain.products.builders import unsaved_product

START = date(2026, 12, 1)


def _product(**overrides: object) -> Product:
    return unsaved_product(**overrides)


def test_a_fee_free_annuity_costs_its_nominal_rate_compounded() -> None:
    # when
    q = quote(
        _product(),
        amount=Decimal("120000.00"),
        term_months=12,
        method=RepaymentMethod.ANNUITY,
        start=START,
    )

    # then: 6% a year nominal, monthly, is 6.1678% effective
    assert q.first_instalment == Decimal("10327.97")
    assert q.total_repaid == q.amount + q.total_cost
    assert q.fees == Decimal("0.00")
    assert q.effective_annual_rate == Decimal("0.061678")


def test_a_fee_raises_the_effective_rate_above_the_nominal_one() -> None:
    # given
    with_fee = _product(origination_fee_rate=Decimal("0.010000"))

    # when
    q = quote(
        with_fee,
        amount=Decimal("120000.00"),
        term_months=12,
        method=RepaymentMethod.ANNUITY,
        start=START,
    )

    # then
    assert q.fees == Decimal("1200.00")
    assert q.total_cost == q.total_interest + Decimal("1200.00")
    assert q.effective_annual_rate > Decimal("0.075")


def test_the_cheapest_method_is_chosen_and_misfits_are_explained() -> None:
    # given
    product = _product()

    # when
    best = cheapest_quote(product, amount=Decimal("500000.00"), term_months=24, start=START)
    too_big = cheapest_quote(product, amount=Decimal("9000000.00"), term_months=48, start=START)

    # then: equal principal repays faster, so it costs less interest
    assert isinstance(best, Quote)
    assert best.method is RepaymentMethod.EQUAL_PRINCIPAL
    assert isinstance(too_big, Unavailable)
    assert too_big.reasons == (
        "amount 9,000,000.00 is outside 50,000.00 to 2,000,000.00",
        "term 48 months is outside 6 to 36",
    )
    assert why_not(product, amount=Decimal("50000.00"), term_months=6) == ()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    amount=st.integers(min_value=5_000_000, max_value=500_000_000).map(
        lambda cents: Decimal(cents) / 100
    ),
    rate=st.integers(min_value=0, max_value=240_000).map(lambda m: Decimal(m) / 1_000_000),
    fee=st.integers(min_value=0, max_value=30_000).map(lambda m: Decimal(m) / 1_000_000),
    term=st.integers(min_value=1, max_value=120),
    method=st.sampled_from(list(RepaymentMethod)),
)
def test_quotes_add_up_to_the_cent_and_the_effective_rate_is_never_below_the_nominal(
    amount: Decimal, rate: Decimal, fee: Decimal, term: int, method: RepaymentMethod
) -> None:
    # when
    q = quote(
        _product(
            min_rate=rate,
            origination_fee_rate=fee,
            min_amount=Decimal("0.01"),
            max_amount=amount,
            max_term_months=term,
            min_term_months=1,
        ),
        amount=amount,
        term_months=term,
        method=method,
        start=START,
    )

    # then
    assert q.total_repaid == q.amount + q.total_interest + q.fees
    assert q.total_cost >= 0
    nominal_compounded = (1 + rate / 12) ** 12 - 1
    assert q.effective_annual_rate >= nominal_compounded.quantize(Decimal("0.000001")) - Decimal(
        "0.000002"
    )
