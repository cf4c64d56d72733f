"""A schedule rebuilt later -- after a partial prepayment, under an amendment -- and a
product's price quote count their periods by the product's day count, as the first
schedule does: each period's interest is its opening balance x the annual rate x the
period's actual days (from the previous due date, or the payout) over 365 or 360.

Before these held, rebuilt schedules and quotes charged ``annual_rate / 12`` a month
whatever the product said (30/360), so an ACT/365F loan's interest jumped between the
schedule signed and the one rebuilt after its first prepayment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from domain.contracts.amendment import Change, HolidayInterest, amend
from domain.lending.models import EarlyRepaymentChoice
from domain.lending.repayment import Line, allocate, lines_from_schedule
from domain.lending.schedule import add_months, build_schedule
from domain.products.models import DayCount, RepaymentMethod
from domain.products.pricing import quote
from tests.domain.products.builders import unsaved_product

D = Decimal
PAID_OUT = date(2026, 1, 15)
RATE = D("0.12")
BASIS = {DayCount.ACT_365F: 365, DayCount.ACT_360: 360}
ACTUAL = [DayCount.ACT_365F, DayCount.ACT_360]
METHODS = [RepaymentMethod.ANNUITY, RepaymentMethod.EQUAL_PRINCIPAL]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def _loan(method: RepaymentMethod, day_count: DayCount) -> tuple[Line, ...]:
    return lines_from_schedule(
        build_schedule(
            principal=D("12000.00"),
            annual_rate=RATE,
            term_months=12,
            method=method,
            first_due_on=add_months(PAID_OUT, 1),
            day_count=day_count,
            start_on=PAID_OUT,
        )
    )


def _counted_by_actual_days(
    lines: Sequence[Line], *, rate: Decimal, day_count: DayCount, opening: Decimal
) -> None:
    """Each line's interest is its opening balance over its actual days, to the cent."""
    balance = opening
    for line in lines:
        days = (line.due_on - add_months(line.due_on, -1)).days
        want = _cents(balance * rate * days / BASIS[day_count])
        assert line.interest_due == want, (line.sequence, line.interest_due, want)
        balance -= line.principal_due - line.principal_paid


@pytest.mark.parametrize("day_count", ACTUAL)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("option", list(EarlyRepaymentChoice))
def test_a_prepayment_rebuilds_the_rest_by_the_products_day_count(
    day_count: DayCount, method: RepaymentMethod, option: EarlyRepaymentChoice
) -> None:
    # given: an ACT/365F (or ACT/360) loan, its first instalment paid with 3,000.00 more
    lines = _loan(method, day_count)
    first = lines[0]
    paid = first.principal_due + first.interest_due + D("3000.00")

    # when
    after = allocate(
        lines,
        paid,
        paid_on=first.due_on,
        annual_rate=RATE,
        method=method,
        option=option,
        day_count=day_count,
        disbursed_on=PAID_OUT,
    ).lines

    # then: the rebuilt instalments charge the actual days of their periods, not 1/12
    rebuilt = [line for line in after if line.due_on > first.due_on]
    opening = sum((line.outstanding_principal for line in rebuilt), D(0))
    _counted_by_actual_days(rebuilt, rate=RATE, day_count=day_count, opening=opening)
    assert sum((line.principal_due for line in after), D(0)) == D("12000.00")


@pytest.mark.parametrize("day_count", ACTUAL)
@pytest.mark.parametrize("method", METHODS)
def test_an_amendment_rebuilds_by_the_products_day_count(
    day_count: DayCount, method: RepaymentMethod
) -> None:
    # given: the rate cut to 6 % and the term extended by 3 months from the 4th instalment
    lines = _loan(method, day_count)
    change = Change(effective_on=lines[3].due_on, annual_rate=D("0.06"), extra_months=3)

    # when
    amended = amend(
        lines,
        annual_rate=RATE,
        method=method,
        change=change,
        day_count=day_count,
        disbursed_on=PAID_OUT,
    )

    # then: the first three untouched, the rest at 6 % over their actual days
    assert amended.lines[:3] == lines[:3]
    rebuilt = amended.lines[3:]
    assert len(rebuilt) == 12
    opening = sum((line.outstanding_principal for line in lines[3:]), D(0))
    _counted_by_actual_days(rebuilt, rate=D("0.06"), day_count=day_count, opening=opening)


@pytest.mark.parametrize("interest", list(HolidayInterest))
def test_a_payment_holidays_interest_counts_the_actual_days_of_its_months(
    interest: HolidayInterest,
) -> None:
    # given: an ACT/365F annuity; a 2-month holiday from the 2nd instalment (due 15 March
    # and 15 April: 28 and 31 days after the 1st)
    lines = _loan(RepaymentMethod.ANNUITY, DayCount.ACT_365F)
    balance = sum((line.principal_due for line in lines[1:]), D(0))
    change = Change(effective_on=lines[1].due_on, holiday_months=2, holiday_interest=interest)

    # when
    amended = amend(
        lines,
        annual_rate=RATE,
        method=RepaymentMethod.ANNUITY,
        change=change,
        day_count=DayCount.ACT_365F,
        disbursed_on=PAID_OUT,
    )

    # then: the holiday's interest is 28 then 31 days' worth (capitalised: on the grown
    # balance), and what follows is counted by actual days on the new balance
    march = _cents(balance * RATE * 28 / 365)
    if interest is HolidayInterest.CAPITALISED:
        april = _cents((balance + march) * RATE * 31 / 365)
        assert amended.capitalised_interest == march + april
        assert amended.deferred_interest == 0
    else:
        april = _cents(balance * RATE * 31 / 365)
        assert amended.deferred_interest == march + april
        assert amended.capitalised_interest == 0
    after = list(amended.lines[3:])
    # (the deferred interest rides on the last instalment, without interest of its own)
    after[-1] = replace(after[-1], interest_due=after[-1].interest_due - amended.deferred_interest)
    _counted_by_actual_days(
        after,
        rate=RATE,
        day_count=DayCount.ACT_365F,
        opening=balance + amended.capitalised_interest,
    )


@pytest.mark.parametrize("day_count", ACTUAL)
def test_a_quote_charges_the_interest_of_the_products_day_count(day_count: DayCount) -> None:
    # given: a product that counts actual days
    product = unsaved_product(day_count=day_count, origination_fee_rate=D("0.010000"))
    start = date(2026, 3, 1)

    # when
    priced = quote(
        product,
        amount=D("100000.00"),
        term_months=12,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        start=start,
    )

    # then: its interest is the schedule's the contract would book under that count
    booked = build_schedule(
        principal=D("100000.00"),
        annual_rate=product.min_rate,
        term_months=12,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        first_due_on=start,
        day_count=day_count,
    )
    assert priced.total_interest == sum((row.interest for row in booked), D(0))
    thirty = build_schedule(
        principal=D("100000.00"),
        annual_rate=product.min_rate,
        term_months=12,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        first_due_on=start,
    )
    assert priced.total_interest != sum((row.interest for row in thirty), D(0))
