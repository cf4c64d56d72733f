"""Day counts, the schedule under them, and the charges accrual makes (pure functions)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from domain.lending import repayment as money
from domain.lending.charges import Row, Terms, charge_lines, earned, interest_receivable
from domain.lending.daycount import days_between, year_fraction
from domain.lending.schedule import build_schedule
from domain.products.models import DayCount, RepaymentMethod

D = Decimal


# Worked examples from public sources:
# - 1 Feb 2004 to 3 Mar 2004 (a leap year): "the act/360 calculation is trivially
#   31/360 = 0.086111111111 ... the 30/360 answer for this example is 0.088888889"
#   (Wilmott forum, "day count", 22 July 2004, forum.wilmott.com/viewtopic.php?p=147442).
# - 15 Feb 2003 to 15 Mar 2003 is 30 days under 30/360 and 28 actual days
#   (the FIT framework's CalendarFixture example, fit.c2.com/Release/Classes/Demo).
# - 30/360: "If DT1 is 31, change DT1 to 30. If DT2 is 31 and DT1 is 30 or 31, change DT2
#   to 30; otherwise, leave it at 31" (Texas Instruments BA II Plus guidebook, appendix,
#   after Lynch and Mayle, Standard Securities Calculation Methods, SIA 1986), the same
#   rule as ISDA 2006 Definitions 4.16(f).
# - 15 Dec 2009 to 30 Jun 2010: YEARFRAC returns 0.541666666666667 on 30/360,
#   0.547222222222222 on actual/360 and 0.53972602739726 on actual/365 (Apple, Numbers
#   function reference, "YEARFRAC", help.apple.com/functions/mac/7.0).
# - 1 Apr 2008 to 15 Jun 2008 on Actual/365: 1,000 at 10 % accrues 20.54794521
#   (Microsoft, "ACCRINTM function", support.microsoft.com): 75/365 of a year.
@pytest.mark.parametrize(
    ("start", "end", "convention", "days", "fraction"),
    [
        (date(2004, 2, 1), date(2004, 3, 3), DayCount.ACT_360, 31, "0.086111111"),
        (date(2004, 2, 1), date(2004, 3, 3), DayCount.THIRTY_360, 32, "0.088888889"),
        (date(2004, 2, 1), date(2004, 3, 3), DayCount.ACT_365F, 31, "0.084931507"),
        (date(2003, 2, 15), date(2003, 3, 15), DayCount.THIRTY_360, 30, "0.083333333"),
        (date(2003, 2, 15), date(2003, 3, 15), DayCount.ACT_365F, 28, "0.076712329"),
        # DT1 = 31 counts as 30; DT2 = 31 stays 31 when DT1 is not 30 or 31.
        (date(2007, 1, 31), date(2007, 3, 31), DayCount.THIRTY_360, 60, "0.166666667"),
        (date(2007, 1, 15), date(2007, 3, 31), DayCount.THIRTY_360, 76, "0.211111111"),
        (date(2009, 12, 15), date(2010, 6, 30), DayCount.THIRTY_360, 195, "0.541666667"),
        (date(2009, 12, 15), date(2010, 6, 30), DayCount.ACT_360, 197, "0.547222222"),
        (date(2009, 12, 15), date(2010, 6, 30), DayCount.ACT_365F, 197, "0.539726027"),
        (date(2008, 4, 1), date(2008, 6, 15), DayCount.ACT_365F, 75, "0.205479452"),
        # A whole leap year is 366 days over 365 under ACT/365F.
        (date(2024, 1, 1), date(2025, 1, 1), DayCount.ACT_365F, 366, "1.002739726"),
    ],
)
def test_day_counts_match_the_published_examples(
    start: date, end: date, convention: DayCount, days: int, fraction: str
) -> None:
    assert days_between(start, end, convention) == days
    assert year_fraction(start, end, convention).quantize(D("0.000000001")) == D(fraction)


def test_thirty_360_schedules_are_the_monthly_schedules_of_before() -> None:
    plain = build_schedule(
        principal=D("12000.00"),
        annual_rate=D("0.120000"),
        term_months=12,
        method=RepaymentMethod.ANNUITY,
        first_due_on=date(2026, 1, 31),
    )
    counted = build_schedule(
        principal=D("12000.00"),
        annual_rate=D("0.120000"),
        term_months=12,
        method=RepaymentMethod.ANNUITY,
        first_due_on=date(2026, 1, 31),
        day_count=DayCount.THIRTY_360,
        start_on=date(2025, 12, 31),
    )
    assert counted == plain
    assert plain[0].interest == D("120.00")  # 12000 x 12% / 12


def test_actual_day_counts_charge_each_period_its_days() -> None:
    # given 100,000 at 7.3% from 1 Jan 2026, interest only
    def first_two(convention: DayCount) -> list[Decimal]:
        schedule = build_schedule(
            principal=D("100000.00"),
            annual_rate=D("0.073000"),
            term_months=3,
            method=RepaymentMethod.INTEREST_ONLY,
            first_due_on=date(2026, 2, 1),
            day_count=convention,
            start_on=date(2026, 1, 1),
        )
        return [row.interest for row in schedule[:2]]

    # then January has 31 days, February 28
    assert first_two(DayCount.ACT_365F) == [D("620.00"), D("560.00")]  # 7300 x 31/365, 28/365
    assert first_two(DayCount.ACT_360) == [D("628.61"), D("567.78")]  # 7300 x 31/360, 28/360
    assert first_two(DayCount.THIRTY_360) == [D("608.33"), D("608.33")]  # 7300 / 12


def test_an_actual_day_annuity_still_repays_exactly_the_principal() -> None:
    schedule = build_schedule(
        principal=D("50000.00"),
        annual_rate=D("0.095000"),
        term_months=24,
        method=RepaymentMethod.ANNUITY,
        first_due_on=date(2026, 3, 15),
        day_count=DayCount.ACT_360,
        start_on=date(2026, 2, 15),
    )
    assert sum((row.principal for row in schedule), D(0)) == D("50000.00")
    assert schedule[-1].closing_balance == 0


def row(
    sequence: int,
    due_on: date,
    *,
    principal: str = "1000.00",
    interest: str = "100.00",
    principal_paid: str = "0.00",
    interest_paid: str = "0.00",
    penalty_due: str = "0.00",
    charged_on: date | None = None,
) -> Row:
    return Row(
        id=uuid.uuid4(),
        sequence=sequence,
        due_on=due_on,
        principal_due=D(principal),
        interest_due=D(interest),
        fee_due=D("0.00"),
        principal_paid=D(principal_paid),
        interest_paid=D(interest_paid),
        fee_paid=D("0.00"),
        late_fee_due=D("0.00"),
        late_fee_paid=D("0.00"),
        late_fee_charged_on=charged_on,
        penalty_due=D(penalty_due),
        penalty_paid=D("0.00"),
    )


def test_interest_is_earned_evenly_over_its_period_by_the_day_count() -> None:
    # 31 actual days from 1 Jan to 1 Feb: through 11 Jan, 10 of them
    assert earned(
        D("310.00"), date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 11), DayCount.ACT_365F
    ) == D("100.00")
    # 30/360: 1 Jan to 1 Feb is 30 days; through 16 Jan, 15 of them
    assert earned(
        D("300.00"), date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 16), DayCount.THIRTY_360
    ) == D("150.00")
    rows = [row(1, date(2026, 2, 1), interest_paid="40.00"), row(2, date(2026, 3, 1))]
    # all of line 1 (100 less 40 paid) and half of February's 28 days of line 2
    assert interest_receivable(
        rows, disbursed_on=date(2026, 1, 1), through=date(2026, 2, 15), day_count=DayCount.ACT_360
    ) == D("110.00")
    assert (
        interest_receivable(
            rows, disbursed_on=date(2026, 1, 1), through=None, day_count=DayCount.ACT_360
        )
        == 0
    )


def test_a_late_fee_is_charged_only_after_the_grace_period_and_capped() -> None:
    terms = Terms(
        grace_days=5, late_fee_fixed=D("10.00"), late_fee_rate=D("0.050000"), late_fee_cap=D("50")
    )
    line = row(1, date(2026, 3, 1), principal="1000.00", interest="100.00")
    # the fifth day of grace: nothing
    assert charge_lines([line], terms=terms, since=date(2026, 3, 1), as_of=date(2026, 3, 6)) == []
    # the day after: 10 + 5% of 1,100 = 65, capped at 50
    charged = charge_lines([line], terms=terms, since=date(2026, 3, 1), as_of=date(2026, 3, 7))
    assert [(fee, penalty) for _, fee, penalty in charged] == [(D("50.00"), D("0.00"))]
    # charged once: a line that has its fee takes no other
    done = row(1, date(2026, 3, 1), charged_on=date(2026, 3, 7))
    assert charge_lines([done], terms=terms, since=date(2026, 3, 7), as_of=date(2026, 4, 1)) == []


def test_penalty_interest_runs_on_overdue_principal_after_grace_within_its_cap() -> None:
    terms = Terms(
        day_count=DayCount.ACT_365F,
        grace_days=3,
        penalty_rate=D("0.365000"),
        penalty_cap_multiple=D("0.020000"),
    )
    line = row(1, date(2026, 3, 1), principal="1000.00", principal_paid="0.00")
    # from the end of grace (4 March) to 14 March: 10 days x 1,000 x 36.5% / 365 = 10.00
    [(_, fee, penalty)] = charge_lines(
        [line], terms=terms, since=date(2026, 3, 1), as_of=date(2026, 3, 14)
    )
    assert (fee, penalty) == (D("0.00"), D("10.00"))
    # the cap: 2% of the instalment's 1,000 principal is 20 in all
    near = row(1, date(2026, 3, 1), penalty_due="15.00")
    [(_, _, penalty)] = charge_lines(
        [near], terms=terms, since=date(2026, 3, 14), as_of=date(2026, 3, 30)
    )
    assert penalty == D("5.00")


def test_the_waterfall_takes_penalties_then_fees_then_interest_then_principal() -> None:
    line = money.Line(
        sequence=1,
        due_on=date(2026, 3, 1),
        principal_due=D("1000.00"),
        interest_due=D("100.00"),
        fee_due=D("20.00"),
        principal_paid=D("0.00"),
        interest_paid=D("0.00"),
        fee_paid=D("0.00"),
        late_fee_due=D("30.00"),
        penalty_due=D("7.00"),
    )
    nxt = money.Line(
        sequence=2,
        due_on=date(2026, 4, 1),
        principal_due=D("1000.00"),
        interest_due=D("90.00"),
        fee_due=D("0.00"),
        principal_paid=D("0.00"),
        interest_paid=D("0.00"),
        fee_paid=D("0.00"),
    )
    got = money.allocate(
        [line, nxt],
        D("150.00"),
        paid_on=date(2026, 3, 20),
        annual_rate=D("0.100000"),
        method=RepaymentMethod.ANNUITY,
    )
    assert (got.late_fee, got.penalty, got.fee, got.interest, got.principal) == (
        D("30.00"),
        D("7.00"),
        D("20.00"),
        D("93.00"),
        D("0.00"),
    )
    assert money.payoff_amount([line, nxt], paid_on=date(2026, 3, 20)) == D("2157.00")


def test_the_payoff_quote_counts_charges_among_its_fees() -> None:
    from domain.contracts.termination import quote

    line = money.Line(
        sequence=1,
        due_on=date(2026, 3, 1),
        principal_due=D("1000.00"),
        interest_due=D("100.00"),
        fee_due=D("20.00"),
        principal_paid=D("0.00"),
        interest_paid=D("0.00"),
        fee_paid=D("0.00"),
        late_fee_due=D("30.00"),
        penalty_due=D("7.00"),
    )
    found = quote([line], as_of=date(2026, 3, 20))
    assert found.fees == D("57.00")
    assert found.total == D("1157.00")
