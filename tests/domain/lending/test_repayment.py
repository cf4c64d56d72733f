from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain.lending.repayment import (
    Allocation,
    Applied,
    EarlyRepaymentChoice,
    Line,
    Overpayment,
    allocate,
    is_paid_off,
    lines_from_schedule,
    outstanding,
    payoff_amount,
)
from domain.lending.schedule import build_schedule
from domain.products.models import RepaymentMethod
from kernel.errors import InvalidInput

FIRST_DUE = date(2026, 1, 31)
ANNUITY = RepaymentMethod.ANNUITY


def loan(
    principal: str,
    rate: str,
    term: int,
    method: RepaymentMethod = ANNUITY,
    fee: str = "0.00",
) -> tuple[Line, ...]:
    return lines_from_schedule(
        build_schedule(
            principal=Decimal(principal),
            annual_rate=Decimal(rate),
            term_months=term,
            method=method,
            first_due_on=FIRST_DUE,
            fee=Decimal(fee),
        )
    )


def pay(
    lines: tuple[Line, ...],
    amount: str,
    paid_on: date,
    rate: str = "0.12",
    method: RepaymentMethod = ANNUITY,
    option: EarlyRepaymentChoice = EarlyRepaymentChoice.SHORTER_TERM,
) -> Allocation:
    return allocate(
        lines,
        Decimal(amount),
        paid_on=paid_on,
        annual_rate=Decimal(rate),
        method=method,
        option=option,
    )


def instalment(line: Line) -> Decimal:
    """The scheduled instalment, leaving out principal prepaid on the line."""
    return line.outstanding_principal + line.interest_due


# 100 000 at 12% over 12 months: 8 884.88 a month, 1 000.00 interest in the first.
def annuity_loan() -> tuple[Line, ...]:
    return loan("100000.00", "0.12", 12)


def test_lines_from_schedule_start_with_nothing_paid() -> None:
    # when
    lines = annuity_loan()

    # then
    assert len(lines) == 12
    assert lines[0].outstanding == Decimal("8884.88")
    assert lines[0].principal_paid == lines[0].interest_paid == lines[0].fee_paid == 0
    assert outstanding(lines) == Decimal("106618.53")
    assert not is_paid_off(lines)


def test_an_on_time_instalment_settles_its_line() -> None:
    # when
    allocation = pay(annuity_loan(), "8884.88", FIRST_DUE)

    # then
    assert allocation.applied == (
        Applied(1, fee=Decimal("0.00"), interest=Decimal("1000.00"), principal=Decimal("7884.88")),
    )
    assert (allocation.fee, allocation.interest, allocation.principal) == (
        Decimal("0.00"),
        Decimal("1000.00"),
        Decimal("7884.88"),
    )
    assert allocation.prepaid_principal == 0
    assert allocation.lines[0].settled
    assert allocation.lines[1:] == annuity_loan()[1:]


def test_a_partial_payment_goes_to_fee_then_interest_then_principal() -> None:
    # given: 50 000 at 8% with a 250.00 fee; the first month's interest is 333.33
    lines = loan("50000.00", "0.08", 6, fee="250.00")

    # when
    allocation = pay(lines, "1000.00", FIRST_DUE, rate="0.08")

    # then
    assert allocation.applied == (
        Applied(1, fee=Decimal("250.00"), interest=Decimal("333.33"), principal=Decimal("416.67")),
    )
    first = allocation.lines[0]
    assert first.outstanding_fee == first.outstanding_interest == 0
    assert first.outstanding_principal == lines[0].principal_due - Decimal("416.67")
    assert not first.settled


def test_a_small_payment_covers_part_of_the_fee_only() -> None:
    # given
    lines = loan("50000.00", "0.08", 6, fee="250.00")

    # when
    allocation = pay(lines, "100.00", FIRST_DUE, rate="0.08")

    # then
    assert allocation.fee == Decimal("100.00")
    assert allocation.interest == allocation.principal == 0
    assert allocation.lines[0].outstanding_fee == Decimal("150.00")


def test_a_late_payment_settles_the_oldest_instalment_first() -> None:
    # given: instalments of 31 January and 28 February are both overdue on 10 March
    lines = annuity_loan()

    # when
    allocation = pay(lines, "13884.88", date(2026, 3, 10))

    # then: 8 884.88 settles the first, 5 000.00 pays 921.15 interest then principal
    assert allocation.applied == (
        Applied(1, fee=Decimal("0.00"), interest=Decimal("1000.00"), principal=Decimal("7884.88")),
        Applied(2, fee=Decimal("0.00"), interest=Decimal("921.15"), principal=Decimal("4078.85")),
    )
    assert allocation.lines[0].settled
    assert allocation.lines[1].outstanding == Decimal("3884.88")
    assert allocation.prepaid_principal == 0
    assert allocation.lines[2:] == lines[2:]


def test_early_repayment_with_a_shorter_term_keeps_the_instalment() -> None:
    # given: the first instalment paid; 92 115.12 principal left over 11 months
    lines = pay(annuity_loan(), "8884.88", FIRST_DUE).lines

    # when: 30 000.00 more on 10 February leaves 62 115.12
    allocation = pay(lines, "30000.00", date(2026, 2, 10))

    # then: 62 115.12 at 1% a month needs 8 months at 8 117.84 (7 would take 9 232.06)
    after = allocation.lines
    assert allocation.prepaid_principal == Decimal("30000.00")
    assert allocation.applied == (
        Applied(2, fee=Decimal("0.00"), interest=Decimal("0.00"), principal=Decimal("30000.00")),
    )
    assert [line.sequence for line in after] == list(range(1, 10))
    assert after[-1].due_on == date(2026, 9, 30)
    assert {instalment(line) for line in after[1:-1]} == {Decimal("8117.84")}
    assert instalment(after[1]) <= instalment(lines[1])
    # the prepayment sits on the first line not yet due, whose interest now runs on 62 115.12
    assert after[1].principal_paid == Decimal("30000.00")
    assert after[1].principal_due == Decimal("30000.00") + Decimal("7496.69")
    assert after[1].interest_due == Decimal("621.15")
    assert after[2].interest_due == Decimal("546.18")
    assert sum(line.principal_due for line in after) == Decimal("100000.00")
    assert sum(line.outstanding_principal for line in after) == Decimal("62115.12")


def test_early_repayment_with_a_lower_instalment_keeps_the_maturity() -> None:
    # given
    lines = pay(annuity_loan(), "8884.88", FIRST_DUE).lines

    # when
    allocation = pay(
        lines, "30000.00", date(2026, 2, 10), option=EarlyRepaymentChoice.LOWER_INSTALMENT
    )

    # then: 62 115.12 over the same 11 months is 5 991.26 a month
    after = allocation.lines
    assert len(after) == 12
    assert [line.due_on for line in after] == [line.due_on for line in lines]
    assert {instalment(line) for line in after[1:-1]} == {Decimal("5991.26")}
    assert sum(line.principal_due for line in after) == Decimal("100000.00")
    assert sum(line.outstanding_principal for line in after) == Decimal("62115.12")


def test_a_second_early_repayment_measures_the_instalment_without_the_first() -> None:
    # given: prepaid 30 000.00 already, 8 instalments of 8 117.84 left
    paid = pay(annuity_loan(), "8884.88", FIRST_DUE).lines
    lines = pay(paid, "30000.00", date(2026, 2, 10)).lines

    # when
    after = pay(lines, "1000.00", date(2026, 2, 12)).lines

    # then: 61 115.12 still needs 8 months, now at 7 987.15
    assert len(after) == 9
    assert instalment(after[1]) == Decimal("7987.15")
    assert after[1].principal_paid == Decimal("31000.00")
    assert sum(line.principal_due for line in after) == Decimal("100000.00")


def test_rounding_never_raises_the_instalment_after_an_early_repayment() -> None:
    # given: 1 000 at 0.0135% over 27 months, 25 paid; 37.04 then 37.12 left to pay
    rate = "0.000135"
    lines = loan("1000.00", rate, 27)
    for line in lines[:25]:
        lines = pay(lines, str(line.outstanding), line.due_on, rate=rate).lines
    assert [instalment(line) for line in lines[25:]] == [Decimal("37.04"), Decimal("37.12")]

    # when: 0.07 prepaid, the 74.09 left would level out at 37.05 over two months
    for option in EarlyRepaymentChoice:
        after = pay(lines, "0.07", date(2028, 2, 19), rate=rate, option=option).lines

        # then: the instalment stays at 37.04 and the last month takes the rest
        assert [instalment(line) for line in after[25:]] == [Decimal("37.04"), Decimal("37.05")]


def test_equal_principal_shorter_term_keeps_the_principal_share() -> None:
    # given: 12 000 at 12% over 12 months, 1 000 principal a month, a 150.00 fee
    lines = loan("12000.00", "0.12", 12, RepaymentMethod.EQUAL_PRINCIPAL, fee="150.00")

    # when: 2 500.00 before anything is due
    allocation = pay(lines, "2500.00", date(2026, 1, 10), method=RepaymentMethod.EQUAL_PRINCIPAL)

    # then: 9 500 is nine months of 1 000 and a last one of 500, interest 1% of each balance
    after = allocation.lines
    assert [line.outstanding_principal for line in after] == [Decimal("1000.00")] * 9 + [
        Decimal("500.00")
    ]
    assert [line.interest_due for line in after[:3]] == [
        Decimal("95.00"),
        Decimal("85.00"),
        Decimal("75.00"),
    ]
    assert after[-1].interest_due == Decimal("5.00")
    assert after[0].fee_due == Decimal("150.00")
    assert after[0].principal_paid == Decimal("2500.00")
    assert allocation.fee == 0


def test_equal_principal_lower_instalment_never_raises_the_share() -> None:
    # given: 100.00 interest free over 7 months, 14.28 a month and 14.32 last; 4 paid
    equal = RepaymentMethod.EQUAL_PRINCIPAL
    lines = loan("100.00", "0", 7, equal)
    for line in lines[:4]:
        lines = pay(lines, str(line.outstanding), line.due_on, rate="0", method=equal).lines

    # when: 0.01 prepaid leaves 42.87, which would spread as 14.29 a month
    after = pay(
        lines,
        "0.01",
        date(2026, 5, 20),
        rate="0",
        method=equal,
        option=EarlyRepaymentChoice.LOWER_INSTALMENT,
    ).lines

    # then
    assert [line.outstanding_principal for line in after[4:]] == [
        Decimal("14.28"),
        Decimal("14.28"),
        Decimal("14.31"),
    ]


def test_interest_only_shorter_term_keeps_the_term() -> None:
    # given: 12 000 at 12%, interest only over 6 months
    lines = loan("12000.00", "0.12", 6, RepaymentMethod.INTEREST_ONLY)

    # when
    after = pay(lines, "2000.00", date(2026, 1, 10), method=RepaymentMethod.INTEREST_ONLY).lines

    # then
    assert len(after) == 6
    assert {line.interest_due for line in after} == {Decimal("100.00")}
    assert after[-1].principal_due == Decimal("10000.00")
    assert after[0].principal_due == after[0].principal_paid == Decimal("2000.00")


def test_the_payoff_amount_waives_interest_not_yet_due() -> None:
    # given: on 10 February the January instalment is due, the rest is not
    lines = annuity_loan()
    paid_on = date(2026, 2, 10)

    # when
    payoff = payoff_amount(lines, paid_on=paid_on)
    allocation = pay(lines, str(payoff), paid_on)

    # then: 100 000 principal and January's 1 000 interest, nothing more
    assert payoff == Decimal("101000.00")
    assert allocation.interest == Decimal("1000.00")
    assert allocation.principal == Decimal("100000.00")
    assert allocation.prepaid_principal == Decimal("92115.12")
    assert is_paid_off(allocation.lines)
    assert outstanding(allocation.lines) == 0
    assert all(line.interest_due == 0 for line in allocation.lines[1:])
    assert [a.sequence for a in allocation.applied] == list(range(1, 13))
    assert payoff_amount(allocation.lines, paid_on=paid_on) == 0


def test_paying_off_keeps_the_overdue_fee_and_waives_the_unearned_one() -> None:
    # given
    lines = loan("50000.00", "0.08", 6, fee="250.00")

    # when / then: the fee is charged with the first instalment only once it is due
    assert payoff_amount(lines, paid_on=date(2026, 1, 30)) == Decimal("50000.00")
    assert payoff_amount(lines, paid_on=FIRST_DUE) == Decimal("50583.33")
    after = pay(lines, "50000.00", date(2026, 1, 30), rate="0.08").lines
    assert is_paid_off(after)
    assert after[0].fee_due == 0


def test_an_overpayment_is_refused_with_the_payoff_amount() -> None:
    # given
    lines = annuity_loan()

    # when / then
    with pytest.raises(Overpayment, match=r"more than the 101000\.00 that pays the loan off"):
        pay(lines, "101000.01", date(2026, 2, 10))
    assert Overpayment.code == "OVERPAYMENT"


def test_a_loan_paid_off_takes_nothing_more() -> None:
    # given
    paid_on = date(2026, 2, 10)
    lines = pay(annuity_loan(), "101000.00", paid_on).lines

    # when / then
    with pytest.raises(Overpayment, match=r"more than the 0\.00 "):
        pay(lines, "0.01", paid_on)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0.00", "positive amount"),
        ("-10.00", "positive amount"),
        ("NaN", "positive amount"),
        ("Infinity", "positive amount"),
        ("10.001", "at most 2 decimal places"),
        ("1E-7", "at most 2 decimal places"),
    ],
)
def test_invalid_amounts_are_refused(amount: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        pay(annuity_loan(), amount, FIRST_DUE)


def test_amounts_written_with_fewer_or_more_zeros_are_accepted() -> None:
    # when
    short = pay(annuity_loan(), "8884.880", FIRST_DUE)
    whole = pay(annuity_loan(), "100", FIRST_DUE)

    # then
    assert short.principal == Decimal("7884.88")
    assert whole.interest == Decimal("100.00")
    assert str(whole.interest) == "100.00"


def test_lines_out_of_due_date_order_are_refused() -> None:
    # given
    lines = annuity_loan()
    muddled = (lines[0], replace(lines[1], due_on=lines[0].due_on), *lines[2:])

    # when / then
    with pytest.raises(ValueError, match="not in due date order"):
        pay(muddled, "10.00", FIRST_DUE)


def test_interest_paid_ahead_on_a_line_not_yet_due_cannot_be_rescheduled() -> None:
    # given: a stored line that this module would never write
    lines = annuity_loan()
    odd = (lines[0], replace(lines[1], interest_paid=Decimal("1.00")), *lines[2:])

    # when / then
    with pytest.raises(ValueError, match="paid interest or fees"):
        pay(odd, "10000.00", FIRST_DUE)
