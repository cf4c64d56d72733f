"""Daily accrual against the database: charges once, books balanced, reversals exact."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind, JournalEntry
from domain.lending import charges, reversal
from domain.lending import repayment as money
from domain.lending import service as lending
from domain.lending.models import Installment, Loan
from kernel.base import utcnow
from tests.domain.ledger.books import disbursed_loan, receivables, servicing_balances

D = Decimal


async def entries(s: AsyncSession, kind: EntryKind | None = None) -> int:
    stmt = select(func.count()).select_from(JournalEntry)
    if kind is not None:
        stmt = stmt.where(JournalEntry.kind == kind)
    return int(await s.scalar(stmt) or 0)


async def test_accrual_charges_once_and_the_books_follow_payments_and_reversals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    today = utcnow().date()
    start = today - timedelta(days=100)
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=start, charged=True)

    # when: accrued through today, twice
    async with sessions() as s, s.begin():
        first = await charges.accrue(s, as_of=today, institution_id=booked.institution_id)
    async with sessions() as s:
        posted = await entries(s)
    async with sessions() as s, s.begin():
        again = await charges.accrue(s, as_of=today, institution_id=booked.institution_id)

    # then: three instalments overdue past grace, each with its late fee (25 + 2% of
    # about 1,030, capped at 40), penalty interest and every day's interest earned
    assert first.loans == 1
    assert again.loans == 0
    assert first.late_fees_charged == 3
    assert first.late_fees == D("120.00")
    assert first.penalty > 0
    assert first.interest > 0
    async with sessions() as s:
        assert await entries(s) == posted
        assert await entries(s, EntryKind.CHARGE) == 3
        loan = await s.get_one(Loan, booked.loan_id)
        assert loan.accrued_through == today
        assert await receivables(s, booked.loan_id) == await servicing_balances(s, booked.loan_id)

    # when: a payment dated before the accrual pays the loan off, then bounces
    async with sessions() as s, s.begin():
        rows = (await s.scalars(select(Installment).where(Installment.loan_id == loan.id))).all()
        payoff = money.payoff_amount([lending.line_of(r) for r in rows], paid_on=today)
        await lending.record_repayment(
            s, booked.officer, loan.id, idempotency_key="all", amount=payoff, paid_on=today
        )
    async with sessions() as s:
        assert await receivables(s, booked.loan_id) == {}
        assert await servicing_balances(s, booked.loan_id) == {}
        trial = await ledger.trial_balance(s, institution_id=booked.institution_id, as_of=today)
        assert trial.balanced
    async with sessions() as s, s.begin():
        await reversal.reverse_repayment(
            s, booked.officer, loan.id, idempotency_key="all", reason="bounced"
        )
    async with sessions() as s:
        held = await receivables(s, booked.loan_id)
        assert held == await servicing_balances(s, booked.loan_id)
        assert held[AccountCode.FEES_RECEIVABLE] == D("120.00")
