"""The per-loan accrual as it was before it became set-based (main at 9bcb40b), kept
only as the oracle of the differential test: every instalment of every loan read and
``interest_receivable`` taken over all of them, then and now, per loan.

Its one change: the loans' marker is moved without the executemany row-count check
(asyncpg reports no row count for an executemany, which failed every batch of more
than one loan on PostgreSQL); what it posts is untouched.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Posting
from domain.lending.charges import (
    ZERO,
    Row,
    Terms,
    _LoanRead,
    _moves,
    charge_lines,
    interest_receivable,
)
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import Product


async def accrue_per_loan(
    session: AsyncSession,
    *,
    as_of: date,
    institution_id: uuid.UUID | None = None,
    batch: int = 2000,
) -> dict[str, Decimal]:
    totals = {"interest": ZERO, "penalty": ZERO, "late_fees": ZERO, "charged": Decimal(0)}
    after: uuid.UUID | None = None
    while True:
        stmt = (
            select(
                Loan.id,
                Loan.version,
                Loan.institution_id,
                Loan.disbursed_on,
                Loan.accrued_through,
                Product.day_count,
                Product.grace_days,
                Product.late_fee_fixed,
                Product.late_fee_rate,
                Product.late_fee_cap,
                Product.penalty_rate,
                Product.penalty_cap_multiple,
            )
            .join(Product, Product.id == Loan.product_id)
            .where(
                Loan.status == LoanStatus.ACTIVE,
                (Loan.accrued_through.is_(None)) | (Loan.accrued_through < as_of),
                Loan.disbursed_on < as_of,
            )
            .order_by(Loan.id)
            .limit(batch)
        )
        if institution_id is not None:
            stmt = stmt.where(Loan.institution_id == institution_id)
        if after is not None:
            stmt = stmt.where(Loan.id > after)
        found = [
            _LoanRead(
                id=r[0],
                version=r[1],
                institution_id=r[2],
                disbursed_on=r[3],
                accrued_through=r[4],
                terms=Terms(*r[5:]),
            )
            for r in (await session.execute(stmt)).all()
        ]
        if not found:
            return totals
        after = found[-1].id
        result = await _accrue_batch(session, found, as_of=as_of)
        for key in totals:
            totals[key] += result[key]


async def _accrue_batch(
    session: AsyncSession, loans: Sequence[_LoanRead], *, as_of: date
) -> dict[str, Decimal]:
    stmt = select(
        Installment.loan_id,
        Installment.id,
        Installment.sequence,
        Installment.due_on,
        Installment.principal_due,
        Installment.interest_due,
        Installment.fee_due,
        Installment.principal_paid,
        Installment.interest_paid,
        Installment.fee_paid,
        Installment.late_fee_due,
        Installment.late_fee_paid,
        Installment.late_fee_charged_on,
        Installment.penalty_due,
        Installment.penalty_paid,
    ).where(Installment.loan_id.in_([loan.id for loan in loans]))
    by_loan: dict[uuid.UUID, list[Row]] = defaultdict(list)
    for r in (await session.execute(stmt)).all():
        by_loan[r[0]].append(Row(*tuple(r)[1:]))
    postings: list[Posting] = []
    changes: list[dict[str, object]] = []
    interest_total = penalty_total = fee_total = ZERO
    charged = 0
    for loan in loans:
        rows = by_loan[loan.id]
        dc = loan.terms.day_count
        since = loan.accrued_through or loan.disbursed_on
        before = interest_receivable(
            rows, disbursed_on=loan.disbursed_on, through=loan.accrued_through, day_count=dc
        )
        now = interest_receivable(rows, disbursed_on=loan.disbursed_on, through=as_of, day_count=dc)
        interest = now - before
        penalty = ZERO
        for row, fee, pen in charge_lines(rows, terms=loan.terms, since=since, as_of=as_of):
            penalty += pen
            changes.append(
                {
                    "b_id": row.id,
                    "late_fee_due": row.late_fee_due + fee,
                    "late_fee_charged_on": (
                        row.due_on + timedelta(days=loan.terms.grace_days + 1)
                        if fee
                        else row.late_fee_charged_on
                    ),
                    "penalty_due": row.penalty_due + pen,
                }
            )
            if fee:
                charged += 1
                fee_total += fee
                postings.append(
                    Posting(
                        institution_id=loan.institution_id,
                        loan_id=loan.id,
                        kind=EntryKind.CHARGE,
                        effective_on=as_of,
                        source=f"late_fee:{row.id}",
                        legs=_moves(AccountCode.FEES_RECEIVABLE, fee),
                        memo=f"late fee, instalment {row.sequence}",
                    )
                )
        interest_total += interest
        penalty_total += penalty
        legs = [
            *_moves(AccountCode.INTEREST_RECEIVABLE, interest),
            *_moves(AccountCode.PENALTIES_RECEIVABLE, penalty),
        ]
        postings.append(
            Posting(
                institution_id=loan.institution_id,
                loan_id=loan.id,
                kind=EntryKind.ACCRUAL,
                effective_on=as_of,
                source=f"accrual:{loan.id}:{as_of.isoformat()}",
                legs=legs,
                memo="daily accrual",
            )
        )
    loans_table: Table = Loan.__table__  # type: ignore[assignment]
    guarded = (
        update(loans_table)
        .where(
            and_(
                loans_table.c.id == bindparam("b_id"),
                loans_table.c.version == bindparam("b_version"),
            )
        )
        .values(accrued_through=as_of, version=loans_table.c.version + 1)
    )
    await session.execute(guarded, [{"b_id": loan.id, "b_version": loan.version} for loan in loans])
    if changes:
        rows_table: Table = Installment.__table__  # type: ignore[assignment]
        await session.execute(
            update(rows_table)
            .where(rows_table.c.id == bindparam("b_id"))
            .values(
                late_fee_due=bindparam("late_fee_due"),
                late_fee_charged_on=bindparam("late_fee_charged_on"),
                penalty_due=bindparam("penalty_due"),
            ),
            changes,
        )
    await ledger.post_many(session, postings)
    return {
        "interest": interest_total,
        "penalty": penalty_total,
        "late_fees": fee_total,
        "charged": Decimal(charged),
    }
