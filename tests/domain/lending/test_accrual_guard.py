"""The accrual's version guard over a batch of loans, on both databases: a batch of
several loans accrues; a loan changed since it was read fails the batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.lending import charges
from domain.lending.models import Loan
from domain.products.models import Product
from kernel.base import utcnow
from kernel.errors import Conflict
from tests.domain.ledger.books import disbursed_loan, receivables, servicing_balances


async def test_a_batch_of_loans_accrues_and_one_changed_meanwhile_fails_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: three loans (asyncpg counts no rows of a multi-row executemany)
    today = utcnow().date()
    async with sessions() as s, s.begin():
        booked = [await disbursed_loan(s, on=today - timedelta(days=40)) for _ in range(3)]
    ids = [b.loan_id for b in booked]

    # when: read as the accrual reads them, then one is paid (its version moves)
    async with sessions() as s:
        rows = (
            await s.execute(select(Loan, Product).join(Product, Product.id == Loan.product_id))
        ).all()
        read = [
            charges._LoanRead(
                id=loan.id,
                version=loan.version,
                institution_id=loan.institution_id,
                disbursed_on=loan.disbursed_on,
                accrued_through=loan.accrued_through,
                terms=charges.terms_of(product),
            )
            for loan, product in rows
        ]
        before = {loan.id: loan.updated_at for loan, _ in rows}
    async with sessions() as s, s.begin():
        await s.execute(update(Loan).where(Loan.id == ids[1]).values(version=Loan.version + 1))

    # then: the stale batch is refused whole
    with pytest.raises(Conflict):
        async with sessions() as s, s.begin():
            await charges._accrue_batch(s, read, as_of=today)

    # and read afresh, every loan accrues, its books on its schedule
    async with sessions() as s, s.begin():
        done = await charges.accrue(s, as_of=today, loan_ids=ids, batch=2)
    assert done.loans == 3
    async with sessions() as s:
        for loan_id in ids:
            loan = await s.get_one(Loan, loan_id)
            assert loan.accrued_through == today
            # the incremental risk scan reads updated_at: it moves on both databases
            assert loan.updated_at > before[loan_id]
            assert await receivables(s, loan_id) == await servicing_balances(s, loan_id)
