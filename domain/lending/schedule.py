"""Repayment schedules: pure functions, exact to the cent.

Interest is charged each period on the opening balance and is rounded half-up to the
cent. The last instalment takes whatever principal is left, so the principal column
always adds up to the amount lent.

The product's day count (``domain.lending.daycount``) decides a period's rate: under
30/360 every monthly period is 30 days, so ``annual_rate / 12`` (the only rule before
day counts existed); under ACT/365F and ACT/360 a period's rate is ``annual_rate`` x the
actual days from the previous due date (the first: from ``start_on``, the payout) over
365 or 360. An annuity's level payment is the one at the nominal ``annual_rate / 12``;
with actual days the interest varies a little from month to month, so the principal
does too and the last instalment settles the rest. Schedules rebuilt later (a partial
prepayment, an amendment) take their periods' rates from the same ``period_rates``, each
period counted from the previous due date.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from domain.lending.daycount import year_fraction
from domain.products.models import DayCount, RepaymentMethod
from kernel.errors import InvalidInput

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_TERM_MONTHS = 600
# (1 + r)^600 at r < 1/12 stays below 1e21; 50 digits leave ample room for the quotient.
PRECISION = 50


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    sequence: int
    due_on: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    opening_balance: Decimal
    closing_balance: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fee


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it is shorter."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def cents(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return value.quantize(CENT, rounding=rounding)


def _validate(principal: Decimal, annual_rate: Decimal, term_months: int, fee: Decimal) -> None:
    if not principal.is_finite() or principal <= 0:
        raise InvalidInput(f"principal must be a positive amount, got {principal}")
    if principal != principal.quantize(CENT):
        raise InvalidInput(f"principal must have at most 2 decimal places, got {principal}")
    if not annual_rate.is_finite() or not Decimal(0) <= annual_rate < 1:
        raise InvalidInput(f"annual rate must be at least 0 and below 1, got {annual_rate}")
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise InvalidInput(
            f"term must be between 1 and {MAX_TERM_MONTHS} months, got {term_months}"
        )
    if not fee.is_finite() or fee < 0 or fee != fee.quantize(CENT):
        raise InvalidInput(f"fee must be a non-negative amount in cents, got {fee}")


def annuity_payment(*, principal: Decimal, monthly_rate: Decimal, term_months: int) -> Decimal:
    """The exact level payment ``P r / (1 - (1 + r)^-n)``, unrounded."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if monthly_rate == 0:
            return principal / term_months
        return principal * monthly_rate / (1 - (1 + monthly_rate) ** -term_months)


Rates = Decimal | Sequence[Decimal]


def _rate(rates: Rates, month: int) -> Decimal:
    """The rate of the ``month``-th period (1-based): one for all, or one per period."""
    return rates if isinstance(rates, Decimal) else rates[month - 1]


def principal_parts(
    *,
    principal: Decimal,
    monthly_rate: Rates,
    nominal_rate: Decimal,
    term_months: int,
    method: RepaymentMethod,
) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) per month; the last month settles the balance."""
    if method is RepaymentMethod.ANNUITY:
        exact = annuity_payment(
            principal=principal, monthly_rate=nominal_rate, term_months=term_months
        )
        parts = amortise(principal, monthly_rate, term_months, cents(exact), strict=True)
        if parts is None:
            # Rounding the payment up would repay the loan early (tiny principals, extreme
            # rates): round it down instead so the last instalment absorbs the remainder.
            parts = amortise(
                principal, monthly_rate, term_months, cents(exact, ROUND_DOWN), strict=False
            )
        assert parts is not None
        return parts
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        # Rounded down so the first n-1 parts can never exceed the principal.
        share = cents(principal / term_months, ROUND_DOWN)
        return fixed_principal(principal, monthly_rate, term_months, share)
    if method is RepaymentMethod.INTEREST_ONLY:
        return fixed_principal(principal, monthly_rate, term_months, ZERO)
    raise InvalidInput(f"unknown repayment method {method!r}")


def amortise(
    principal: Decimal,
    monthly_rate: Rates,
    term_months: int,
    payment: Decimal,
    *,
    strict: bool,
) -> list[tuple[Decimal, Decimal]] | None:
    """Level payments; ``None`` when ``strict`` and the balance would run out early."""
    balance = principal
    parts: list[tuple[Decimal, Decimal]] = []
    for month in range(1, term_months + 1):
        interest = cents(balance * _rate(monthly_rate, month))
        if month == term_months:
            parts.append((balance, interest))
            break
        # Where the payment does not cover the interest the balance is simply carried:
        # a schedule never amortises negatively.
        part = max(payment - interest, ZERO)
        if part >= balance:
            if strict:
                return None
            part = balance
        parts.append((part, interest))
        balance -= part
    return parts


def fixed_principal(
    principal: Decimal, monthly_rate: Rates, term_months: int, share: Decimal
) -> list[tuple[Decimal, Decimal]]:
    balance = principal
    parts: list[tuple[Decimal, Decimal]] = []
    for month in range(1, term_months + 1):
        interest = cents(balance * _rate(monthly_rate, month))
        part = balance if month == term_months else share
        parts.append((part, interest))
        balance -= part
    return parts


def period_rates(
    annual_rate: Decimal,
    due_dates: Sequence[date],
    *,
    start_on: date | None,
    day_count: DayCount,
) -> Rates:
    """Each period's rate: ``annual_rate / 12`` for all under 30/360, else ``annual_rate``
    x the year fraction from the previous due date (the first: from ``start_on``, one
    month before the first due date when not given) to the period's own.

    Shared by the first schedule and every rebuilt one (a prepayment, an amendment), so a
    schedule's interest follows the product's day count however it came to be."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if day_count is DayCount.THIRTY_360:
            return annual_rate / 12
        if not due_dates:
            return []
        starts = [start_on or add_months(due_dates[0], -1), *due_dates[:-1]]
        return [
            annual_rate * year_fraction(begin, due, day_count)
            for begin, due in zip(starts, due_dates, strict=True)
        ]


def build_schedule(
    *,
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    method: RepaymentMethod,
    first_due_on: date,
    fee: Decimal = ZERO,
    day_count: DayCount = DayCount.THIRTY_360,
    start_on: date | None = None,
) -> list[ScheduledInstallment]:
    """Monthly instalments from ``first_due_on``; ``fee`` is charged with the first.

    ``start_on`` (the payout; one month before ``first_due_on`` when not given) starts
    the first period under an actual-days count; see the module docstring."""
    _validate(principal, annual_rate, term_months, fee)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        nominal = annual_rate / 12
    dues = [add_months(first_due_on, k) for k in range(term_months)]
    rates = period_rates(annual_rate, dues, start_on=start_on, day_count=day_count)
    parts = principal_parts(
        principal=principal,
        monthly_rate=rates,
        nominal_rate=nominal,
        term_months=term_months,
        method=method,
    )
    schedule: list[ScheduledInstallment] = []
    balance = principal
    for sequence, (part, interest) in enumerate(parts, start=1):
        schedule.append(
            ScheduledInstallment(
                sequence=sequence,
                due_on=add_months(first_due_on, sequence - 1),
                principal=part,
                interest=interest,
                fee=fee if sequence == 1 else ZERO,
                opening_balance=balance,
                closing_balance=balance - part,
            )
        )
        balance -= part
    return schedule
