"""Repayment schedules: pure functions, exact to the cent.

Interest accrues monthly at ``annual_rate / 12`` on the opening balance and is rounded
half-up to the cent each month. The last instalment takes whatever principal is left,
so the principal column always adds up to the amount lent.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from domain.errors import InvalidInput
from domain.products.models import RepaymentMethod

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


def _principal_parts(
    *,
    principal: Decimal,
    monthly_rate: Decimal,
    term_months: int,
    method: RepaymentMethod,
) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) per month; the last month settles the balance."""
    if method is RepaymentMethod.ANNUITY:
        exact = annuity_payment(
            principal=principal, monthly_rate=monthly_rate, term_months=term_months
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
    monthly_rate: Decimal,
    term_months: int,
    payment: Decimal,
    *,
    strict: bool,
) -> list[tuple[Decimal, Decimal]] | None:
    """Level payments; ``None`` when ``strict`` and the balance would run out early."""
    balance = principal
    parts: list[tuple[Decimal, Decimal]] = []
    for month in range(1, term_months + 1):
        interest = cents(balance * monthly_rate)
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
    principal: Decimal, monthly_rate: Decimal, term_months: int, share: Decimal
) -> list[tuple[Decimal, Decimal]]:
    balance = principal
    parts: list[tuple[Decimal, Decimal]] = []
    for month in range(1, term_months + 1):
        interest = cents(balance * monthly_rate)
        part = balance if month == term_months else share
        parts.append((part, interest))
        balance -= part
    return parts


def build_schedule(
    *,
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    method: RepaymentMethod,
    first_due_on: date,
    fee: Decimal = ZERO,
) -> list[ScheduledInstallment]:
    """Monthly instalments from ``first_due_on``; ``fee`` is charged with the first."""
    _validate(principal, annual_rate, term_months, fee)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        monthly_rate = annual_rate / 12
    parts = _principal_parts(
        principal=principal, monthly_rate=monthly_rate, term_months=term_months, method=method
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
