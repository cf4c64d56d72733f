"""Amended schedules: worked examples, refusals, and properties over random sequences of
payments and amendments (principal conserved, totals to the cent)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.contracts.amendment import Change, HolidayInterest, amend
from domain.lending.models import EarlyRepaymentChoice
from domain.lending.repayment import Line, allocate, lines_from_schedule, payoff_amount
from domain.lending.schedule import add_months, build_schedule
from domain.products.models import RepaymentMethod
from kernel.errors import InvalidInput

START = date(2026, 1, 15)
D = Decimal


def _lines(
    principal: str = "12000.00",
    rate: str = "0.120000",
    months: int = 12,
    method: RepaymentMethod = RepaymentMethod.ANNUITY,
    fee: str = "0.00",
) -> tuple[Line, ...]:
    return lines_from_schedule(
        build_schedule(
            principal=D(principal),
            annual_rate=D(rate),
            term_months=months,
            method=method,
            first_due_on=add_months(START, 1),
            fee=D(fee),
        )
    )


def _principal(lines: tuple[Line, ...]) -> Decimal:
    return sum((line.principal_due for line in lines), D(0))


def test_a_rate_cut_rebuilds_only_the_instalments_from_the_effective_date() -> None:
    # given: 12 monthly annuity instalments of 12,000.00 at 12 %
    lines = _lines()
    effective = lines[3].due_on  # the 4th instalment onwards

    # when: the rate drops to 6 % from the 4th instalment
    amended = amend(
        lines,
        annual_rate=D("0.12"),
        method=RepaymentMethod.ANNUITY,
        change=Change(effective_on=effective, annual_rate=D("0.06")),
    )

    # then: the first three are untouched; the rest is a 9-month annuity at 0.5 % a month
    assert amended.lines[:3] == lines[:3]
    balance = sum((line.principal_due for line in lines[3:]), D(0))
    expected = build_schedule(
        principal=balance,
        annual_rate=D("0.06"),
        term_months=9,
        method=RepaymentMethod.ANNUITY,
        first_due_on=effective,
    )
    assert [(x.principal_due, x.interest_due) for x in amended.lines[3:]] == [
        (row.principal, row.interest) for row in expected
    ]
    assert [x.due_on for x in amended.lines[3:]] == [row.due_on for row in expected]
    assert _principal(amended.lines) == D("12000.00")
    assert amended.principal_added == 0


def test_a_capitalised_holiday_adds_its_interest_to_the_principal() -> None:
    # given: 12,000.00 at 12 % over 12 months, nothing paid
    lines = _lines()

    # when: three months' holiday from the first instalment, interest capitalised
    amended = amend(
        lines,
        annual_rate=D("0.12"),
        method=RepaymentMethod.ANNUITY,
        change=Change(
            effective_on=lines[0].due_on,
            holiday_months=3,
            holiday_interest=HolidayInterest.CAPITALISED,
        ),
    )

    # then: 1 % a month compounds: 120.00, 121.20, 122.41 -> 363.61 added; 15 lines
    assert amended.capitalised_interest == D("363.61")
    assert len(amended.lines) == 15
    assert all(line.principal_due == line.interest_due == 0 for line in amended.lines[:3])
    assert _principal(amended.lines) == D("12363.61")
    assert amended.lines[3].interest_due == D("123.64")  # 1 % of 12,363.61


def test_a_deferred_holiday_bills_its_interest_with_the_last_instalment() -> None:
    lines = _lines()
    amended = amend(
        lines,
        annual_rate=D("0.12"),
        method=RepaymentMethod.ANNUITY,
        change=Change(
            effective_on=lines[0].due_on,
            holiday_months=2,
            holiday_interest=HolidayInterest.DEFERRED,
        ),
    )
    plain = build_schedule(
        principal=D("12000.00"),
        annual_rate=D("0.12"),
        term_months=12,
        method=RepaymentMethod.ANNUITY,
        first_due_on=add_months(lines[0].due_on, 2),
    )
    assert amended.deferred_interest == D("240.00")
    assert _principal(amended.lines) == D("12000.00")
    assert amended.lines[-1].interest_due == plain[-1].interest + D("240.00")


def test_a_new_instalment_sets_the_term() -> None:
    # given: 12,000.00 at 12 % over 12 months (1,066.19 a month)
    lines = _lines()
    # when: the borrower can only pay 600.00 a month
    amended = amend(
        lines,
        annual_rate=D("0.12"),
        method=RepaymentMethod.ANNUITY,
        change=Change(effective_on=lines[0].due_on, instalment=D("600.00")),
    )
    # then: 23 months (the 22-month level payment is 610.36, the 23-month 586.63), level
    # at 600.00, the last smaller
    totals = [line.principal_due + line.interest_due for line in amended.lines]
    assert len(totals) == 23
    assert set(totals[:-1]) == {D("600.00")}
    assert totals[-1] <= D("600.00")
    assert _principal(amended.lines) == D("12000.00")


def test_a_top_up_and_an_extension_together() -> None:
    lines = _lines()
    amended = amend(
        lines,
        annual_rate=D("0.12"),
        method=RepaymentMethod.ANNUITY,
        change=Change(effective_on=lines[6].due_on, top_up=D("5000.00"), extra_months=6),
    )
    assert len(amended.lines) == 18
    assert _principal(amended.lines) == D("17000.00")
    assert amended.top_up == D("5000.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (Change(effective_on=date(2026, 2, 15)), "input.annualRate"),
        (Change(effective_on=date(2026, 2, 15), annual_rate=D("1.2")), "input.annualRate"),
        (Change(effective_on=date(2026, 2, 15), holiday_months=13), "input.paymentHoliday.months"),
        (Change(effective_on=date(2026, 2, 15), top_up=D("-1")), "input.topUpAmount"),
        (Change(effective_on=date(2026, 2, 15), top_up=D("0.001")), "input.topUpAmount"),
        (
            Change(effective_on=date(2026, 2, 15), instalment=D("500"), extra_months=2),
            "input.newInstalment",
        ),
        (Change(effective_on=date(2026, 2, 15), instalment=D("100.00")), "input.newInstalment"),
        (Change(effective_on=date(2027, 6, 1), extra_months=2), "input.effectiveOn"),
    ],
)
def test_refusals_name_their_field(change: Change, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        amend(_lines(), annual_rate=D("0.12"), method=RepaymentMethod.ANNUITY, change=change)
    assert f"input.{refused.value.field}" == field


def test_an_instalment_change_is_for_annuities_only() -> None:
    lines = _lines(method=RepaymentMethod.EQUAL_PRINCIPAL)
    with pytest.raises(InvalidInput) as refused:
        amend(
            lines,
            annual_rate=D("0.12"),
            method=RepaymentMethod.EQUAL_PRINCIPAL,
            change=Change(effective_on=lines[0].due_on, instalment=D("900.00")),
        )
    assert refused.value.field == "newInstalment"


def test_paid_interest_after_the_effective_date_is_never_rewritten() -> None:
    # given: the second instalment's interest paid (it fell due)
    lines = _lines()
    after = allocate(
        lines,
        lines[0].principal_due + lines[0].interest_due + D("10.00"),
        paid_on=lines[1].due_on,
        annual_rate=D("0.12"),
        method=RepaymentMethod.ANNUITY,
    ).lines
    # when/then: an amendment effective from the second instalment is refused
    with pytest.raises(InvalidInput) as refused:
        amend(
            after,
            annual_rate=D("0.12"),
            method=RepaymentMethod.ANNUITY,
            change=Change(effective_on=lines[1].due_on, extra_months=3),
        )
    assert refused.value.field == "effectiveOn"


# ------------------------------------------------------------------ properties


METHODS = st.sampled_from(list(RepaymentMethod))
money = st.decimals(min_value=D("100.00"), max_value=D("2000000.00"), places=2)
rates = st.decimals(min_value=D("0"), max_value=D("0.36"), places=4)


@st.composite
def changes(draw: st.DrawFn, method: RepaymentMethod) -> dict[str, object]:
    kind = draw(st.sampled_from(["rate", "extend", "holiday", "instalment", "top_up"]))
    found: dict[str, object] = {}
    if kind == "rate":
        found["annual_rate"] = draw(rates)
    elif kind == "extend":
        found["extra_months"] = draw(st.integers(1, 24))
    elif kind == "holiday":
        found["holiday_months"] = draw(st.integers(1, 6))
        found["holiday_interest"] = draw(st.sampled_from(list(HolidayInterest)))
    elif kind == "instalment" and method is RepaymentMethod.ANNUITY:
        found["instalment"] = "draw"
    else:
        found["top_up"] = draw(st.decimals(min_value=D("0.01"), max_value=D("50000"), places=2))
    return found


def _always(lines: tuple[Line, ...], principal: Decimal) -> None:
    """Principal conserved, every figure in cents and never overpaid, dates in order."""
    assert _principal(lines) == principal
    for line in lines:
        for value in (line.principal_due, line.interest_due, line.fee_due):
            assert value >= 0
            assert value == value.quantize(D("0.01"))
        assert line.principal_paid <= line.principal_due
        assert line.interest_paid <= line.interest_due
    dues = [line.due_on for line in lines]
    assert dues == sorted(set(dues))
    assert [line.sequence for line in lines] == list(range(1, len(lines) + 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    principal=money,
    rate=rates,
    months=st.integers(2, 48),
    method=METHODS,
    data=st.data(),
)
def test_random_payments_and_amendments_keep_principal_and_cents(
    principal: Decimal, rate: Decimal, months: int, method: RepaymentMethod, data: st.DataObject
) -> None:
    # given: a fresh schedule
    lines = _lines(str(principal), str(rate), months, method, fee="25.00")
    lent = principal
    added = D("0.00")
    day = START
    for _ in range(data.draw(st.integers(1, 6), label="events")):
        unsettled = [line for line in lines if not line.settled]
        if not unsettled:
            break
        if data.draw(st.booleans(), label="pay"):
            # when: a payment, due or early, up to the payoff
            day = max(day, data.draw(st.sampled_from([line.due_on for line in unsettled])))
            payoff = payoff_amount(lines, paid_on=day)
            if payoff <= 0:
                continue
            amount = data.draw(
                st.decimals(min_value=D("0.01"), max_value=payoff, places=2), label="amount"
            )
            option = data.draw(st.sampled_from(list(EarlyRepaymentChoice)))
            lines = allocate(
                lines, amount, paid_on=day, annual_rate=rate, method=method, option=option
            ).lines
            _always(lines, lent + added)
            continue
        # when: an amendment from a day after the last payment
        future = [
            line for line in lines if line.due_on > day and not line.interest_paid + line.fee_paid
        ]
        if not future or all(line.outstanding_principal == 0 for line in future):
            continue
        effective = data.draw(st.sampled_from([line.due_on for line in future]), label="from")
        fields = data.draw(changes(method), label="change")
        if fields.get("instalment") == "draw":
            balance = sum(
                (line.outstanding_principal for line in lines if line.due_on >= effective), D(0)
            )
            fields["instalment"] = (balance / 6).quantize(D("0.01")) + D("1.00")
        change = Change(effective_on=effective, **fields)  # type: ignore[arg-type]
        try:
            amended = amend(lines, annual_rate=rate, method=method, change=change)
        except InvalidInput:
            continue  # a refused change changes nothing
        before = lines
        lines = amended.lines
        rate = amended.annual_rate
        added += amended.principal_added

        # then: the part before the effective date is untouched
        assert [x for x in before if x.due_on < effective] == [
            x for x in lines if x.due_on < effective
        ]
        # then: the future holds the balance, the top-up and capitalised interest
        assert (
            sum((x.outstanding_principal for x in lines), D(0))
            == sum((x.outstanding_principal for x in before), D(0)) + amended.principal_added
        )
        _always(lines, lent + added)
