"""The entries a loan's servicing posts: disbursement, repayment, write-off.

Accrual-based, as in Fineract: interest, fees and penalties are income when earned
(accrued into their receivables by the daily accrual); a payment first clears what was
accrued and credits income directly with anything it pays beyond it. A loan's
sub-ledger (its lines) thus holds, at every moment, the principal it owes in loans
receivable and the interest, fees and penalties earned and unpaid in their receivables.

Each entry's legs and source come from a plain function (``*_legs``, ``*_source``) so
that a bulk writer (the demo seed) books exactly what servicing books, under the same
sources, without a round trip per loan.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg

ZERO = Decimal("0.00")

# Where each part of a payment goes: its receivable first, income for the rest.
_RECEIVABLE_THEN_INCOME = {
    "fee": (AccountCode.FEES_RECEIVABLE, AccountCode.FEE_INCOME),
    "penalty": (AccountCode.PENALTIES_RECEIVABLE, AccountCode.PENALTY_INCOME),
    "interest": (AccountCode.INTEREST_RECEIVABLE, AccountCode.INTEREST_INCOME),
}


def disbursement_source(loan_id: uuid.UUID) -> str:
    return f"disbursement:{loan_id}"


def repayment_source(repayment_id: uuid.UUID) -> str:
    return f"repayment:{repayment_id}"


def write_off_source(loan_id: uuid.UUID) -> str:
    return f"write_off:{loan_id}"


def disbursement_legs(principal: Decimal) -> list[Leg]:
    return [
        Leg.debit(AccountCode.LOANS_RECEIVABLE, principal),
        Leg.credit(AccountCode.CASH, principal),
    ]


def repayment_legs(
    balances: Mapping[AccountCode, Decimal],
    *,
    principal: Decimal,
    interest: Decimal,
    fee: Decimal,
    late_fee: Decimal = ZERO,
    penalty: Decimal = ZERO,
) -> list[Leg]:
    """A payment's legs against the loan's sub-ledger ``balances`` before it (see ``repaid``)."""
    legs = [
        Leg.debit(AccountCode.CASH, principal + interest + fee + late_fee + penalty),
        Leg.credit(AccountCode.LOANS_RECEIVABLE, principal),
        Leg.credit(AccountCode.FEE_INCOME, fee),
    ]
    for part, amount in (("fee", late_fee), ("penalty", penalty), ("interest", interest)):
        receivable, income = _RECEIVABLE_THEN_INCOME[part]
        cleared = min(amount, max(balances.get(receivable, ZERO), ZERO))
        legs += [Leg.credit(receivable, cleared), Leg.credit(income, amount - cleared)]
    return legs


def write_off_legs(balances: Mapping[AccountCode, Decimal]) -> list[Leg]:
    """The legs that take everything the loan carries off the books (see ``written_off``)."""
    receivables = (
        AccountCode.LOANS_RECEIVABLE,
        AccountCode.INTEREST_RECEIVABLE,
        AccountCode.FEES_RECEIVABLE,
        AccountCode.PENALTIES_RECEIVABLE,
    )
    carried = {code: balances.get(code, ZERO) for code in receivables}
    total = sum(carried.values(), ZERO)
    allowance = min(max(-balances.get(AccountCode.LOSS_ALLOWANCE, ZERO), ZERO), total)
    legs = [Leg.credit(code, amount) for code, amount in carried.items()]
    legs += [
        Leg.debit(AccountCode.LOSS_ALLOWANCE, allowance),
        Leg.debit(AccountCode.WRITE_OFF_EXPENSE, total - allowance),
    ]
    return legs


async def disbursed(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    loan_id: uuid.UUID,
    principal: Decimal,
    on: date,
    actor_id: uuid.UUID | None,
) -> None:
    await ledger.post(
        session,
        institution_id=institution_id,
        loan_id=loan_id,
        kind=EntryKind.DISBURSEMENT,
        effective_on=on,
        source=disbursement_source(loan_id),
        legs=disbursement_legs(principal),
        actor_id=actor_id,
    )


async def repaid(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    loan_id: uuid.UUID,
    repayment_id: uuid.UUID,
    on: date,
    principal: Decimal,
    interest: Decimal,
    fee: Decimal,
    late_fee: Decimal = ZERO,
    penalty: Decimal = ZERO,
    actor_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """Cash in; principal off the loan; each charge off its receivable, then income.

    Late fees (fees receivable) and penalty interest (penalties receivable) are booked
    when charged, so they clear their receivable; the schedule's own fee is income when
    paid. Whatever a payment leaves out of line with the schedule (interest paid before
    it accrued) the caller trues up (``domain.lending.charges.true_up``)."""
    balances = (await ledger.loan_balances(session, [loan_id]))[loan_id]
    legs = repayment_legs(
        balances,
        principal=principal,
        interest=interest,
        fee=fee,
        late_fee=late_fee,
        penalty=penalty,
    )
    return await ledger.post(
        session,
        institution_id=institution_id,
        loan_id=loan_id,
        kind=EntryKind.REPAYMENT,
        effective_on=on,
        source=repayment_source(repayment_id),
        legs=legs,
        actor_id=actor_id,
    )


async def written_off(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    loan_id: uuid.UUID,
    on: date,
    actor_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """Everything the loan still carries off the books: first against the allowance
    already provided for it, the rest as write-off expense (IFRS 9, 5.4.4)."""
    balances = (await ledger.loan_balances(session, [loan_id]))[loan_id]
    return await ledger.post(
        session,
        institution_id=institution_id,
        loan_id=loan_id,
        kind=EntryKind.WRITE_OFF,
        effective_on=on,
        source=write_off_source(loan_id),
        legs=write_off_legs(balances),
        actor_id=actor_id,
    )
