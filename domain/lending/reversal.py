"""Reversing a payment that bounced: its allocation undone exactly, its entry reversed.

Each repayment keeps what its allocation changed from: the schedule lines and the loan's
figures just before it (``Repayment.before``). Reversing puts them back as they were,
so a reversed payment leaves the loan exactly as if it had never been recorded, and
posts the mirror of its journal entry on the day of the reversal.

Only the latest payment still standing is reversed: every later allocation started
from the state this one left, so undoing an earlier one alone would leave them
allocated against money that never arrived (Fineract replays the later ones instead;
here the officer reverses them first, newest first, and records them again).

For the same reason a payment recorded before the contract was amended stands: the
amendment rebuilt the schedule from the state the payment left (and a top-up or
capitalised interest added principal the ledger holds); putting back the schedule from
before the payment would undo the amendment behind the borrower's signature. A reversed
payment that settled the loan early takes the early settlement with it.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.service import REVIEWERS, Actor, require_role
from domain.audit.service import record
from domain.contracts.models import (
    AmendmentStatus,
    LoanAmendment,
    LoanTermination,
    TerminationKind,
)
from domain.ledger import service as ledger
from domain.lending import charges
from domain.lending import repository as repo
from domain.lending.errors import LoanSold
from domain.lending.models import DelinquencyBucket, Installment, Loan, LoanStatus, Repayment
from domain.workout.models import WorkoutCase
from kernel.base import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound

MAX_REASON = 2000


class RepaymentReversed(Conflict):
    code = "REPAYMENT_REVERSED"


def snapshot(loan: Loan, rows: list[Installment]) -> dict[str, Any]:
    """What a payment about to be allocated changes from, as JSON."""
    return {
        "loan": {
            "outstanding_principal": str(loan.outstanding_principal),
            "days_past_due": loan.days_past_due,
            "delinquency_bucket": loan.delinquency_bucket.value,
            "maturity_on": loan.maturity_on.isoformat(),
            "term_months": loan.term_months,
            "status": loan.status.value,
            "closed_on": None if loan.closed_on is None else loan.closed_on.isoformat(),
        },
        "lines": [
            {
                "sequence": row.sequence,
                "due_on": row.due_on.isoformat(),
                "principal_due": str(row.principal_due),
                "interest_due": str(row.interest_due),
                "fee_due": str(row.fee_due),
                "principal_paid": str(row.principal_paid),
                "interest_paid": str(row.interest_paid),
                "fee_paid": str(row.fee_paid),
                "late_fee_due": str(row.late_fee_due),
                "late_fee_paid": str(row.late_fee_paid),
                "late_fee_charged_on": None
                if row.late_fee_charged_on is None
                else row.late_fee_charged_on.isoformat(),
                "penalty_due": str(row.penalty_due),
                "penalty_paid": str(row.penalty_paid),
                "settled_on": None if row.settled_on is None else row.settled_on.isoformat(),
            }
            for row in rows
        ],
    }


async def reverse_repayment(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    idempotency_key: str,
    reason: str,
    reversed_on: date | None = None,
) -> tuple[Repayment, Loan]:
    """Undo the payment recorded under ``idempotency_key``; see the module docstring."""
    found = await repo.loans_by_ids(session, viewer=actor.viewer, ids=[loan_id])
    if not found:
        raise NotFound("no such loan")
    loan = found[0]
    require_role(actor.viewer, loan.institution_id, REVIEWERS, "reverse repayments")
    if loan.status is LoanStatus.WRITTEN_OFF:
        raise InvalidInput("the loan is written off: its payments stand", field="loanId")
    if loan.sold_on is not None:
        raise LoanSold(
            f"the loan's claim was sold on {loan.sold_on}: its payments stand", field="loanId"
        )
    repayment = await repo.repayment_by_key(session, loan_id=loan.id, key=idempotency_key.strip())
    if repayment is None:
        raise NotFound("no repayment with that idempotency key on this loan")
    if repayment.before is None:
        raise InvalidInput(
            "the payment was recorded before reversals kept what it changed", field="loanId"
        )
    if repayment.reversed_on is not None:
        raise RepaymentReversed(f"the payment was reversed on {repayment.reversed_on}")
    if not 3 <= len(reason.strip()) <= MAX_REASON:
        raise InvalidInput(f"reason: 3 to {MAX_REASON} characters", field="reason")
    latest = await repo.latest_standing_repayment(session, loan.id)
    if latest is None or latest.id != repayment.id:
        raise InvalidInput(
            "only the latest payment standing is reversed: reverse the later ones first",
            field="idempotencyKey",
        )
    built_on = await _built_on(session, loan.id, repayment)
    if built_on is not None:
        raise InvalidInput(
            f"{built_on} after this payment: it stands (what was done since was built on "
            "it, and undoing the payment would undo that too)",
            field="idempotencyKey",
        )
    today = utcnow().date()
    day = reversed_on or today
    if not repayment.paid_on <= day <= today:
        raise InvalidInput("reversedOn: between the payment and today", field="reversedOn")
    closed = loan.status is LoanStatus.CLOSED
    await _restore(session, loan, repayment.before)
    if closed and loan.status is not LoanStatus.CLOSED:
        # The payment that settled the loan early bounced: the settlement never
        # happened, and the loan, open again, must not show one.
        await session.execute(
            delete(LoanTermination).where(
                LoanTermination.loan_id == loan.id,
                LoanTermination.kind == TerminationKind.EARLY_SETTLEMENT,
            )
        )
    repayment.reversed_on = day
    repayment.reversal_reason = reason.strip()
    repayment.reversed_by = actor.user_id
    await session.flush()
    entry = await ledger.entry_of(session, loan.institution_id, f"repayment:{repayment.id}")
    if entry is not None:  # payments recorded before the ledger existed posted none
        await ledger.reverse(
            session,
            entry_id=entry,
            effective_on=day,
            source=f"reversal:repayment:{repayment.id}",
            memo="payment reversed",
            actor_id=actor.user_id,
        )
    await charges.true_up(
        session, loan, source=f"reversal:repayment:{repayment.id}:accrual", on=day
    )
    record(
        session,
        action="loan.repayment_reversed",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        idempotency_key=repayment.idempotency_key,
        amount=str(repayment.amount),
        reason=repayment.reversal_reason,
    )
    return repayment, loan


async def _built_on(session: AsyncSession, loan_id: uuid.UUID, repayment: Repayment) -> str | None:
    """What changed the loan's schedule after ``repayment`` was recorded, if anything.

    The payment's snapshot predates it, so restoring the snapshot would silently undo it:
    an amendment the borrower signed, an acceleration (the whole balance called), or
    legal costs charged to an instalment (``WorkoutCase.legal_costs_charged_at``).
    """
    after = repayment.created_at
    amended = select(LoanAmendment.id).where(
        LoanAmendment.loan_id == loan_id,
        LoanAmendment.status == AmendmentStatus.ACCEPTED,
        LoanAmendment.accepted_at > after,
    )
    if await session.scalar(select(exists(amended))):
        return "the contract was amended"
    accelerated = select(LoanTermination.id).where(
        LoanTermination.loan_id == loan_id,
        LoanTermination.kind == TerminationKind.ACCELERATION,
        LoanTermination.at > after,
    )
    if await session.scalar(select(exists(accelerated))):
        return "the loan was accelerated"
    charged = select(WorkoutCase.id).where(
        WorkoutCase.loan_id == loan_id, WorkoutCase.legal_costs_charged_at > after
    )
    if await session.scalar(select(exists(charged))):
        return "legal costs were charged"
    return None


async def _restore(session: AsyncSession, loan: Loan, before: dict[str, Any]) -> None:
    figures = before["loan"]
    loan.outstanding_principal = Decimal(figures["outstanding_principal"])
    loan.days_past_due = int(figures["days_past_due"])
    loan.delinquency_bucket = DelinquencyBucket(figures["delinquency_bucket"])
    loan.maturity_on = date.fromisoformat(figures["maturity_on"])
    loan.term_months = int(figures["term_months"])
    loan.status = LoanStatus(figures["status"])
    loan.closed_on = (
        None if figures["closed_on"] is None else date.fromisoformat(figures["closed_on"])
    )
    rows = {row.sequence: row for row in await repo.installments_of(session, loan.id)}
    wanted = {int(line["sequence"]): line for line in before["lines"]}
    for sequence, row in rows.items():
        if sequence not in wanted:
            await session.delete(row)
    for sequence, line in wanted.items():
        found = rows.get(sequence)
        if found is None:
            found = Installment(loan_id=loan.id, sequence=sequence)
            session.add(found)
        row = found
        row.due_on = date.fromisoformat(line["due_on"])
        row.settled_on = (
            None if line["settled_on"] is None else date.fromisoformat(line["settled_on"])
        )
        for name in (
            "principal_due",
            "interest_due",
            "fee_due",
            "principal_paid",
            "interest_paid",
            "fee_paid",
        ):
            setattr(row, name, Decimal(line[name]))
        # Payments recorded before charges existed kept none: they had none.
        for name in ("late_fee_due", "late_fee_paid", "penalty_due", "penalty_paid"):
            setattr(row, name, Decimal(line.get(name, "0.00")))
        charged = line.get("late_fee_charged_on")
        row.late_fee_charged_on = None if charged is None else date.fromisoformat(charged)
