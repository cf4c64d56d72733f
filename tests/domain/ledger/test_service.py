"""Posting: balanced or refused, once per source, corrected only by reversal; and the
entries disbursement, repayment and write-off post, equal to the loan's own figures."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger import service as ledger
from domain.ledger.chart import CHART, AccountCode
from domain.ledger.errors import AlreadyReversed, UnbalancedEntry
from domain.ledger.models import EntryKind, JournalEntry, JournalLine
from domain.ledger.service import Leg
from domain.lending import service as lending
from domain.lending.schedule import add_months
from kernel.base import utcnow
from tests import factories as f
from tests.domain.ledger.books import disbursed_loan, receivables, servicing_balances

A = AccountCode
DAY = date(2026, 3, 31)


def _cash_in(amount: str) -> list[Leg]:
    return [Leg.debit(A.CASH, Decimal(amount)), Leg.credit(A.FEE_INCOME, Decimal(amount))]


async def _charge(
    s: AsyncSession, institution_id: uuid.UUID, source: str, legs: list[Leg]
) -> uuid.UUID | None:
    """A fee received in cash on DAY, as ``source``."""
    return await ledger.post(
        s,
        institution_id=institution_id,
        kind=EntryKind.CHARGE,
        effective_on=DAY,
        source=source,
        legs=legs,
    )


async def test_a_balanced_entry_posts_its_lines_and_moves_the_trial_balance(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        bank = await f.institution(s)

        # when
        entry = await _charge(
            s,
            bank.id,
            "test:1",
            [*_cash_in("100.10"), Leg.credit(A.PENALTY_INCOME, Decimal("0.00"))],
        )

    # then: the zero leg is dropped, the chart opened, the totals moved on that day only
    async with sessions() as s:
        lines = (await s.scalars(select(JournalLine).where(JournalLine.entry_id == entry))).all()
        before = await ledger.trial_balance(s, institution_id=bank.id, as_of=DAY - timedelta(1))
        after = await ledger.trial_balance(s, institution_id=bank.id, as_of=DAY)
    assert sorted((line.debit, line.credit) for line in lines) == [
        (Decimal("0.00"), Decimal("100.10")),
        (Decimal("100.10"), Decimal("0.00")),
    ]
    assert [a.code for a in after.accounts] == [spec.code for spec in CHART]
    assert (before.debits, before.credits) == (Decimal("0.00"), Decimal("0.00"))
    assert (after.debits, after.credits, after.balanced) == (
        Decimal("100.10"),
        Decimal("100.10"),
        True,
    )
    balances = {a.code: a.balance for a in after.accounts}
    assert balances[A.CASH] == Decimal("100.10")
    assert balances[A.FEE_INCOME] == Decimal("100.10")  # credit-normal: positive


@pytest.mark.parametrize(
    "legs",
    [
        [Leg.debit(A.CASH, Decimal("10.00")), Leg.credit(A.FEE_INCOME, Decimal("9.99"))],
        [Leg.debit(A.CASH, Decimal("10.001")), Leg.credit(A.FEE_INCOME, Decimal("10.001"))],
        [Leg.debit(A.CASH, Decimal("-5.00")), Leg.credit(A.FEE_INCOME, Decimal("-5.00"))],
        [Leg(A.CASH, Decimal("1.00"), Decimal("1.00"))],
    ],
    ids=["unequal", "below-a-cent", "negative", "both-sides"],
)
async def test_an_unbalanced_entry_is_refused_and_nothing_is_written(
    sessions: async_sessionmaker[AsyncSession], legs: list[Leg]
) -> None:
    # given
    async with sessions() as s, s.begin():
        bank = await f.institution(s)

    # when / then
    async with sessions() as s, s.begin():
        with pytest.raises(UnbalancedEntry):
            await _charge(s, bank.id, "test:bad", legs)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(JournalEntry)) == 0


async def test_a_source_posts_once_however_often_it_is_posted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        first = await _charge(s, bank.id, "close:2026-03-31:x", _cash_in("5.00"))

    # when
    async with sessions() as s, s.begin():
        again = await _charge(s, bank.id, "close:2026-03-31:x", _cash_in("5.00"))

    # then
    async with sessions() as s:
        tb = await ledger.trial_balance(s, institution_id=bank.id, as_of=DAY)
        entries = await s.scalar(select(func.count()).select_from(JournalEntry))
    assert again == first
    assert entries == 1
    assert tb.debits == Decimal("5.00")


async def test_a_reversal_mirrors_the_entry_once_and_brings_the_books_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        entry = await _charge(s, bank.id, "charge:1", _cash_in("42.00"))
        assert entry is not None

    # when
    async with sessions() as s, s.begin():
        reversal = await ledger.reverse(
            s, entry_id=entry, effective_on=DAY + timedelta(1), source="reversal:charge:1"
        )

    # then
    async with sessions() as s:
        on_the_day = await ledger.trial_balance(s, institution_id=bank.id, as_of=DAY)
        after = await ledger.trial_balance(s, institution_id=bank.id, as_of=DAY + timedelta(1))
        mirror = await s.get(JournalEntry, reversal)
    assert mirror is not None
    assert mirror.reverses_id == entry
    assert mirror.kind is EntryKind.REVERSAL
    assert {a.code: a.balance for a in on_the_day.accounts}[A.CASH] == Decimal("42.00")
    assert all(a.balance == 0 for a in after.accounts)
    assert after.debits == Decimal("0.00")
    assert after.balanced
    async with sessions() as s, s.begin():
        with pytest.raises(AlreadyReversed):
            await ledger.reverse(s, entry_id=entry, effective_on=DAY, source="reversal:again")


async def test_postgresql_refuses_to_change_or_delete_a_posted_entry(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        if s.get_bind().dialect.name != "postgresql":
            pytest.skip("the append-only trigger is PostgreSQL's; SQLite has none")
        bank = await f.institution(s)
        entry = await _charge(s, bank.id, "charge:2", _cash_in("1.00"))

    # when / then
    for statement in (
        "UPDATE journal_lines SET debit = 2 WHERE entry_id = :id AND debit > 0",
        "DELETE FROM journal_lines WHERE entry_id = :id",
        "UPDATE journal_entries SET memo = 'x' WHERE id = :id",
    ):
        async with sessions() as s, s.begin():
            with pytest.raises(DBAPIError, match="append-only"):
                await s.execute(text(statement), {"id": entry})


async def test_disbursement_repayments_and_write_off_post_what_the_loan_records(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a loan of 12,000.00 over 12 months, disbursed four months ago
    start = utcnow().date() - timedelta(days=125)
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=start, fee="150.00")

    # when: the first instalment paid with its fee, then part of the second, then lost
    async with sessions() as s, s.begin():
        first = await lending.record_repayment(
            s,
            booked.officer,
            booked.loan_id,
            idempotency_key="p1",
            amount=Decimal("1182.99"),
            paid_on=add_months(start, 1),
        )
    async with sessions() as s, s.begin():
        second = await lending.record_repayment(
            s,
            booked.officer,
            booked.loan_id,
            idempotency_key="p2",
            amount=Decimal("500.00"),
            paid_on=add_months(start, 2),
        )
        mid = await servicing_balances(s, booked.loan_id), await receivables(s, booked.loan_id)
    async with sessions() as s, s.begin():
        await lending.write_off(
            s, booked.officer, booked.loan_id, reason="the borrower has ceased trading"
        )

    # then: each movement posted one balanced entry, and the books follow the loan
    async with sessions() as s:
        kinds = (await s.scalars(select(JournalEntry.kind).order_by(JournalEntry.id))).all()
        tb = await ledger.trial_balance(
            s, institution_id=booked.institution_id, as_of=utcnow().date()
        )
        after = await receivables(s, booked.loan_id)
    paid = [first.repayment, second.repayment]
    assert kinds == [
        EntryKind.DISBURSEMENT,
        EntryKind.REPAYMENT,
        EntryKind.REPAYMENT,
        EntryKind.WRITE_OFF,
    ]
    assert mid[0] == mid[1]
    assert after == {}
    figures = {a.code: a.balance for a in tb.accounts}
    assert tb.balanced
    assert first.repayment.fee_part == Decimal("150.00")
    assert figures[A.FEE_INCOME] == Decimal("150.00")
    assert figures[A.INTEREST_INCOME] == sum(r.interest_part for r in paid)
    assert figures[A.CASH] == Decimal("-12000.00") + Decimal("1682.99")
    assert figures[A.WRITE_OFF_EXPENSE] == Decimal("12000.00") - sum(r.principal_part for r in paid)
    assert figures[A.LOANS_RECEIVABLE] == 0


async def test_a_repayment_replayed_with_its_key_posts_nothing_more(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    start = utcnow().date() - timedelta(days=40)
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=start)
        await lending.record_repayment(
            s,
            booked.officer,
            booked.loan_id,
            idempotency_key="k",
            amount=Decimal("300.00"),
            paid_on=start + timedelta(days=3),
        )

    # when
    async with sessions() as s, s.begin():
        replay = await lending.record_repayment(
            s,
            booked.officer,
            booked.loan_id,
            idempotency_key="k",
            amount=Decimal("300.00"),
            paid_on=start + timedelta(days=3),
        )

    # then
    async with sessions() as s:
        entries = await s.scalar(select(func.count()).select_from(JournalEntry))
        assert await servicing_balances(s, booked.loan_id) == await receivables(s, booked.loan_id)
    assert replay.replayed
    assert entries == 2
    assert isinstance(booked.loan_id, uuid.UUID)
