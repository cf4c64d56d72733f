"""What a LEGAL_ACTION or SALE workout case does to its loan.

Legal action: ``record_legal_action`` keeps the filing (day, court, the court's
reference) and charges the legal costs to the loan. A cost is charged as the schedule's
own fees are: added to the fee due of the loan's first installment not yet settled, so
a repayment takes it first (fees, then interest, then principal) and the ledger books
it as fee income when paid, like any schedule fee. Each call charges what it names, so
a call carries the case's version: a retry of one already applied is a CONFLICT, never
a second charge. The judgment amount is the case's resolution (``cases._resolve``).

Debt sale: ``sell_claim`` first accrues the loan's interest, penalty interest and late
fees up to the sale date (the daily accrual's own pass, ``charges.accrue``, for this one
loan), so the receivables sold are those of the sale date and not of the last nightly
run. It then closes the loan as sold (CLOSED, ``sold_on``) and books, in the caller's
transaction, one balanced entry: every receivable the loan carries off the books, the
allowance held for it released, the price in cash, and the difference between the
carrying amount net of allowance and the price as a loss (write-off expense) or a gain
(recoveries income). From then on the loan's payments are the
buyer's: ``record_repayment`` refuses them with LOAN_SOLD.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from domain.applications.service import Actor
from domain.audit import service as audit
from domain.contracts.service import staff_loan
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg
from domain.lending import charges
from domain.lending.models import Installment, Loan, LoanStatus
from domain.lending.schedule import CENT, ZERO
from domain.lending.service import WRITERS_OFF, LoanSold
from domain.workout import cases
from domain.workout.models import (
    LIVE_STATES,
    MAX_BUYER,
    MAX_COURT,
    MAX_REFERENCE,
    WorkoutCase,
    WorkoutStrategy,
)
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput

__all__ = ["LoanSold", "record_legal_action", "sale_legs", "sell_claim"]

RECEIVABLES = (
    AccountCode.LOANS_RECEIVABLE,
    AccountCode.INTEREST_RECEIVABLE,
    AccountCode.FEES_RECEIVABLE,
    AccountCode.PENALTIES_RECEIVABLE,
)


def cents(value: Decimal, field: str, *, positive: bool = False) -> Decimal:
    low_ok = value > 0 if positive else value >= 0
    if not value.is_finite() or not low_ok or value != value.quantize(CENT):
        kind = "a positive amount" if positive else "an amount"
        raise InvalidInput(f"{field}: {kind} in cents, not negative", field=field)
    return value


def _text(value: str, field: str, most: int) -> str:
    text = value.strip()
    if not 1 <= len(text) <= most:
        raise InvalidInput(f"{field}: 1 to {most} characters", field=field)
    return text


async def record_legal_action(
    session: AsyncSession,
    actor: Actor,
    *,
    case_id: uuid.UUID,
    filed_on: date,
    court: str,
    reference: str,
    costs: Decimal,
    expected_version: int,
) -> WorkoutCase:
    """The filing of a live LEGAL_ACTION case, and costs charged to its loan."""
    if actor.user_id is None:
        raise Forbidden("legal action is recorded by people")
    case = await cases.case_for_work(session, actor.viewer, case_id)
    if expected_version != case.version:
        raise Conflict("the case changed since you read it; reload and try again")
    if case.strategy is not WorkoutStrategy.LEGAL_ACTION:
        raise InvalidInput(
            f"a {case.strategy.name} case takes no legal action; open a LEGAL_ACTION case",
            field="caseId",
        )
    if case.state not in LIVE_STATES:
        raise cases.InvalidCaseTransition(case.state, "record legal action")
    court_name = _text(court, "court", MAX_COURT)
    ref = _text(reference, "reference", MAX_REFERENCE)
    cents(costs, "costAmount")
    loan = await session.get_one(Loan, case.loan_id)
    # Costs are a claim on the borrower: never more, over the case, than was lent (a
    # bound for a slip of the keyboard, and for the money columns' range).
    if (case.legal_costs or ZERO) + costs > loan.principal:
        raise InvalidInput(
            f"costAmount: the case's legal costs may not exceed the principal lent "
            f"({loan.principal:,.2f})",
            field="costAmount",
        )
    if not loan.disbursed_on <= filed_on <= utcnow().date():
        raise InvalidInput("filedOn: between the disbursement and today", field="filedOn")
    if costs > 0:
        await _charge(session, loan, costs)
        case.legal_costs_charged_at = utcnow()
    case.filed_on = filed_on
    case.court = court_name
    case.court_reference = ref
    case.legal_costs = (case.legal_costs or ZERO) + costs
    await session.flush()  # the version column catches a concurrent change here
    audit.record(
        session,
        action="workout_case.legal_action",
        entity_type="WorkoutCase",
        entity_id=case.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        loan=str(loan.id),
        filed_on=filed_on.isoformat(),
        court=court_name,
        reference=ref,
        costs=str(costs),
    )
    return case


async def _charge(session: AsyncSession, loan: Loan, costs: Decimal) -> None:
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}: no costs can be charged to it", field="costAmount"
        )
    rows = (
        await session.scalars(
            select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.sequence)
        )
    ).all()
    open_rows = [
        r
        for r in rows
        if r.principal_paid < r.principal_due
        or r.interest_paid < r.interest_due
        or r.fee_paid < r.fee_due
    ]
    if not open_rows:
        raise InvalidInput("the loan has nothing left due to charge costs to", field="costAmount")
    open_rows[0].fee_due += costs
    # The fee alone moves no loan column; the loan's version must move all the same, so
    # a repayment racing this charge collides instead of allocating a stale schedule.
    flag_modified(loan, "outstanding_principal")


@dataclass(frozen=True, slots=True)
class SaleBooking:
    legs: list[Leg]
    carried: Decimal  # every receivable the loan carries
    allowance: Decimal  # the allowance held for it, released (at most ``carried``)
    result: Decimal  # price - (carried - allowance): a gain when positive


def sale_legs(balances: Mapping[AccountCode, Decimal], price: Decimal) -> SaleBooking:
    """The one entry a sale posts, from the loan's sub-ledger balances (debit minus
    credit): every receivable off, the allowance released, the price in cash, and the
    difference as write-off expense (a loss) or recoveries income (a gain)."""
    carried = {code: balances.get(code, ZERO) for code in RECEIVABLES}
    total = sum(carried.values(), ZERO)
    allowance = min(max(-balances.get(AccountCode.LOSS_ALLOWANCE, ZERO), ZERO), max(total, ZERO))
    result = price - (total - allowance)
    # A receivable in credit (paid ahead of its accrual) is cleared by a debit: legs are
    # never negative.
    legs = [
        Leg.credit(code, amount) if amount >= 0 else Leg.debit(code, -amount)
        for code, amount in carried.items()
    ]
    legs += [Leg.debit(AccountCode.LOSS_ALLOWANCE, allowance), Leg.debit(AccountCode.CASH, price)]
    if result < 0:
        legs.append(Leg.debit(AccountCode.WRITE_OFF_EXPENSE, -result))
    else:
        legs.append(Leg.credit(AccountCode.RECOVERIES, result))
    return SaleBooking(legs=legs, carried=total, allowance=allowance, result=result)


async def sell_claim(
    session: AsyncSession, actor: Actor, case: WorkoutCase, *, buyer: str, price: Decimal
) -> Decimal:
    """Close the case's loan as sold to ``buyer`` for ``price`` and book it; returns the
    gain (positive) or loss (negative) against the carrying amount net of allowance."""
    name = _text(buyer, "buyer", MAX_BUYER)
    cents(price, "saleAmount")
    loan = await staff_loan(session, actor, case.loan_id, roles=WRITERS_OFF, doing="sell a claim")
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}; only an active loan's claim is sold",
            field="caseId",
        )
    today = utcnow().date()
    # What the loan earned since its last accrual is a receivable sold with it: booked
    # first, so the sale takes it off with the rest. The pass moves the loan's marker
    # (and its version) in SQL; the loan is read again before it is closed.
    await charges.accrue(session, as_of=today, loan_ids=[loan.id])
    await session.refresh(loan)
    balances = (await ledger.loan_balances(session, [loan.id]))[loan.id]
    booked = sale_legs(balances, price)
    legs, result = booked.legs, booked.result
    total, allowance = booked.carried, booked.allowance
    loan.status = LoanStatus.CLOSED
    loan.closed_on = today
    loan.sold_on = today
    await session.flush()
    await ledger.post(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        kind=EntryKind.SALE,
        effective_on=today,
        source=f"sale:{loan.id}",
        legs=legs,
        actor_id=actor.user_id,
        memo=f"claim sold to {name}",
    )
    case.buyer = name
    case.sale_price = price
    case.sale_result = result
    audit.record(
        session,
        action="loan.sold",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        buyer=name,
        price=str(price),
        carrying=str(total),
        allowance=str(allowance),
        result=str(result),
    )
    return result
