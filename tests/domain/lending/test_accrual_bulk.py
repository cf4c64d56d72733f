"""The set-based accrual posts exactly what the per-loan accrual posted.

A seeded book of loans on products of every day count, with and without grace, late
fees, caps and penalty interest, some part paid, some with fees already charged, some
accrued before and some never, is accrued through three days in turn. Each day the
per-loan path (``accrual_reference``) runs first and is rolled back, then the bulk path
runs on the same rows and is kept: the entries, their lines, the instalments' charges,
the loans' markers and the totals must be the same to the cent.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity.models import Role
from domain.ledger import loans as books
from domain.ledger.models import JournalEntry, JournalLine, LedgerAccount
from domain.lending import charges
from domain.lending.models import Installment, Loan
from domain.products.models import DayCount, Product
from kernel.base import utcnow
from kernel.errors import Conflict
from tests import factories as f
from tests.domain.ledger.books import disbursed_loan
from tests.domain.lending.accrual_reference import accrue_per_loan

D = Decimal


async def _book(s: AsyncSession, rng: random.Random, *, today: date, loans: int) -> uuid.UUID:
    bank = await f.institution(s)
    products = []
    for day_count in DayCount:
        for charged in (False, True):
            product = await f.product(s, institution_id=bank.id)
            product.day_count = day_count
            if charged:
                product.grace_days = rng.choice([0, 3, 10])
                product.late_fee_fixed = D(rng.choice(["0.00", "25.00"]))
                product.late_fee_rate = D(rng.choice(["0.000000", "0.020000", "0.035000"]))
                product.late_fee_cap = rng.choice([None, D("40.00"), D("15.50")])
                product.penalty_rate = D(rng.choice(["0.180000", "0.365000"]))
                product.penalty_cap_multiple = rng.choice([None, D("0.050000"), D("0.010000")])
            products.append(product)
    owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
    enterprise = await f.enterprise(s, owner_id=owner.id)
    for _ in range(loans):
        product = rng.choice(products)
        application = await f.application(
            s,
            enterprise_id=enterprise.id,
            product_row=product,
            amount=f"{rng.randrange(10_000, 500_000)}.{rng.randrange(100):02d}",
        )
        application.term_months = rng.choice([3, 6, 12])
        on = today - timedelta(days=rng.randrange(1, 400))
        loan = await f.booked_loan(
            s,
            application_row=application,
            disbursed_on=on,
            annual_rate=rng.choice(["0.045000", "0.060000", "0.123456"]),
        )
        await books.disbursed(
            s,
            institution_id=bank.id,
            loan_id=loan.id,
            principal=loan.principal,
            on=on,
            actor_id=None,
        )
        if rng.random() < 0.5:  # accrued before, up to some day since the payout
            loan.accrued_through = on + timedelta(days=rng.randrange(0, (today - on).days + 1))
        await s.flush()
        rows = (await s.scalars(select(Installment).where(Installment.loan_id == loan.id))).all()
        for row in rows:
            if row.due_on >= today:
                continue
            state = rng.random()
            if state < 0.3:  # paid in full
                row.principal_paid, row.interest_paid = row.principal_due, row.interest_due
            elif state < 0.5:  # part paid
                row.interest_paid = row.interest_due
                row.principal_paid = (row.principal_due * D(rng.random())).quantize(D("0.01"))
            elif state < 0.6:  # its late fee and some penalty interest charged before
                row.late_fee_due = D("20.00")
                row.late_fee_charged_on = row.due_on + timedelta(days=1)
                row.penalty_due = D(f"{rng.randrange(0, 5000)}.{rng.randrange(100):02d}")
    await s.flush()
    return bank.id


async def _state(s: AsyncSession, bank: uuid.UUID) -> dict[str, Any]:
    entries = {
        e.id: (e.source, e.kind, e.effective_on, e.loan_id, e.memo)
        for e in (
            await s.scalars(select(JournalEntry).where(JournalEntry.institution_id == bank))
        ).all()
    }
    lines = (
        await s.execute(
            select(JournalLine.entry_id, LedgerAccount.code, JournalLine.debit, JournalLine.credit)
            .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
            .where(LedgerAccount.institution_id == bank)
        )
    ).all()
    posted: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {e: [] for e in entries.values()}
    for entry_id, code, debit, credit in lines:
        posted[entries[entry_id]].append((code.value, debit, credit))
    loans = (
        await s.execute(
            select(Loan.id, Loan.accrued_through, Loan.version).where(Loan.institution_id == bank)
        )
    ).all()
    instalments = (
        await s.execute(
            select(
                Installment.id,
                Installment.late_fee_due,
                Installment.late_fee_charged_on,
                Installment.penalty_due,
            )
            .join(Loan, Loan.id == Installment.loan_id)
            .where(Loan.institution_id == bank)
        )
    ).all()
    return {
        "posted": {k: sorted(v) for k, v in posted.items()},
        "loans": sorted(tuple(r) for r in loans),
        "instalments": sorted(tuple(r) for r in instalments),
    }


@pytest.mark.parametrize("seed", [7, 2026])
async def test_bulk_accrual_posts_what_the_per_loan_accrual_posted(
    sessions: async_sessionmaker[AsyncSession], seed: int
) -> None:
    rng = random.Random(seed)
    today = utcnow().date()
    async with sessions() as s, s.begin():
        bank = await _book(s, rng, today=today, loans=40)
    days = [today - timedelta(days=45), today - timedelta(days=12), today]
    seen = {"interest": False, "penalty": False, "late_fees": False}
    for day in days:
        # the per-loan path, rolled back
        async with sessions() as s:
            want_totals = await accrue_per_loan(s, as_of=day, institution_id=bank, batch=7)
            want = await _state(s, bank)
            await s.rollback()
        # the bulk path on the same rows, kept for the next day
        async with sessions() as s, s.begin():
            got_totals = await charges.accrue(s, as_of=day, institution_id=bank, batch=7)
            got = await _state(s, bank)
        assert got["posted"] == want["posted"], day
        assert got["instalments"] == want["instalments"], day
        assert got["loans"] == want["loans"], day
        assert (got_totals.interest, got_totals.penalty, got_totals.late_fees) == (
            want_totals["interest"],
            want_totals["penalty"],
            want_totals["late_fees"],
        )
        assert got_totals.late_fees_charged == want_totals["charged"]
        for key in seen:
            seen[key] |= want_totals[key] > 0
    # the book exercised what it is for: interest, fees and penalty interest were charged
    assert all(seen.values()), seen


async def test_a_loan_changed_since_it_was_read_fails_the_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    today = utcnow().date()
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=today - timedelta(days=40), charged=True)
        other = await disbursed_loan(s, on=today - timedelta(days=70), charged=True)
    async with sessions() as s:
        read = []
        for loan_id in sorted([booked.loan_id, other.loan_id]):
            loan = await s.get_one(Loan, loan_id)
            product = await s.get_one(Product, loan.product_id)
            read.append(
                charges._LoanRead(
                    id=loan.id,
                    version=loan.version,
                    institution_id=loan.institution_id,
                    disbursed_on=loan.disbursed_on,
                    accrued_through=loan.accrued_through,
                    terms=charges.terms_of(product),
                )
            )
        await s.rollback()
    # when: one of the two loans moves on (a payment, say) after the batch read it
    async with sessions() as s, s.begin():
        changed = await s.get_one(Loan, booked.loan_id)
        changed.version += 1
    # then: the batch fails whole, on every driver (one statement's row count)
    async with sessions() as s:
        with pytest.raises(Conflict):
            await charges._accrue_batch(s, read, as_of=today)
        await s.rollback()
    # and the run over the book accrues both once it is read again
    async with sessions() as s, s.begin():
        done = await charges.accrue(s, as_of=today, loan_ids=[booked.loan_id, other.loan_id])
    assert done.loans == 2
