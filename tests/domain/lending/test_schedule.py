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
from domain.products.models import DayCount, RepaymentMethod
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


# Published worked examples, one schedule per day count.
#
# - Level payment: Microsoft's PMT documentation ("PMT function", support.microsoft.com,
#   Excel for Microsoft 365): 10,000 at 8 % a year over 10 monthly payments pays
#   1,037.03 a month (=PMT(8%/12, 10, 10000)); FileMaker's PMT documentation
#   (help.claris.com, "PMT"): 21,000 at 6.9 % over 48 months pays 501.90. Every day count
#   levels an annuity at the nominal monthly rate (domain.lending.schedule), so all but
#   the last instalment are that payment under each of them.
# - One period's interest: Microsoft's ACCRINTM documentation ("ACCRINTM function"):
#   1,000 at 10 % from 1 April 2008 to 15 June 2008 on Actual/365 accrues 20.54794521;
#   Apple's Numbers function reference ("YEARFRAC", help.apple.com/functions): from
#   15 December 2009 to 30 June 2010 is 0.547222... of a year on actual/360 and
#   0.539726... on actual/365, so 1,000,000 at 10 % earns 54,722.22 and 53,972.60.
@pytest.mark.parametrize(
    ("principal", "rate", "term", "payment"),
    [("10000.00", "0.08", 10, "1037.03"), ("21000.00", "0.069", 48, "501.90")],
)
@pytest.mark.parametrize("day_count", list(DayCount))
def test_an_annuity_levels_at_the_published_payment_under_every_day_count(
    principal: str, rate: str, term: int, payment: str, day_count: DayCount
) -> None:
    # when
    rows = build_schedule(
        principal=Decimal(principal),
        annual_rate=Decimal(rate),
        term_months=term,
        method=RepaymentMethod.ANNUITY,
        first_due_on=date(2026, 2, 1),
        day_count=day_count,
        start_on=date(2026, 1, 1),
    )

    # then: the published payment, the principal repaid to the cent
    assert {row.principal + row.interest for row in rows[:-1]} == {Decimal(payment)}
    assert sum((row.principal for row in rows), Decimal(0)) == Decimal(principal)
    if day_count is DayCount.THIRTY_360:
        # every month at the nominal rate: the last instalment differs from the others
        # only by the rounding of the payment to the cent, carried over the term
        last = rows[-1].principal + rows[-1].interest
        assert abs(last - Decimal(payment)) <= Decimal("0.005") * term


@pytest.mark.parametrize(
    ("principal", "start", "due", "day_count", "interest"),
    [
        ("1000.00", date(2008, 4, 1), date(2008, 6, 15), DayCount.ACT_365F, "20.55"),
        ("1000000.00", date(2009, 12, 15), date(2010, 6, 30), DayCount.ACT_360, "54722.22"),
        ("1000000.00", date(2009, 12, 15), date(2010, 6, 30), DayCount.ACT_365F, "53972.60"),
    ],
)
def test_a_first_period_charges_the_published_interest_of_its_days(
    principal: str, start: date, due: date, day_count: DayCount, interest: str
) -> None:
    # given: paid out on ``start``, the whole principal due at once on ``due``
    rows = build_schedule(
        principal=Decimal(principal),
        annual_rate=Decimal("0.10"),
        term_months=1,
        method=RepaymentMethod.INTEREST_ONLY,
        first_due_on=due,
        day_count=day_count,
        start_on=start,
    )

    # then
    assert rows[0].interest == Decimal(interest)
