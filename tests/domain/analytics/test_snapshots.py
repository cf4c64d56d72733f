"""Month-end snapshots: written by the ageing job on a month's last day, and by the seed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics.models import LoanBucketSnapshot, RollState
from domain.analytics.service import snapshot_month
from domain.lending.models import DelinquencyBucket, Loan, LoanStatus
from domain.lending.service import age_loans
from domain.risk.models import RiskAssessment
from kernel.errors import InvalidInput
from seed import seed_population
from tests import factories as f

Kept = tuple[uuid.UUID, date, DelinquencyBucket, int, Decimal, float | None]


async def snapshots(s: AsyncSession) -> list[Kept]:
    rows = await s.execute(
        select(
            LoanBucketSnapshot.loan_id,
            LoanBucketSnapshot.month_end,
            LoanBucketSnapshot.delinquency_bucket,
            LoanBucketSnapshot.days_past_due,
            LoanBucketSnapshot.outstanding_principal,
            LoanBucketSnapshot.probability_of_default,
        ).order_by(LoanBucketSnapshot.loan_id, LoanBucketSnapshot.month_end)
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows.all()]


async def booked(s: AsyncSession, count: int) -> list[Loan]:
    """``count`` loans of one bank, each to a borrower of its own, paid out on 15 December
    2025 (instalments due from mid-January)."""
    bank = await f.institution(s)
    product = await f.product(s, institution_id=bank.id)
    loans = []
    for _ in range(count):
        firm = await f.enterprise(s)
        app = await f.application(s, enterprise_id=firm.id, product_row=product)
        loans.append(await f.booked_loan(s, application_row=app, disbursed_on=date(2025, 12, 15)))
    return loans


async def test_ageing_on_a_month_end_keeps_the_month_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: two loans falling due from mid-January, one of them repaid already
    async with sessions() as s, s.begin():
        loans = await booked(s, 2)
        loans[1].status = LoanStatus.CLOSED
        active = loans[0].id

    # when: aged on a day that is not a month end, then twice on March's last day
    async with sessions() as s, s.begin():
        before = await age_loans(s, as_of=date(2026, 3, 30))
    async with sessions() as s, s.begin():
        first = await age_loans(s, as_of=date(2026, 3, 31))
        after_first = await snapshots(s)
    async with sessions() as s, s.begin():
        again = await age_loans(s, as_of=date(2026, 3, 31))
        after_again = await snapshots(s)

    # then: one row for the active loan, 75 days past the 15 January instalment
    assert (before.snapshots, first.snapshots, again.snapshots) == (0, 1, 1)
    assert (
        after_first
        == after_again
        == [
            (active, date(2026, 3, 31), DelinquencyBucket.DPD_61_90, 75, Decimal("200000.00"), None)
        ]
    )


async def test_a_month_end_keeps_the_pd_then_in_force(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a borrower assessed on the month's last evening and again the next morning
    async with sessions() as s, s.begin():
        (loan,) = await booked(s, 1)
        for pd, when in (
            (0.04, datetime(2026, 3, 31, 23, 59, tzinfo=UTC)),
            (0.3, datetime(2026, 4, 1, 0, 0, tzinfo=UTC)),
        ):
            s.add(
                RiskAssessment(
                    enterprise_id=loan.enterprise_id,
                    probability_of_default=pd,
                    score=600,
                    grade="BBB",
                    reasons=[],
                    model_version="m1",
                    assessed_at=when,
                )
            )

    # when
    async with sessions() as s, s.begin():
        await snapshot_month(s, month_end=date(2026, 3, 31))
        kept = await snapshots(s)

    # then
    assert [row[5] for row in kept] == [0.04]


async def test_a_rerun_forgets_a_loan_that_left_the_book_meanwhile(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a month kept with one active loan, which is then written off
    async with sessions() as s, s.begin():
        (loan,) = await booked(s, 1)
        assert await snapshot_month(s, month_end=date(2026, 2, 28)) == 1
        loan.status = LoanStatus.WRITTEN_OFF

    # when
    async with sessions() as s, s.begin():
        await snapshot_month(s, month_end=date(2026, 2, 28))
        kept = await snapshots(s)

    # then
    assert kept == []


async def test_a_month_end_learns_where_its_loans_went_when_the_next_is_taken(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: three loans kept at February's end; then one is written off, one repaid
    async with sessions() as s, s.begin():
        loans = await booked(s, 3)
        await snapshot_month(s, month_end=date(2026, 2, 28))
        loans[1].status = LoanStatus.WRITTEN_OFF
        loans[2].status = LoanStatus.CLOSED
    async with sessions() as s:
        before = await _states(s)

    # when: March's end is taken
    async with sessions() as s, s.begin():
        await snapshot_month(s, month_end=date(2026, 3, 31))
    async with sessions() as s:
        after = await _states(s)

    # then: February's rows say where each loan was at March's end; March's do not know yet
    kept, written_off, repaid = (loan.id for loan in loans)
    assert before == {(i, date(2026, 2, 28)): None for i in (kept, written_off, repaid)}
    assert after == {
        (kept, date(2026, 2, 28)): RollState.CURRENT,  # its bucket at March's end (not aged)
        (written_off, date(2026, 2, 28)): RollState.WRITTEN_OFF,
        (repaid, date(2026, 2, 28)): RollState.CLOSED,
        (kept, date(2026, 3, 31)): None,
    }


async def _states(s: AsyncSession) -> dict[tuple[uuid.UUID, date], RollState | None]:
    rows = await s.execute(
        select(
            LoanBucketSnapshot.loan_id, LoanBucketSnapshot.month_end, LoanBucketSnapshot.next_state
        )
    )
    return {(loan_id, month_end): state for loan_id, month_end, state in rows.all()}


async def test_only_a_month_end_is_kept(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        with pytest.raises(InvalidInput):
            await snapshot_month(s, month_end=date(2026, 2, 27))


async def test_the_seed_keeps_what_the_ageing_job_would_have_kept(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a population seeded as of 1 November, its history in snapshots
    await seed_population(sessions, enterprises=60, seed=11, as_of=date(2026, 11, 1), keys=f.KEYS)
    october = date(2026, 10, 31)
    async with sessions() as s:
        seeded = [row for row in await snapshots(s) if row[1] == october]
        loans = {loan.id: loan for loan in (await s.scalars(select(Loan))).all()}
        history = await snapshots(s)

    # when: the ageing job runs for 31 October on the seeded loans
    async with sessions() as s, s.begin():
        await age_loans(s, as_of=october)
        aged = await snapshots(s)

    # then: the same rows, but for loans written off on 1 November (active on the 31st)
    left_after = {i for i, loan in loans.items() if loan.written_off_on == date(2026, 11, 1)}
    assert [r for r in seeded if r[0] not in left_after] == [r for r in aged if r[1] == october]
    assert len(seeded) > 10
    assert any(row[5] is not None for row in seeded)
    for loan_id, month_end, _bucket, _dpd, outstanding, _pd in history:
        loan = loans[loan_id]
        assert loan.disbursed_on <= month_end
        assert loan.closed_on is None or month_end < loan.closed_on
        assert loan.written_off_on is None or month_end < loan.written_off_on
        assert Decimal("0.00") < outstanding <= loan.principal
    assert all(
        loan.written_off_on is not None
        for loan in loans.values()
        if loan.status is LoanStatus.WRITTEN_OFF
    )
