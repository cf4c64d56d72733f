from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.lending.repayment import (
    Allocation,
    EarlyRepaymentChoice,
    Line,
    allocate,
    is_paid_off,
    lines_from_schedule,
    outstanding,
    payoff_amount,
)
from domain.lending.schedule import CENT, build_schedule
from domain.products.models import RepaymentMethod

FIRST_DUE = date(2026, 1, 31)

principals = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000000.00"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.999999"), places=6)
realistic_principals = st.decimals(
    min_value=Decimal("1000.00"), max_value=Decimal("5000000.00"), places=2
)
realistic_rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.36"), places=6)
terms = st.integers(min_value=1, max_value=60)
fees = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("1000.00"), places=2)
methods = st.sampled_from(RepaymentMethod)
options = st.sampled_from(EarlyRepaymentChoice)
# Days from one repayment to the next: the same day, within a month, or months late.
gaps = st.integers(min_value=0, max_value=95)


def fresh(
    principal: Decimal, rate: Decimal, term: int, method: RepaymentMethod, fee: Decimal
) -> tuple[Line, ...]:
    return lines_from_schedule(
        build_schedule(
            principal=principal,
            annual_rate=rate,
            term_months=term,
            method=method,
            first_due_on=FIRST_DUE,
            fee=fee,
        )
    )


def total(lines: tuple[Line, ...], field: str) -> Decimal:
    return sum((getattr(line, field) for line in lines), Decimal(0))


def check_step(
    before: tuple[Line, ...],
    allocation: Allocation,
    amount: Decimal,
    *,
    paid_on: date,
    principal: Decimal,
) -> None:
    after = allocation.lines
    assert allocation.fee + allocation.interest + allocation.principal == amount
    assert sum((a.fee for a in allocation.applied), Decimal(0)) == allocation.fee
    assert sum((a.interest for a in allocation.applied), Decimal(0)) == allocation.interest
    assert sum((a.principal for a in allocation.applied), Decimal(0)) == allocation.principal
    assert 0 <= allocation.prepaid_principal <= allocation.principal

    # Every cent allocated lands on a line as paid.
    assert total(after, "fee_paid") == total(before, "fee_paid") + allocation.fee
    assert total(after, "interest_paid") == total(before, "interest_paid") + allocation.interest
    assert total(after, "principal_paid") == total(before, "principal_paid") + allocation.principal
    assert total(after, "principal_due") == principal
    assert (
        total(after, "outstanding_principal")
        == total(before, "outstanding_principal") - allocation.principal
    )
    assert payoff_amount(after, paid_on=paid_on) == payoff_amount(before, paid_on=paid_on) - amount

    assert [line.sequence for line in after] == list(range(1, len(after) + 1))
    assert len(after) <= len(before)
    assert all(a.due_on < b.due_on for a, b in itertools.pairwise(after))
    for line in after:
        for due, paid in (
            (line.principal_due, line.principal_paid),
            (line.interest_due, line.interest_paid),
            (line.fee_due, line.fee_paid),
        ):
            assert 0 <= paid <= due
            assert due.as_tuple().exponent == paid.as_tuple().exponent == -2

    by_sequence = {line.sequence: line for line in before}
    for line in after:
        old = by_sequence[line.sequence]
        assert line.due_on == old.due_on
        if line.due_on <= paid_on:
            # Nothing owed on a line already due is ever waived or rescheduled.
            assert (line.principal_due, line.interest_due, line.fee_due) == (
                old.principal_due,
                old.interest_due,
                old.fee_due,
            )
    after_by_sequence = {line.sequence: line for line in after}
    for applied in allocation.applied:
        line, old = after_by_sequence[applied.sequence], by_sequence[applied.sequence]
        assert line.fee_paid - old.fee_paid == applied.fee
        assert line.interest_paid - old.interest_paid == applied.interest
        assert line.principal_paid - old.principal_paid == applied.principal


@settings(max_examples=120, deadline=None)
@given(
    principal=principals,
    rate=rates,
    term=terms,
    method=methods,
    option=options,
    fee=fees,
    data=st.data(),
)
def test_a_sequence_of_repayments_never_loses_or_invents_a_cent(
    principal: Decimal,
    rate: Decimal,
    term: int,
    method: RepaymentMethod,
    option: EarlyRepaymentChoice,
    fee: Decimal,
    data: st.DataObject,
) -> None:
    # given
    lines = fresh(principal, rate, term, method, fee)
    paid_on = FIRST_DUE - timedelta(days=30)
    received = fee_part = interest_part = principal_part = Decimal("0.00")

    # when / then
    for _ in range(data.draw(st.integers(min_value=0, max_value=6), label="repayments")):
        paid_on += timedelta(days=data.draw(gaps, label="gap"))
        payoff = payoff_amount(lines, paid_on=paid_on)
        if payoff == 0:
            break
        cents = data.draw(st.integers(min_value=1, max_value=int(payoff / CENT)), label="cents")
        amount = Decimal(cents) * CENT
        allocation = allocate(
            lines, amount, paid_on=paid_on, annual_rate=rate, method=method, option=option
        )
        check_step(lines, allocation, amount, paid_on=paid_on, principal=principal)
        lines = allocation.lines
        received += amount
        fee_part += allocation.fee
        interest_part += allocation.interest
        principal_part += allocation.principal
        assert fee_part + interest_part + principal_part == received
        assert total(lines, "principal_paid") == principal_part
        assert total(lines, "interest_paid") == interest_part
        assert total(lines, "fee_paid") == fee_part

    # then: the payoff amount settles the loan
    paid_on += timedelta(days=data.draw(gaps, label="gap"))
    payoff = payoff_amount(lines, paid_on=paid_on)
    if payoff:
        allocation = allocate(
            lines, payoff, paid_on=paid_on, annual_rate=rate, method=method, option=option
        )
        check_step(lines, allocation, payoff, paid_on=paid_on, principal=principal)
        lines = allocation.lines
        principal_part += allocation.principal
    assert is_paid_off(lines)
    assert outstanding(lines) == 0
    assert principal_part == principal


@settings(max_examples=80, deadline=None)
@given(
    principal=realistic_principals,
    rate=realistic_rates,
    term=st.integers(min_value=2, max_value=120),
    method=methods,
    paid_months=st.integers(min_value=0, max_value=119),
    share=st.integers(min_value=1, max_value=999),
)
def test_early_repayment_lowers_the_instalment_or_shortens_the_term(
    principal: Decimal,
    rate: Decimal,
    term: int,
    method: RepaymentMethod,
    paid_months: int,
    share: int,
) -> None:
    # given: instalments paid on time for a while, then part of the rest prepaid mid-month
    lines = fresh(principal, rate, term, method, Decimal("0.00"))
    paid_months = min(paid_months, term - 1)
    for line in (line for line in lines[:paid_months] if not line.settled):
        lines = allocate(
            lines, line.outstanding, paid_on=line.due_on, annual_rate=rate, method=method
        ).lines
    paid_on = lines[paid_months].due_on - timedelta(days=10)
    prepaid = (payoff_amount(lines, paid_on=paid_on) * share / 1000).quantize(CENT)
    before = lines[paid_months]

    # when
    shorter, lower = (
        allocate(
            lines, prepaid, paid_on=paid_on, annual_rate=rate, method=method, option=option
        ).lines
        for option in (EarlyRepaymentChoice.SHORTER_TERM, EarlyRepaymentChoice.LOWER_INSTALMENT)
    )

    # then
    assert len(lower) == len(lines)
    assert len(shorter) <= len(lines)
    for after in (shorter, lower):
        first = after[paid_months]
        assert first.principal_paid == prepaid
        assert first.interest_due <= before.interest_due
        assert first.outstanding_principal + first.interest_due <= before.outstanding
    if method is RepaymentMethod.INTEREST_ONLY:
        assert shorter == lower
