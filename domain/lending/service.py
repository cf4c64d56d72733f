"""Loans from disbursement to closing: booking the schedule, taking repayments, ageing.

Repayments carry an idempotency key: the same key on the same loan records once and
answers the first result again, so a client may retry a payment it is unsure of.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Table, and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from domain.analytics import service as analytics
from domain.applications import repository as applications
from domain.applications import states
from domain.applications.models import ApplicationStatus
from domain.applications.service import REVIEWERS, Actor, load_for_change, move, require_role
from domain.audit.service import record
from domain.identity.models import Role
from domain.ledger import loans as books
from domain.lending import charges, reversal
from domain.lending import repayment as money
from domain.lending import repository as repo
from domain.lending.delinquency import bucket_for, days_past_due
from domain.lending.errors import LoanSold as LoanSold  # raised here; claims re-raises it
from domain.lending.models import (
    DelinquencyBucket,
    EarlyRepaymentChoice,
    Installment,
    Loan,
    LoanStatus,
    Repayment,
)
from domain.lending.schedule import ZERO, add_months
from domain.products.models import DayCount, Product
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound

# Who may write a loan off: a credit decision above the officer who services it.
WRITERS_OFF = frozenset({Role.INSTITUTION_ADMIN, Role.RISK_OFFICER})


MAX_KEY = 64


async def disburse(
    session: AsyncSession,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    disbursed_on: date | None = None,
    expected_version: int | None = None,
) -> Loan:
    """Pay out a signed contract: the loan and its schedule are booked as signed."""
    application = await load_for_change(session, actor.viewer, application_id, expected_version)
    require_role(actor.viewer, application.institution_id, REVIEWERS, "disburse")
    today = utcnow().date()
    paid_out = disbursed_on or today
    if paid_out > today:
        raise InvalidInput(
            "disbursedOn: money cannot be paid out in the future", field="disbursedOn"
        )
    states.check(application.status, ApplicationStatus.DISBURSED)
    contract = await applications.contract_of(session, application.id)
    if contract is None or contract.accepted_at is None:  # signing always writes both
        raise NotFound("the signed contract is missing")
    if paid_out < contract.accepted_at.date():
        raise InvalidInput("disbursedOn: before the contract was signed", field="disbursedOn")
    terms = contract.terms
    lines = terms["instalments"]
    loan = Loan(
        id=new_id(),
        application_id=application.id,
        enterprise_id=application.enterprise_id,
        institution_id=application.institution_id,
        product_id=application.product_id,
        principal=Decimal(terms["principal"]),
        annual_rate=Decimal(terms["annual_rate"]),
        term_months=int(terms["term_months"]),
        repayment_method=application.repayment_method,
        disbursed_on=paid_out,
        maturity_on=add_months(paid_out, len(lines)),
        status=LoanStatus.ACTIVE,
        outstanding_principal=Decimal(terms["principal"]),
        days_past_due=0,
        delinquency_bucket=DelinquencyBucket.CURRENT,
        aged_on=paid_out,
    )
    session.add(loan)
    await move(session, actor, application, ApplicationStatus.DISBURSED, loan=str(loan.id))
    await session.execute(
        insert(Installment),
        [
            {
                "id": new_id(),
                "loan_id": loan.id,
                "sequence": line["sequence"],
                "due_on": add_months(paid_out, line["sequence"]),
                "principal_due": Decimal(line["principal"]),
                "interest_due": Decimal(line["interest"]),
                "fee_due": Decimal(line["fee"]),
                "principal_paid": ZERO,
                "interest_paid": ZERO,
                "fee_paid": ZERO,
            }
            for line in lines
        ],
    )
    await session.flush()  # the entry's lines name the loan
    await books.disbursed(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        principal=loan.principal,
        on=paid_out,
        actor_id=actor.user_id,
    )
    record(
        session,
        action="loan.disbursed",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        principal=terms["principal"],
        disbursed_on=paid_out.isoformat(),
    )
    return loan


@dataclass(frozen=True, slots=True)
class Recorded:
    repayment: Repayment
    loan: Loan
    replayed: bool  # True when the key had been used: the first result, nothing new written


async def record_repayment(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    idempotency_key: str,
    amount: Decimal,
    paid_on: date | None = None,
    early_choice: EarlyRepaymentChoice = EarlyRepaymentChoice.SHORTER_TERM,
) -> Recorded:
    """Take money against a loan: fees, then interest, then principal, oldest first;
    anything beyond what is due repays principal early and the schedule is recomputed."""
    key = idempotency_key.strip()
    if not 1 <= len(key) <= MAX_KEY:
        raise InvalidInput(f"idempotencyKey: 1 to {MAX_KEY} characters", field="idempotencyKey")
    loan = await _loan(session, actor, loan_id, roles=REVIEWERS, doing="record repayments")
    earlier = await repo.repayment_by_key(session, loan_id=loan.id, key=key)
    if earlier is not None:
        if earlier.amount != amount:
            raise Conflict(
                f"idempotency key {key!r} was used for a payment of {earlier.amount:,.2f}"
            )
        return Recorded(repayment=earlier, loan=loan, replayed=True)
    if loan.sold_on is not None:
        raise LoanSold(
            f"the loan's claim was sold on {loan.sold_on}: its payments are the buyer's",
            field="loanId",
        )
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}: it takes no more payments", field="loanId"
        )
    today = utcnow().date()
    day = paid_on or today
    if day > today or day < loan.disbursed_on:
        raise InvalidInput("paidOn: between the disbursement and today", field="paidOn")
    latest = await repo.latest_repayment_day(session, loan.id)
    if latest is not None and day < latest:
        # Allocation replays the schedule forward in time; an earlier day would rewrite
        # what later payments already settled.
        raise InvalidInput(
            f"paidOn: not before the latest repayment recorded ({latest})", field="paidOn"
        )
    rows = await repo.installments_of(session, loan.id)
    before = reversal.snapshot(loan, list(rows))
    allocation = money.allocate(
        [line_of(r) for r in rows],
        amount,
        paid_on=day,
        annual_rate=loan.annual_rate,
        method=loan.repayment_method,
        option=early_choice,
        day_count=await day_count_of(session, loan),
        disbursed_on=loan.disbursed_on,
    )
    await _store_lines(session, loan, rows, allocation.lines, paid_on=day)
    repayment = Repayment(
        loan_id=loan.id,
        idempotency_key=key,
        amount=amount,
        paid_on=day,
        principal_part=allocation.principal,
        interest_part=allocation.interest,
        fee_part=allocation.fee + allocation.late_fee + allocation.penalty,
        late_fee_part=allocation.late_fee,
        penalty_part=allocation.penalty,
        prepaid_principal=allocation.prepaid_principal,
        early_choice=early_choice if allocation.prepaid_principal > 0 else None,
        recorded_by=actor.user_id,
        before=before,
    )
    session.add(repayment)
    loan.outstanding_principal -= allocation.principal
    # A payment of fees or interest alone changes no loan column; the version must move
    # all the same, so two payments racing on one loan collide instead of both landing.
    flag_modified(loan, "outstanding_principal")
    unpaid = [line.due_on for line in allocation.lines if not line.settled]
    loan.days_past_due = days_past_due(unpaid, as_of=max(day, loan.aged_on or day))
    loan.delinquency_bucket = bucket_for(loan.days_past_due)
    loan.maturity_on = max(line.due_on for line in allocation.lines)
    loan.term_months = len(allocation.lines)
    if money.is_paid_off(allocation.lines):
        loan.status = LoanStatus.CLOSED
        loan.closed_on = day
        loan.days_past_due = 0
        loan.delinquency_bucket = DelinquencyBucket.CURRENT
    await session.flush()
    await books.repaid(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        repayment_id=repayment.id,
        on=day,
        principal=allocation.principal,
        interest=allocation.interest,
        fee=allocation.fee,
        late_fee=allocation.late_fee,
        penalty=allocation.penalty,
        actor_id=actor.user_id,
    )
    await charges.true_up(session, loan, source=f"repayment:{repayment.id}:accrual", on=day)
    record(
        session,
        action="loan.repayment",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        amount=str(amount),
        idempotency_key=key,
        closed=loan.status is LoanStatus.CLOSED,
    )
    return Recorded(repayment=repayment, loan=loan, replayed=False)


async def write_off(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    reason: str,
    written_off_on: date | None = None,
) -> Loan:
    """Only a decision with a reason, by an institution admin or risk officer, writes off."""
    loan = await _loan(session, actor, loan_id, roles=WRITERS_OFF, doing="write a loan off")
    if actor.user_id is None:
        raise Forbidden("only a person may write a loan off")
    if not 10 <= len(reason.strip()) <= 2000:
        raise InvalidInput(
            "reason: 10 to 2000 characters; say why the loan is lost", field="reason"
        )
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}; only an active loan is written off", field="loanId"
        )
    day = written_off_on or utcnow().date()
    if not loan.disbursed_on <= day <= utcnow().date():
        raise InvalidInput("writtenOffOn: between the disbursement and today", field="writtenOffOn")
    loan.status = LoanStatus.WRITTEN_OFF
    loan.written_off_on = day
    loan.write_off_reason = reason.strip()
    loan.written_off_by = actor.user_id
    await session.flush()
    await books.written_off(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        on=day,
        actor_id=actor.user_id,
    )
    record(
        session,
        action="loan.written_off",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        outstanding_principal=str(loan.outstanding_principal),
        reason=loan.write_off_reason,
    )
    return loan


@dataclass(frozen=True, slots=True)
class Aged:
    as_of: date
    loans: int  # active loans looked at
    changed: int  # loans whose days past due or bucket moved
    buckets: dict[DelinquencyBucket, int]
    snapshots: int = 0  # month-end snapshot rows written (as_of the last day of a month)


async def age_loans(
    session: AsyncSession,
    *,
    as_of: date,
    batch: int = 5000,
    institution_id: uuid.UUID | None = None,
    snapshot: bool = True,
) -> Aged:
    """Bring every active loan's days past due and bucket up to ``as_of``.

    Two grouped reads and one batched UPDATE per ``batch`` changed loans; run daily.
    Each update is guarded by the loan's version, so a repayment recorded meanwhile wins
    and the loan is left for the next run (it recomputed its own figures). On the last
    day of a month the aged book is also kept as that month's snapshot (the history
    roll rates and vintage curves read), unless ``snapshot`` is false (the month-end
    close takes it as a step of its own). ``institution_id``: that book only.
    """
    oldest = (
        select(Installment.loan_id, func.min(Installment.due_on).label("oldest"))
        .where(Installment.settled_on.is_(None), Installment.due_on < as_of)
        .group_by(Installment.loan_id)
        .subquery()
    )
    stmt = (
        select(Loan.id, Loan.version, Loan.days_past_due, Loan.delinquency_bucket, oldest.c.oldest)
        .outerjoin(oldest, oldest.c.loan_id == Loan.id)
        .where(Loan.status == LoanStatus.ACTIVE)
    )
    if institution_id is not None:
        stmt = stmt.where(Loan.institution_id == institution_id)
    changes: list[dict[str, object]] = []
    buckets: dict[DelinquencyBucket, int] = dict.fromkeys(DelinquencyBucket, 0)
    looked = 0
    for loan_id, version, dpd, bucket, oldest_due in (await session.execute(stmt)).all():
        looked += 1
        new_dpd = 0 if oldest_due is None else (as_of - oldest_due).days
        new_bucket = bucket_for(new_dpd)
        buckets[new_bucket] += 1
        if new_dpd != dpd or new_bucket is not bucket:
            changes.append(
                {"b_id": loan_id, "b_version": version, "dpd": new_dpd, "bucket": new_bucket}
            )
    table: Table = Loan.__table__  # type: ignore[assignment]
    guarded = (
        update(table)
        .where(and_(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version")))
        .values(
            days_past_due=bindparam("dpd"),
            delinquency_bucket=bindparam("bucket"),
            aged_on=as_of,
            version=table.c.version + 1,
        )
    )
    for start in range(0, len(changes), batch):
        await session.execute(guarded, changes[start : start + batch])
    snapshots = (
        await analytics.snapshot_month(session, month_end=as_of, institution_id=institution_id)
        if snapshot and analytics.is_month_end(as_of)
        else 0
    )
    record(
        session,
        action="loans.aged",
        entity_type="loans",
        entity_id=as_of.isoformat(),
        looked=looked,
        changed=len(changes),
        snapshots=snapshots,
    )
    return Aged(
        as_of=as_of, loans=looked, changed=len(changes), buckets=buckets, snapshots=snapshots
    )


# -------------------------------------------------------------------------------- helpers


async def _loan(
    session: AsyncSession, actor: Actor, loan_id: uuid.UUID, *, roles: frozenset[Role], doing: str
) -> Loan:
    found = await repo.loans_by_ids(session, viewer=actor.viewer, ids=[loan_id])
    if not found:
        raise NotFound("no such loan")
    loan = found[0]
    require_role(actor.viewer, loan.institution_id, roles, doing)
    return loan


async def day_count_of(session: AsyncSession, loan: Loan) -> DayCount:
    """The loan's product's day count: a rebuilt schedule counts its periods by it."""
    found = await session.scalar(select(Product.day_count).where(Product.id == loan.product_id))
    assert found is not None  # products are never deleted under a loan (RESTRICT)
    return found


def line_of(row: Installment) -> money.Line:
    return money.Line(
        sequence=row.sequence,
        due_on=row.due_on,
        principal_due=row.principal_due,
        interest_due=row.interest_due,
        fee_due=row.fee_due,
        principal_paid=row.principal_paid,
        interest_paid=row.interest_paid,
        fee_paid=row.fee_paid,
        late_fee_due=row.late_fee_due,
        late_fee_paid=row.late_fee_paid,
        penalty_due=row.penalty_due,
        penalty_paid=row.penalty_paid,
    )


async def _store_lines(
    session: AsyncSession,
    loan: Loan,
    rows: Sequence[Installment],
    lines: Sequence[money.Line],
    *,
    paid_on: date,
) -> None:
    """Write back the lines a payment changed; drop those a shorter term removed."""
    by_sequence = {row.sequence: row for row in rows}
    kept = set()
    for line in lines:
        kept.add(line.sequence)
        row = by_sequence.get(line.sequence)
        if row is None:
            session.add(
                Installment(
                    loan_id=loan.id,
                    sequence=line.sequence,
                    due_on=line.due_on,
                    principal_due=line.principal_due,
                    interest_due=line.interest_due,
                    fee_due=line.fee_due,
                    principal_paid=line.principal_paid,
                    interest_paid=line.interest_paid,
                    fee_paid=line.fee_paid,
                    late_fee_due=line.late_fee_due,
                    late_fee_paid=line.late_fee_paid,
                    penalty_due=line.penalty_due,
                    penalty_paid=line.penalty_paid,
                    settled_on=paid_on if line.settled else None,
                )
            )
            continue
        if line_of(row) == line:
            continue
        row.due_on = line.due_on
        row.principal_due = line.principal_due
        row.interest_due = line.interest_due
        row.fee_due = line.fee_due
        row.principal_paid = line.principal_paid
        row.interest_paid = line.interest_paid
        row.fee_paid = line.fee_paid
        row.late_fee_due = line.late_fee_due
        row.late_fee_paid = line.late_fee_paid
        row.penalty_due = line.penalty_due
        row.penalty_paid = line.penalty_paid
        if line.settled and row.settled_on is None:
            row.settled_on = paid_on
    for sequence, row in by_sequence.items():
        if sequence not in kept:
            await session.delete(row)
