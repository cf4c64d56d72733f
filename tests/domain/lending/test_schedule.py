from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.lending.delinquency import bucket_for, days_past_due
from domain.lending.models import DelinquencyBucket
from domain.lending.schedule import ScheduledInstallment, add_months, build_schedule
from domain.products.models import RepaymentMethod
from kernel.errors import InvalidInput

FIRST_DUE = date(2026, 1, 31)

principals = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50000000.00"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.999999"), places=6)
terms = st.integers(min_value=1, max_value=600)
methods = st.sampled_from(RepaymentMethod)
# Loans as lenders write them; the level-payment properties need the payment to amortise.
realistic_principals = st.decimals(
    min_value=Decimal("1000.00"), max_value=Decimal("50000000.00"), places=2
)
realistic_rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.36"), places=6)
realistic_terms = st.integers(min_value=1, max_value=120)


def schedule(
    principal: str | Decimal,
    rate: str | Decimal,
    term: int,
    method: RepaymentMethod,
    fee: str = "0.00",
) -> list[ScheduledInstallment]:
    return build_schedule(
        principal=Decimal(principal),
        annual_rate=Decimal(rate),
        term_months=term,
        method=method,
        first_due_on=FIRST_DUE,
        fee=Decimal(fee),
    )


@settings(max_examples=200, deadline=None)
@given(principal=principals, rate=rates, term=terms, method=methods)
def test_principal_adds_up_and_balances_run_down_to_zero(
    principal: Decimal, rate: Decimal, term: int, method: RepaymentMethod
) -> None:
    # when
    rows = schedule(principal, rate, term, method)

    # then
    assert len(rows) == term
    assert sum(r.principal for r in rows) == principal
    assert all(r.principal >= 0 and r.interest >= 0 for r in rows)
    assert all(r.closing_balance >= 0 for r in rows)
    assert all(r.closing_balance == r.opening_balance - r.principal for r in rows)
    assert all(a.closing_balance == b.opening_balance for a, b in itertools.pairwise(rows))
    assert rows[0].opening_balance == principal
    assert rows[-1].closing_balance == 0
    assert [r.sequence for r in rows] == list(range(1, term + 1))
    assert all(r.principal.as_tuple().exponent == -2 for r in rows)
    assert all(r.interest.as_tuple().exponent == -2 for r in rows)


@settings(max_examples=200, deadline=None)
@given(principal=realistic_principals, rate=realistic_rates, term=realistic_terms)
def test_annuity_instalments_are_level_except_the_last(
    principal: Decimal, rate: Decimal, term: int
) -> None:
    # when
    rows = schedule(principal, rate, term, RepaymentMethod.ANNUITY)

    # then
    assert len({r.principal + r.interest for r in rows[:-1]}) <= 1


@settings(max_examples=200, deadline=None)
@given(principal=realistic_principals, rate=realistic_rates, term=realistic_terms)
def test_equal_principal_parts_are_equal_except_the_last(
    principal: Decimal, rate: Decimal, term: int
) -> None:
    # when
    rows = schedule(principal, rate, term, RepaymentMethod.EQUAL_PRINCIPAL)

    # then
    assert len({r.principal for r in rows[:-1]}) <= 1
    assert rows[-1].principal >= rows[0].principal
    assert all(a.interest >= b.interest for a, b in itertools.pairwise(rows))


@settings(max_examples=200, deadline=None)
@given(principal=principals, rate=rates, term=terms)
def test_interest_only_repays_the_principal_at_the_end(
    principal: Decimal, rate: Decimal, term: int
) -> None:
    # when
    rows = schedule(principal, rate, term, RepaymentMethod.INTEREST_ONLY)

    # then
    assert all(r.principal == 0 for r in rows[:-1])
    assert rows[-1].principal == principal
    assert len({r.interest for r in rows}) == 1


def test_annuity_hand_checked() -> None:
    # when
    rows = schedule("100000.00", "0.12", 12, RepaymentMethod.ANNUITY)

    # then
    assert rows[0].interest == Decimal("1000.00")
    assert rows[0].principal + rows[0].interest == Decimal("8884.88")
    assert rows[1].interest == Decimal("921.15")
    assert rows[-1].principal == Decimal("8796.88")
    assert rows[-1].interest == Decimal("87.97")
    assert sum(r.interest for r in rows) == Decimal("6618.53")


def test_equal_principal_hand_checked() -> None:
    # when
    rows = schedule("100000.00", "0.06", 3, RepaymentMethod.EQUAL_PRINCIPAL)

    # then
    assert [r.principal for r in rows] == [
        Decimal("33333.33"),
        Decimal("33333.33"),
        Decimal("33333.34"),
    ]
    assert [r.interest for r in rows] == [Decimal("500.00"), Decimal("333.33"), Decimal("166.67")]


def test_interest_only_hand_checked() -> None:
    # when
    rows = schedule("250000.00", "0.085", 6, RepaymentMethod.INTEREST_ONLY)

    # then
    assert {r.interest for r in rows} == {Decimal("1770.83")}
    assert rows[-1].total == Decimal("251770.83")


def test_zero_rate_spreads_the_principal_evenly() -> None:
    # when
    rows = schedule("1000.00", "0", 3, RepaymentMethod.ANNUITY)

    # then
    assert [r.principal for r in rows] == [Decimal("333.33"), Decimal("333.33"), Decimal("333.34")]
    assert all(r.interest == 0 for r in rows)


def test_fee_is_charged_with_the_first_instalment() -> None:
    # when
    rows = schedule("50000.00", "0.08", 6, RepaymentMethod.ANNUITY, fee="250.00")

    # then
    assert rows[0].fee == Decimal("250.00")
    assert all(r.fee == 0 for r in rows[1:])


def test_due_dates_are_monthly_and_clamped_to_month_end() -> None:
    # when
    rows = schedule("1200.00", "0.1", 4, RepaymentMethod.ANNUITY)

    # then
    assert [r.due_on for r in rows] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 5, 10), 0, date(2024, 5, 10)),
        (date(2024, 8, 31), 30, date(2027, 2, 28)),
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("principal", "rate", "term", "message"),
    [
        ("0.00", "0.05", 12, "principal must be a positive"),
        ("-5.00", "0.05", 12, "principal must be a positive"),
        ("100.001", "0.05", 12, "at most 2 decimal places"),
        ("100.00", "1", 12, "annual rate"),
        ("100.00", "-0.01", 12, "annual rate"),
        ("100.00", "0.05", 0, "term must be between 1 and 600"),
        ("100.00", "0.05", 601, "term must be between 1 and 600"),
    ],
)
def test_invalid_input_is_refused(principal: str, rate: str, term: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        schedule(principal, rate, term, RepaymentMethod.ANNUITY)


def test_negative_fee_is_refused() -> None:
    with pytest.raises(InvalidInput, match="fee"):
        schedule("100.00", "0.05", 12, RepaymentMethod.ANNUITY, fee="-1.00")


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, DelinquencyBucket.CURRENT),
        (1, DelinquencyBucket.DPD_1_30),
        (30, DelinquencyBucket.DPD_1_30),
        (31, DelinquencyBucket.DPD_31_60),
        (60, DelinquencyBucket.DPD_31_60),
        (61, DelinquencyBucket.DPD_61_90),
        (90, DelinquencyBucket.DPD_61_90),
        (91, DelinquencyBucket.DPD_90_PLUS),
        (4000, DelinquencyBucket.DPD_90_PLUS),
    ],
)
def test_bucket_for(days: int, bucket: DelinquencyBucket) -> None:
    assert bucket_for(days) is bucket


def test_bucket_for_refuses_negative_days() -> None:
    with pytest.raises(InvalidInput):
        bucket_for(-1)


def test_days_past_due_counts_from_the_oldest_unpaid_instalment() -> None:
    # given
    as_of = date(2026, 11, 1)
    unpaid = [date(2026, 10, 15), date(2026, 9, 15), date(2026, 11, 15), date(2026, 11, 1)]

    # when
    days = days_past_due(unpaid, as_of=as_of)

    # then
    assert days == 47


def test_days_past_due_is_zero_when_nothing_is_overdue() -> None:
    assert days_past_due([date(2026, 11, 1), date(2026, 12, 1)], as_of=date(2026, 11, 1)) == 0
    assert days_past_due([], as_of=date(2026, 11, 1)) == 0
