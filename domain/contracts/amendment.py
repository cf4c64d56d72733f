"""A signed contract amended: the new schedule, exact to the cent. Pure functions.

Assumptions (the model of ``domain.lending.schedule``: monthly interest on the opening
balance, rounded half-up each month, each period's rate by the product's day count --
``annual_rate / 12`` under 30/360, the actual days from the previous due date (the
first: the payout) under ACT/365F and ACT/360):

- The instalments falling due before the effective date keep their amounts, paid or
  not: arrears stay arrears. The instalments due on or after it are rebuilt; none of
  them may hold paid interest or fees yet (an amendment never rewrites money taken).
- The rebuilt part starts on the first rebuilt instalment's due date, monthly, with the
  same sequence numbering. Principal prepaid on those instalments stays recorded on the
  first rebuilt one (as ``domain.lending.repayment`` does), so principal due always adds
  up to the principal lent plus what amendments added.
- A top-up adds its amount to the balance from the effective date. A payment holiday of
  ``h`` months puts ``h`` instalments of nothing first; their interest is either
  capitalised (added to the balance month by month, so it bears interest) or deferred
  (payable with the last instalment, without interest). The remaining term then runs
  after the holiday, longer by any extension. A new instalment (annuities only) sets the
  level payment and the term follows from it: the fewest months whose level payment is
  within it. The last instalment always absorbs the rounding.
- Fees not yet due move to the first instalment after any holiday.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, localcontext

from domain.lending.repayment import Line
from domain.lending.schedule import (
    MAX_TERM_MONTHS,
    PRECISION,
    ZERO,
    add_months,
    amortise,
    annuity_payment,
    cents,
    period_rates,
    principal_parts,
)
from domain.products.models import DayCount, RepaymentMethod
from kernel.errors import InvalidInput

MAX_HOLIDAY_MONTHS = 12
MAX_TOP_UP = Decimal("1e13")


class HolidayInterest(enum.Enum):
    """What becomes of the interest of a payment holiday's months."""

    CAPITALISED = "capitalised"
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class Change:
    """What an amendment changes, from ``effective_on``; at least one change is asked."""

    effective_on: date
    annual_rate: Decimal | None = None
    extra_months: int = 0
    holiday_months: int = 0
    holiday_interest: HolidayInterest = HolidayInterest.CAPITALISED
    instalment: Decimal | None = None
    top_up: Decimal = ZERO

    @property
    def kinds(self) -> tuple[str, ...]:
        found = []
        if self.annual_rate is not None:
            found.append("rate_change")
        if self.extra_months:
            found.append("term_extension")
        if self.holiday_months:
            found.append("payment_holiday")
        if self.instalment is not None:
            found.append("instalment_change")
        if self.top_up:
            found.append("top_up")
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Amended:
    """The whole schedule after the amendment, and what it added to the principal."""

    lines: tuple[Line, ...]
    annual_rate: Decimal
    top_up: Decimal
    capitalised_interest: Decimal
    deferred_interest: Decimal
    first_rebuilt: int  # the sequence of the first instalment rebuilt

    @property
    def principal_added(self) -> Decimal:
        return self.top_up + self.capitalised_interest


def check(change: Change, *, method: RepaymentMethod) -> None:
    """Refuse a change that is not one, or whose parts contradict each other."""
    problems: list[tuple[str, str]] = []
    if not change.kinds:
        problems.append(
            ("annualRate", "say what changes: rate, extension, holiday, instalment or top-up")
        )
    rate = change.annual_rate
    if rate is not None and (not rate.is_finite() or not Decimal(0) <= rate < 1):
        problems.append(("annualRate", f"at least 0 and below 1, got {rate}"))
    if not 0 <= change.extra_months <= MAX_TERM_MONTHS:
        problems.append(("extraMonths", f"0 to {MAX_TERM_MONTHS}"))
    if not 0 <= change.holiday_months <= MAX_HOLIDAY_MONTHS:
        problems.append(("paymentHoliday.months", f"0 to {MAX_HOLIDAY_MONTHS}"))
    instalment = change.instalment
    if instalment is not None:
        if method is not RepaymentMethod.ANNUITY:
            problems.append(("newInstalment", "only an annuity has a level instalment to change"))
        elif not instalment.is_finite() or instalment <= 0 or instalment != cents(instalment):
            problems.append(("newInstalment", "a positive amount in cents"))
        if change.extra_months:
            problems.append(
                ("newInstalment", "the instalment sets the term: leave extraMonths out")
            )
    top_up = change.top_up
    if not top_up.is_finite() or not ZERO <= top_up < MAX_TOP_UP or top_up != cents(top_up):
        problems.append(("topUpAmount", "a non-negative amount in cents"))
    if problems:
        raise InvalidInput.of_problems(problems)


def amend(
    lines: Sequence[Line],
    *,
    annual_rate: Decimal,
    method: RepaymentMethod,
    change: Change,
    day_count: DayCount = DayCount.THIRTY_360,
    disbursed_on: date | None = None,
) -> Amended:
    """The schedule ``lines`` becomes under ``change``; see the module docstring.

    ``disbursed_on`` starts the first period when the first instalment is rebuilt (one
    month before it when not given)."""
    check(change, method=method)
    ordered = sorted(lines, key=lambda line: line.sequence)
    kept = [line for line in ordered if line.due_on < change.effective_on]
    rebuilt = [line for line in ordered if line.due_on >= change.effective_on]
    if not rebuilt:
        raise InvalidInput(
            "effectiveOn: no instalment falls due on or after it; nothing is left to amend",
            field="effectiveOn",
        )
    if any(line.interest_paid or line.fee_paid for line in rebuilt):
        raise InvalidInput(
            "effectiveOn: an instalment due after it is already partly paid; "
            "choose a later effective date",
            field="effectiveOn",
        )
    prepaid = sum((line.principal_paid for line in rebuilt), ZERO)
    fees = sum((line.fee_due for line in rebuilt), ZERO)
    balance = sum((line.outstanding_principal for line in rebuilt), ZERO) + change.top_up
    if balance <= 0:
        raise InvalidInput("the principal is repaid: nothing is left to amend")
    rate = annual_rate if change.annual_rate is None else change.annual_rate
    with localcontext() as ctx:
        ctx.prec = PRECISION
        monthly_rate = rate / 12

    anchor = rebuilt[0].due_on
    begin = kept[-1].due_on if kept else disbursed_on

    def rates(months: int) -> Sequence[Decimal]:
        """The rates of the first ``months`` new periods (holiday months first)."""
        dues = [add_months(anchor, i) for i in range(months)]
        found = period_rates(rate, dues, start_on=begin, day_count=day_count)
        return [found] * months if isinstance(found, Decimal) else found

    holiday = change.holiday_months
    parts: list[tuple[Decimal, Decimal]] = []
    capitalised = deferred = ZERO
    for month_rate in rates(holiday):
        interest = cents(balance * month_rate)
        if change.holiday_interest is HolidayInterest.CAPITALISED:
            balance += interest
            capitalised += interest
        else:
            deferred += interest
        parts.append((ZERO, ZERO))
    if change.instalment is not None:
        term = _level_term(balance, monthly_rate, change.instalment)
        level = amortise(
            balance, rates(holiday + term)[holiday:], term, change.instalment, strict=False
        )
        assert level is not None  # strict=False always answers
        parts.extend(level)
    else:
        months = len(rebuilt) + change.extra_months
        if holiday + months > MAX_TERM_MONTHS:
            raise InvalidInput(f"the amended term would pass {MAX_TERM_MONTHS} months")
        parts.extend(
            principal_parts(
                principal=balance,
                monthly_rate=rates(holiday + months)[holiday:],
                nominal_rate=monthly_rate,
                term_months=months,
                method=method,
            )
        )
    if len(parts) > MAX_TERM_MONTHS:
        raise InvalidInput(f"the amended term would pass {MAX_TERM_MONTHS} months")

    first = rebuilt[0].sequence
    new = [
        Line(
            sequence=first + i,
            due_on=add_months(anchor, i),
            principal_due=principal,
            interest_due=interest,
            fee_due=fees if i == change.holiday_months else ZERO,
            principal_paid=ZERO,
            interest_paid=ZERO,
            fee_paid=ZERO,
        )
        for i, (principal, interest) in enumerate(parts)
    ]
    new[0] = replace(new[0], principal_due=new[0].principal_due + prepaid, principal_paid=prepaid)
    new[-1] = replace(new[-1], interest_due=new[-1].interest_due + deferred)
    return Amended(
        lines=(*kept, *new),
        annual_rate=rate,
        top_up=change.top_up,
        capitalised_interest=capitalised,
        deferred_interest=deferred,
        first_rebuilt=first,
    )


def _level_term(balance: Decimal, monthly_rate: Decimal, instalment: Decimal) -> int:
    """The fewest months whose level payment (at the nominal rate) fits ``instalment``."""

    def fits(term: int) -> bool:
        payment = annuity_payment(principal=balance, monthly_rate=monthly_rate, term_months=term)
        return cents(payment) <= instalment

    if not fits(MAX_TERM_MONTHS) or instalment <= cents(balance * monthly_rate):
        raise InvalidInput(
            f"instalment: {instalment} does not repay {balance} within {MAX_TERM_MONTHS} months",
            field="newInstalment",
        )
    low, high = 1, MAX_TERM_MONTHS
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low
