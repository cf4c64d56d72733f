"""Payoff quotes and acceleration as pure functions, over random payment histories."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contracts.termination import accelerate_lines, quote
from domain.lending.repayment import allocate, lines_from_schedule, payoff_amount
from domain.lending.schedule import add_months, build_schedule
from domain.products.models import RepaymentMethod
from tests.domain.contracts.test_amendment import START

D = Decimal


@settings(max_examples=120, deadline=None)
@given(
    principal=st.decimals(min_value=D("100.00"), max_value=D("900000.00"), places=2),
    rate=st.decimals(min_value=D("0"), max_value=D("0.30"), places=4),
    months=st.integers(2, 36),
    method=st.sampled_from(list(RepaymentMethod)),
    data=st.data(),
)
def test_acceleration_keeps_the_payoff_of_its_day_and_the_principal(
    principal: Decimal, rate: Decimal, months: int, method: RepaymentMethod, data: st.DataObject
) -> None:
    # given: a schedule, perhaps a payment on some due date
    lines = lines_from_schedule(
        build_schedule(
            principal=principal,
            annual_rate=rate,
            term_months=months,
            method=method,
            first_due_on=add_months(START, 1),
            fee=D("10.00"),
        )
    )
    paid_on = data.draw(st.sampled_from([line.due_on for line in lines[:-1]]))
    if data.draw(st.booleans()):
        amount = data.draw(
            st.decimals(
                min_value=D("0.01"),
                max_value=payoff_amount(lines, paid_on=paid_on) - D("0.01"),
                places=2,
            )
        )
        lines = allocate(lines, amount, paid_on=paid_on, annual_rate=rate, method=method).lines
    day = data.draw(st.sampled_from([paid_on, paid_on + (lines[-1].due_on - paid_on) / 2]))

    # when: the balance is called due that day
    called = accelerate_lines(lines, on=day)

    # then: what settles the loan that day is what it was; principal conserved; nothing
    # falls due after the day; the quote by kind adds up to the payoff
    assert payoff_amount(called, paid_on=day) == payoff_amount(lines, paid_on=day)
    assert sum((x.principal_due for x in called), D(0)) == principal
    assert sum((x.outstanding_principal for x in called), D(0)) == sum(
        (x.outstanding_principal for x in lines), D(0)
    )
    assert called[-1].due_on == day
    assert [x for x in called if x.due_on < day] == [x for x in lines if x.due_on < day]
    found = quote(called, as_of=day)
    assert found.total == payoff_amount(called, paid_on=day)
    assert found.principal == sum((x.outstanding_principal for x in called), D(0))
