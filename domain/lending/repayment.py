"""Repayments: how a payment is allocated to a loan's schedule, and early repayment.

Allocation order: penalties (the late fee, then penalty interest) -> fees -> interest ->
principal, oldest instalment first: Apache Fineract's default strategy ("penalties, fees,
interest, principal"), which most lending systems follow. Charges for lateness are
cleared before anything else so they never sit behind principal (where nothing would
ever reach them while the borrower keeps paying less than is due), and an instalment
is not settled while any of its charges is unpaid. Only instalments due on or before
the payment date take money that way; whatever is left is an early repayment of
principal.

Assumptions:

- Interest is monthly on the opening balance (see ``schedule``), with no day count. An
  early repayment lowers the interest of the instalment it falls in as though it had been
  made at the start of that month, and paying off waives the interest and fees of every
  instalment not yet due. Unpaid fees and interest of instalments already due are never
  waived.
- A payment above the payoff amount is refused (``Overpayment``): nothing is held as credit.
- A partial early repayment rebuilds the instalments not yet due from the new balance.
  ``SHORTER_TERM`` drops months from the end: an annuity takes the fewest months whose
  level payment does not exceed the current instalment, equal principal keeps its
  principal share; interest-only loans keep their term, since a shorter one would only
  bring the bullet forward. ``LOWER_INSTALMENT`` keeps the term. Neither raises the next
  instalment: where rounding would, the old instalment (annuity) or principal share
  (equal principal) is kept and the last month takes the rest.
  Rebuilt lines keep their sequence numbers, due dates and fees; dropped lines go, fees
  included, as unearned fees do at payoff.
- The prepaid principal is recorded on the first instalment not yet due: its
  ``principal_due`` is the prepaid amount plus its rebuilt principal, its
  ``principal_paid`` the prepaid amount. So principal due always adds up to the amount
  lent and no line is ever paid more than it owes. Lines not yet due hold nothing paid but
  such prepaid principal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal, localcontext
from itertools import pairwise

from domain.lending.models import EarlyRepaymentChoice
from domain.lending.schedule import (
    CENT,
    PRECISION,
    ZERO,
    Rates,
    ScheduledInstallment,
    amortise,
    annuity_payment,
    cents,
    fixed_principal,
    period_rates,
    principal_parts,
)
from domain.products.models import DayCount, RepaymentMethod
from kernel.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Line:
    """One schedule row as stored."""

    sequence: int
    due_on: date
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    fee_paid: Decimal
    # Charged only after the due date (domain.lending.charges), so on due lines only.
    late_fee_due: Decimal = ZERO
    late_fee_paid: Decimal = ZERO
    penalty_due: Decimal = ZERO
    penalty_paid: Decimal = ZERO

    @property
    def outstanding_fee(self) -> Decimal:
        return self.fee_due - self.fee_paid

    @property
    def outstanding_late_fee(self) -> Decimal:
        return self.late_fee_due - self.late_fee_paid

    @property
    def outstanding_penalty(self) -> Decimal:
        return self.penalty_due - self.penalty_paid

    @property
    def outstanding_interest(self) -> Decimal:
        return self.interest_due - self.interest_paid

    @property
    def outstanding_principal(self) -> Decimal:
        return self.principal_due - self.principal_paid

    @property
    def outstanding(self) -> Decimal:
        return (
            self.outstanding_late_fee
            + self.outstanding_penalty
            + self.outstanding_fee
            + self.outstanding_interest
            + self.outstanding_principal
        )

    @property
    def settled(self) -> bool:
        return self.outstanding == 0


@dataclass(frozen=True, slots=True)
class Applied:
    """What a payment did to one line."""

    sequence: int
    fee: Decimal
    interest: Decimal
    principal: Decimal
    late_fee: Decimal = ZERO
    penalty: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Allocation:
    """Totals adding up to the amount, the lines touched in order, the schedule after.
    ``fee`` is the schedule's fees only; late fees and penalty interest are apart."""

    fee: Decimal
    interest: Decimal
    principal: Decimal
    applied: tuple[Applied, ...]
    prepaid_principal: Decimal
    lines: tuple[Line, ...]
    late_fee: Decimal = ZERO
    penalty: Decimal = ZERO


class Overpayment(InvalidInput):
    code = "OVERPAYMENT"

    def __init__(self, message: str, *, payoff_amount: Decimal) -> None:
        super().__init__(message)
        self.payoff_amount = payoff_amount


def lines_from_schedule(schedule: Sequence[ScheduledInstallment]) -> tuple[Line, ...]:
    return tuple(
        Line(
            sequence=row.sequence,
            due_on=row.due_on,
            principal_due=row.principal,
            interest_due=row.interest,
            fee_due=row.fee,
            principal_paid=ZERO,
            interest_paid=ZERO,
            fee_paid=ZERO,
        )
        for row in schedule
    )


def outstanding(lines: Sequence[Line]) -> Decimal:
    """Everything still owed as scheduled, future interest included."""
    return sum((line.outstanding for line in lines), ZERO)


def is_paid_off(lines: Sequence[Line]) -> bool:
    return all(line.settled for line in lines)


def payoff_amount(lines: Sequence[Line], *, paid_on: date) -> Decimal:
    """What settles the loan on ``paid_on``: all that is owed on lines due by then, and
    the principal of the others (their interest and fees are unearned, so waived)."""
    return sum(
        (
            line.outstanding if line.due_on <= paid_on else line.outstanding_principal
            for line in lines
        ),
        ZERO,
    )


def allocate(
    lines: Sequence[Line],
    amount: Decimal,
    *,
    paid_on: date,
    annual_rate: Decimal,
    method: RepaymentMethod,
    option: EarlyRepaymentChoice = EarlyRepaymentChoice.SHORTER_TERM,
    day_count: DayCount = DayCount.THIRTY_360,
    disbursed_on: date | None = None,
) -> Allocation:
    """Apply ``amount`` paid on ``paid_on``; see the module docstring for the rules.

    Stored lines that break the representation (sequences out of due date order, interest
    or fees paid on a line not yet due) raise ``ValueError``: they are not the payer's error.
    """
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"a repayment must be a positive amount, got {amount}", field="amount")
    if not _in_cents(amount):
        raise InvalidInput(
            f"a repayment must have at most 2 decimal places, got {amount}", field="amount"
        )
    if not annual_rate.is_finite() or not Decimal(0) <= annual_rate < 1:
        raise InvalidInput(f"annual rate must be at least 0 and below 1, got {annual_rate}")
    ordered = _ordered(lines)
    payoff = payoff_amount(ordered, paid_on=paid_on)
    if amount > payoff:
        raise Overpayment(
            f"a repayment of {amount} is more than the {payoff} that pays the loan off "
            f"on {paid_on.isoformat()}",
            payoff_amount=payoff,
        )
    amount = amount.quantize(CENT)

    remaining = amount
    applied: list[Applied] = []
    after: list[Line] = []
    for line in (line for line in ordered if line.due_on <= paid_on):
        late_fee = min(remaining, line.outstanding_late_fee)
        remaining -= late_fee
        penalty = min(remaining, line.outstanding_penalty)
        remaining -= penalty
        fee = min(remaining, line.outstanding_fee)
        interest = min(remaining - fee, line.outstanding_interest)
        principal = min(remaining - fee - interest, line.outstanding_principal)
        remaining -= fee + interest + principal
        if not (late_fee or penalty or fee or interest or principal):
            after.append(line)
            continue
        applied.append(Applied(line.sequence, fee, interest, principal, late_fee, penalty))
        after.append(
            replace(
                line,
                late_fee_paid=line.late_fee_paid + late_fee,
                penalty_paid=line.penalty_paid + penalty,
                fee_paid=line.fee_paid + fee,
                interest_paid=line.interest_paid + interest,
                principal_paid=line.principal_paid + principal,
            )
        )

    future = [line for line in ordered if line.due_on > paid_on]
    if amount == payoff:
        applied.extend(
            Applied(line.sequence, ZERO, ZERO, line.outstanding_principal)
            for line in future
            if line.outstanding_principal
        )
        future = [
            replace(
                line,
                principal_paid=line.principal_due,
                interest_due=line.interest_paid,
                fee_due=line.fee_paid,
            )
            for line in future
        ]
    elif remaining:
        applied.append(Applied(future[0].sequence, ZERO, ZERO, remaining))
        earlier = [line.due_on for line in ordered if line.due_on < future[0].due_on]
        future = _reschedule(
            future,
            remaining,
            annual_rate=annual_rate,
            method=method,
            option=option,
            # The first rebuilt period runs from the due date before it (or the payout).
            start_on=earlier[-1] if earlier else disbursed_on,
            day_count=day_count,
        )
    return Allocation(
        fee=sum((a.fee for a in applied), ZERO),
        interest=sum((a.interest for a in applied), ZERO),
        principal=sum((a.principal for a in applied), ZERO),
        applied=tuple(applied),
        prepaid_principal=remaining,
        lines=(*after, *future),
        late_fee=sum((a.late_fee for a in applied), ZERO),
        penalty=sum((a.penalty for a in applied), ZERO),
    )


def _in_cents(value: Decimal) -> bool:
    # Read off the digits: quantize would trap on amounts wider than the context precision.
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    excess = -2 - exponent
    return excess <= 0 or not any(digits[-excess:])


def _ordered(lines: Sequence[Line]) -> list[Line]:
    ordered = sorted(lines, key=lambda line: line.sequence)
    for a, b in pairwise(ordered):
        if a.sequence == b.sequence or a.due_on >= b.due_on:
            raise ValueError(
                f"schedule lines {a.sequence} and {b.sequence} are not in due date order"
            )
    return ordered


def _reschedule(
    future: list[Line],
    prepaid: Decimal,
    *,
    annual_rate: Decimal,
    method: RepaymentMethod,
    option: EarlyRepaymentChoice,
    start_on: date | None = None,
    day_count: DayCount = DayCount.THIRTY_360,
) -> list[Line]:
    """The lines not yet due, rebuilt after ``prepaid`` (less than their principal)."""
    if any(line.interest_paid or line.fee_paid for line in future):
        raise ValueError("a line not yet due holds paid interest or fees: cannot reschedule")
    first = future[0]
    paid = sum((line.principal_paid for line in future), ZERO) + prepaid
    balance = sum((line.outstanding_principal for line in future), ZERO) - prepaid
    parts = _rebuilt_parts(
        first,
        balance,
        months=len(future),
        annual_rate=annual_rate,
        method=method,
        option=option,
        rates=period_rates(
            annual_rate,
            [line.due_on for line in future],
            start_on=start_on,
            day_count=day_count,
        ),
    )
    rebuilt = [
        Line(
            sequence=line.sequence,
            due_on=line.due_on,
            principal_due=principal,
            interest_due=interest,
            fee_due=line.fee_due,
            principal_paid=ZERO,
            interest_paid=ZERO,
            fee_paid=ZERO,
        )
        for line, (principal, interest) in zip(future[: len(parts)], parts, strict=True)
    ]
    rebuilt[0] = replace(
        rebuilt[0], principal_due=rebuilt[0].principal_due + paid, principal_paid=paid
    )
    return rebuilt


def _rebuilt_parts(
    first: Line,
    balance: Decimal,
    *,
    months: int,
    annual_rate: Decimal,
    method: RepaymentMethod,
    option: EarlyRepaymentChoice,
    rates: Rates,
) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) per remaining month: never more months, nor a higher first
    instalment, than before. ``rates`` are the remaining periods' own (the day count's);
    the level payment and the shorter term are found at the nominal monthly rate, as the
    first schedule's were."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        monthly_rate = annual_rate / 12
    # The first line's own scheduled principal, leaving out any principal prepaid on it.
    share = first.outstanding_principal
    shorter = option is EarlyRepaymentChoice.SHORTER_TERM
    if method is RepaymentMethod.ANNUITY:
        instalment = share + first.interest_due
        if shorter:
            months = _shortest_annuity_term(balance, monthly_rate, months, instalment) or months
        payment = annuity_payment(principal=balance, monthly_rate=monthly_rate, term_months=months)
        if cents(payment) > instalment:
            # Rounding (or an instalment that barely covers the interest) would raise the
            # instalment: keep it instead, the last month taking what is left.
            parts = amortise(balance, rates, months, instalment, strict=False)
            assert parts is not None
            return parts
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        if shorter and share > 0:
            months = min(months, -(-int(balance * 100) // int(share * 100)))
        else:
            # Spread evenly, but never above the old share: the last month absorbed the
            # rounding, and spreading it back would raise the next instalment by a cent.
            share = min(share, cents(balance / months, ROUND_DOWN))
        return fixed_principal(balance, rates, months, share)
    return principal_parts(
        principal=balance,
        monthly_rate=_first(rates, months),
        nominal_rate=monthly_rate,
        term_months=months,
        method=method,
    )


def _first(rates: Rates, months: int) -> Rates:
    return rates if isinstance(rates, Decimal) else rates[:months]


def _shortest_annuity_term(
    balance: Decimal, monthly_rate: Decimal, months: int, instalment: Decimal
) -> int | None:
    """The fewest months, at most ``months``, whose level payment is within ``instalment``."""

    def fits(term: int) -> bool:
        payment = annuity_payment(principal=balance, monthly_rate=monthly_rate, term_months=term)
        return cents(payment) <= instalment

    if not fits(months):
        return None
    low, high = 1, months
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low
