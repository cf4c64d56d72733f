"""Ending a contract before its time: cancellation, early settlement, acceleration.

- Cancellation: a signed contract never paid out is cancelled by the borrower or the
  institution; the application becomes WITHDRAWN and no loan is ever booked.
- Early settlement: the payoff on a day (``domain.lending.repayment.payoff_amount``:
  everything due by then and the principal not yet due; interest and fees not yet due
  are unearned and waived) quoted to the cent, then paid as one repayment that closes
  the loan. A settlement names the amount it was quoted: if the loan moved meanwhile the
  quote is stale and nothing is taken.
- Acceleration: on default the institution calls the whole balance due on a day. The
  instalments due after it become one instalment due that day holding their principal;
  their interest and fees, not yet earned, are waived. The loan stays active (it takes
  payments and ages as before), so arrears and recovery run their usual course.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from domain.applications.errors import InvalidTransition
from domain.applications.models import Application, ApplicationStatus
from domain.applications.service import (
    DECIDERS,
    REVIEWERS,
    Actor,
    load_for_change,
    move,
)
from domain.audit.service import record
from domain.contracts import repository as repo
from domain.contracts.models import LoanTermination, TerminationKind
from domain.contracts.service import staff_loan
from domain.enterprises.service import owned_enterprise
from domain.lending import charges
from domain.lending import repayment as money
from domain.lending import repository as lending
from domain.lending import service as loans
from domain.lending.delinquency import bucket_for, days_past_due
from domain.lending.models import Installment, Loan, LoanStatus
from domain.lending.schedule import ZERO
from domain.lending.service import WRITERS_OFF, line_of
from kernel.base import new_id, utcnow
from kernel.errors import Forbidden, InvalidInput
from privacy import keystore, vault

MAX_REASON = 2000
TABLE = LoanTermination.__tablename__
REASON_COLUMN = "reason"
CANCELLED_NOTE = "contract cancelled before the payout"


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    """What settles a loan on a day, by kind; ``total`` is the loan's payoff amount."""

    as_of: date
    principal: Decimal
    interest: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees


def quote(lines: Sequence[money.Line], *, as_of: date) -> PayoffQuote:
    due = [line for line in lines if line.due_on <= as_of]
    found = PayoffQuote(
        as_of=as_of,
        principal=sum((line.outstanding_principal for line in lines), ZERO),
        interest=sum((line.outstanding_interest for line in due), ZERO),
        # Every fee and charge: the schedule's fees, late fees and penalty interest.
        fees=sum(
            (
                line.outstanding_fee + line.outstanding_late_fee + line.outstanding_penalty
                for line in due
            ),
            ZERO,
        ),
    )
    assert found.total == money.payoff_amount(lines, paid_on=as_of)  # one definition
    return found


def accelerate_lines(lines: Sequence[money.Line], *, on: date) -> tuple[money.Line, ...]:
    """The schedule with every instalment due after ``on`` called due on ``on``."""
    ordered = sorted(lines, key=lambda line: line.sequence)
    kept = [line for line in ordered if line.due_on <= on]
    called = [line for line in ordered if line.due_on > on]
    if not called:
        raise InvalidInput("acceleratedOn: nothing falls due after it", field="acceleratedOn")
    principal_due = sum((line.principal_due for line in called), ZERO)
    principal_paid = sum((line.principal_paid for line in called), ZERO)
    if kept and kept[-1].due_on == on:
        last = kept[-1]
        merged = replace(
            last,
            principal_due=last.principal_due + principal_due,
            principal_paid=last.principal_paid + principal_paid,
        )
        return (*kept[:-1], merged)
    whole = money.Line(
        sequence=called[0].sequence,
        due_on=on,
        principal_due=principal_due,
        interest_due=ZERO,
        fee_due=ZERO,
        principal_paid=principal_paid,
        interest_paid=ZERO,
        fee_paid=ZERO,
    )
    return (*kept, whole)


# ---------------------------------------------------------------------------- services


async def cancel_contract(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    reason: str,
    expected_version: int | None = None,
) -> tuple[Application, LoanTermination]:
    """The borrower or the institution's credit staff cancel a contract not paid out."""
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    if not actor.viewer.institution_roles.get(application.institution_id, frozenset()) & DECIDERS:
        await owned_enterprise(
            session, actor.viewer, application.enterprise_id, doing="cancel the contract"
        )
    text = _reason(reason)
    if application.status is not ApplicationStatus.CONTRACT_SIGNED:
        raise InvalidTransition(
            "only a signed contract not yet paid out is cancelled; before signing the "
            "owner withdraws the application",
            current=application.status,
            target=ApplicationStatus.WITHDRAWN,
        )
    # The reason is the borrower's personal data: kept sealed on the termination only,
    # not in the application's timeline, which every reader of the application sees.
    await move(session, actor, application, ApplicationStatus.WITHDRAWN, note=CANCELLED_NOTE)
    termination = await _terminated(
        session,
        actor,
        application_id=application.id,
        loan_id=None,
        institution_id=application.institution_id,
        enterprise_id=application.enterprise_id,
        kind=TerminationKind.CANCELLATION,
        on=utcnow().date(),
        reason=text,
    )
    return application, termination


@dataclass(frozen=True, slots=True)
class Settled:
    loan: Loan
    termination: LoanTermination
    recorded: loans.Recorded


async def settle_early(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    quoted_amount: Decimal,
    idempotency_key: str,
    paid_on: date | None = None,
) -> Settled:
    """Take the payoff the borrower was quoted; it closes the loan."""
    loan = await staff_loan(session, actor, loan_id, roles=REVIEWERS, doing="settle a loan")
    day = paid_on or utcnow().date()
    if loan.status is LoanStatus.ACTIVE:
        rows = await lending.installments_of(session, loan.id)
        payoff = quote([line_of(row) for row in rows], as_of=day)
        if quoted_amount != payoff.total:
            raise InvalidInput(
                f"the payoff on {day.isoformat()} is {payoff.total}, not {quoted_amount}: "
                "quote again",
                field="quotedAmount",
            )
    recorded = await loans.record_repayment(
        session, actor, loan.id, idempotency_key=idempotency_key, amount=quoted_amount, paid_on=day
    )
    if recorded.replayed and recorded.repayment.reversed_on is not None:
        # A retry of a settlement whose payment bounced: the loan is open again, and the
        # key names a payment that no longer stands.
        raise InvalidInput(
            f"the settlement under this key was reversed on {recorded.repayment.reversed_on}: "
            "quote again and settle under a new key",
            field="idempotencyKey",
        )
    if recorded.loan.status is not LoanStatus.CLOSED:  # the quote is the payoff: never so
        raise AssertionError("a settlement at the payoff amount left the loan open")
    termination = await repo.termination_of(session, loan.id, TerminationKind.EARLY_SETTLEMENT)
    if termination is None:
        termination = await _terminated(
            session,
            actor,
            application_id=loan.application_id,
            loan_id=loan.id,
            institution_id=loan.institution_id,
            enterprise_id=loan.enterprise_id,
            kind=TerminationKind.EARLY_SETTLEMENT,
            on=recorded.repayment.paid_on,
            amount=recorded.repayment.amount,
        )
    return Settled(loan=recorded.loan, termination=termination, recorded=recorded)


async def accelerate(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    reason: str,
    accelerated_on: date | None = None,
) -> tuple[Loan, LoanTermination]:
    """On default, call the whole balance due: a credit decision, like a write-off."""
    loan = await staff_loan(session, actor, loan_id, roles=WRITERS_OFF, doing="accelerate a loan")
    if actor.user_id is None:
        raise Forbidden("only a person may accelerate a loan")
    text = _reason(reason)
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}; only an active loan is accelerated", field="loanId"
        )
    today = utcnow().date()
    day = accelerated_on or today
    if not loan.disbursed_on <= day <= today:
        raise InvalidInput(
            "acceleratedOn: between the disbursement and today", field="acceleratedOn"
        )
    rows = await lending.installments_of(session, loan.id)
    lines = [line_of(row) for row in rows]
    overdue = days_past_due([line.due_on for line in lines if not line.settled], as_of=day)
    if overdue == 0:
        raise InvalidInput(
            "the loan is not in arrears: only a loan in default is accelerated", field="loanId"
        )
    called = accelerate_lines(lines, on=day)
    await _store(session, loan, rows, called)
    loan.maturity_on = called[-1].due_on
    loan.term_months = len(called)
    flag_modified(loan, "maturity_on")
    loan.days_past_due = days_past_due(
        [line.due_on for line in called if not line.settled],
        as_of=max(today, loan.aged_on or today),
    )
    loan.delinquency_bucket = bucket_for(loan.days_past_due)
    termination = await _terminated(
        session,
        actor,
        application_id=loan.application_id,
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=TerminationKind.ACCELERATION,
        on=day,
        amount=money.payoff_amount(called, paid_on=day),
        reason=text,
    )
    await charges.true_up(session, loan, source=f"acceleration:{termination.id}:accrual", on=day)
    record(
        session,
        action="loan.accelerated",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        accelerated_on=day.isoformat(),
        now_due=str(termination.amount),
        termination=str(termination.id),  # the reason is there, sealed; not in the log
    )
    return loan, termination


# -------------------------------------------------------------------------------- helpers


async def _terminated(
    session: AsyncSession,
    actor: Actor,
    *,
    application_id: uuid.UUID,
    loan_id: uuid.UUID | None,
    institution_id: uuid.UUID,
    enterprise_id: uuid.UUID,
    kind: TerminationKind,
    on: date,
    amount: Decimal = ZERO,
    reason: str = "",
) -> LoanTermination:
    """The termination row, its reason sealed under the enterprise's data key."""
    row_id = new_id()
    sealed = None
    if reason:
        key = (await keystore.unwrap_many(session, actor.keys, [enterprise_id]))[enterprise_id]
        if key is None:
            raise InvalidInput(
                "the borrower's data was erased: no reason can be kept", field="reason"
            )
        sealed = seal_reason(key, reason, row_id=row_id)
    termination = LoanTermination(
        id=row_id,
        application_id=application_id,
        loan_id=loan_id,
        institution_id=institution_id,
        enterprise_id=enterprise_id,
        kind=kind,
        on=on,
        amount=amount,
        reason=sealed,
        actor_id=actor.user_id,
    )
    session.add(termination)
    await session.flush()
    return termination


def seal_reason(key: bytes, reason: str, *, row_id: uuid.UUID) -> str:
    """A termination's reason as it is stored: sealed, bound to its table, column and row."""
    return vault.seal(key, reason, table=TABLE, column=REASON_COLUMN, row_id=row_id)


def open_reason(key: bytes, sealed: str, *, row_id: uuid.UUID) -> str:
    return vault.unseal(key, sealed, table=TABLE, column=REASON_COLUMN, row_id=row_id)


def _reason(reason: str) -> str:
    text = reason.strip()
    if not 10 <= len(text) <= MAX_REASON:
        raise InvalidInput(f"reason: 10 to {MAX_REASON} characters; say why", field="reason")
    return text


async def _store(
    session: AsyncSession, loan: Loan, rows: Sequence[Installment], lines: Sequence[money.Line]
) -> None:
    """Write the accelerated schedule: the called instalment replaces those after it."""
    by_sequence = {row.sequence: row for row in rows}
    last = lines[-1]
    await session.execute(
        delete(Installment)
        .where(Installment.loan_id == loan.id, Installment.sequence > last.sequence)
        .execution_options(synchronize_session=False)
    )
    for sequence, row in by_sequence.items():
        if sequence > last.sequence:
            session.expunge(row)
    row = by_sequence[last.sequence]
    row.due_on = last.due_on
    row.principal_due = last.principal_due
    row.principal_paid = last.principal_paid
    row.interest_due = last.interest_due
    row.fee_due = last.fee_due
    if not last.settled:
        row.settled_on = None
    elif row.settled_on is None:
        row.settled_on = last.due_on
