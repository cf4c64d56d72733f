"""Recoveries: money received on a written-off loan.

A write-off closes the loan's schedule to repayments; what the institution still
collects (from the borrower, a guarantor, collateral or a sale of the claim) is a
recovery. Recoveries carry an idempotency key like repayments, and together they never
exceed what was lost: everything owed on the day of the write-off (the payoff that
day: principal, and the interest and fees then due).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.service import REVIEWERS, Actor
from domain.audit.service import record
from domain.collateral import service as security
from domain.contracts.service import staff_loan
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg
from domain.lending import repayment as money
from domain.lending import repository as lending
from domain.lending.models import Loan, LoanStatus
from domain.lending.schedule import CENT, ZERO
from domain.lending.service import MAX_KEY, line_of
from domain.workout.models import Recovery
from kernel.base import utcnow
from kernel.errors import Conflict, InvalidInput


@dataclass(frozen=True, slots=True)
class Recovered:
    recovery: Recovery
    loan: Loan
    replayed: bool  # the key had been used: the first result, nothing new written


async def record_recovery(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    idempotency_key: str,
    amount: Decimal,
    received_on: date | None = None,
    collateral_item_id: uuid.UUID | None = None,
    guarantee_id: uuid.UUID | None = None,
) -> Recovered:
    """``collateral_item_id`` or ``guarantee_id`` name what the money came from (one at
    most): that item is REALISED, that guarantee CALLED, in the recovery's transaction."""
    key = idempotency_key.strip()
    if collateral_item_id is not None and guarantee_id is not None:
        raise InvalidInput(
            "a recovery came from one item or one guarantee, not both", field="guaranteeId"
        )
    if not 1 <= len(key) <= MAX_KEY:
        raise InvalidInput(f"idempotencyKey: 1 to {MAX_KEY} characters", field="idempotencyKey")
    loan = await staff_loan(session, actor, loan_id, roles=REVIEWERS, doing="record recoveries")
    earlier = await _by_key(session, loan.id, key)
    if earlier is not None:
        if earlier.amount != amount:
            raise Conflict(
                f"idempotency key {key!r} was used for a recovery of {earlier.amount:,.2f}"
            )
        return Recovered(recovery=earlier, loan=loan, replayed=True)
    if loan.status is not LoanStatus.WRITTEN_OFF or loan.written_off_on is None:
        raise InvalidInput(
            f"the loan is {loan.status.value}: money on a loan not written off is a repayment",
            field="loanId",
        )
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise InvalidInput("amount: a positive amount in cents", field="amount")
    today = utcnow().date()
    day = received_on or today
    if not loan.written_off_on <= day <= today:
        raise InvalidInput("receivedOn: between the write-off and today", field="receivedOn")
    open_claim = await lost(session, loan) - await recovered(session, loan.id)
    if amount > open_claim:
        raise money.Overpayment(
            f"a recovery of {amount} is more than the {open_claim} still lost on this loan",
            payoff_amount=open_claim,
        )
    recovery = Recovery(
        loan_id=loan.id,
        institution_id=loan.institution_id,
        idempotency_key=key,
        amount=amount,
        received_on=day,
        recorded_by=actor.user_id,
        collateral_item_id=collateral_item_id,
        guarantee_id=guarantee_id,
    )
    session.add(recovery)
    await session.flush()
    await security.realised_in_recovery(
        session,
        actor,
        loan,
        collateral_item_id=collateral_item_id,
        guarantee_id=guarantee_id,
        recovery_id=recovery.id,
    )
    await recovery_booked(session, actor, loan, recovery)
    return Recovered(recovery=recovery, loan=loan, replayed=False)


async def recovery_booked(
    session: AsyncSession, actor: Actor, loan: Loan, recovery: Recovery
) -> None:
    """The money a recovery moves, posted in the recovery's transaction: cash in,
    against recoveries income (the loan left the books with its write-off)."""
    await ledger.post(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        kind=EntryKind.RECOVERY,
        effective_on=recovery.received_on,
        source=f"recovery:{recovery.id}",
        legs=[
            Leg.debit(AccountCode.CASH, recovery.amount),
            Leg.credit(AccountCode.RECOVERIES, recovery.amount),
        ],
        actor_id=actor.user_id,
    )
    record(
        session,
        action="loan.recovery",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        amount=str(recovery.amount),
        received_on=recovery.received_on.isoformat(),
        idempotency_key=recovery.idempotency_key,
    )


async def lost(session: AsyncSession, loan: Loan) -> Decimal:
    """What the write-off gave up: the payoff on its day."""
    assert loan.written_off_on is not None
    rows = await lending.installments_of(session, loan.id)
    return money.payoff_amount([line_of(r) for r in rows], paid_on=loan.written_off_on)


async def recovered(session: AsyncSession, loan_id: uuid.UUID) -> Decimal:
    stmt = select(func.coalesce(func.sum(Recovery.amount), ZERO)).where(Recovery.loan_id == loan_id)
    return Decimal(await session.scalar(stmt) or ZERO)


async def _by_key(session: AsyncSession, loan_id: uuid.UUID, key: str) -> Recovery | None:
    stmt = select(Recovery).where(Recovery.loan_id == loan_id, Recovery.idempotency_key == key)
    return (await session.scalars(stmt)).one_or_none()


async def recoveries_by_loan_ids(session: AsyncSession, *, ids: list[uuid.UUID]) -> list[Recovery]:
    stmt = (
        select(Recovery)
        .where(Recovery.loan_id.in_(ids))
        .order_by(Recovery.loan_id, Recovery.received_on, Recovery.id)
    )
    return list((await session.scalars(stmt)).all())
