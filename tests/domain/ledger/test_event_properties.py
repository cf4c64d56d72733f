"""Property: whatever happens to a loan, its books follow it to the cent.

Hypothesis draws a sequence of events for one loan -- payments partial, late, early or
paying off, reversals of the latest payment, a write-off, the daily accrual of interest,
penalty interest and late fees (run twice for its day) -- and after each one checks:
the institution's ledger balances; the loan's receivables in the ledger equal what its
servicing records say it owes; cash in the ledger is what was lent less every payment
still standing; a reversal puts schedule and loan back exactly as they were before the
payment it reverses.

Hypothesis runs in a worker thread while the test's event loop holds the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import JournalEntry
from domain.lending import charges, reversal
from domain.lending import repayment as money
from domain.lending import service as lending
from domain.lending.models import Installment, Loan, LoanStatus
from kernel.base import utcnow
from kernel.errors import InvalidInput
from tests.domain.ledger.books import Booked, disbursed_loan, receivables, servicing_balances

T = TypeVar("T")
EXAMPLES = 20
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Pay:
    gap: int  # days after the previous payment (or the disbursement)
    share: float  # of what pays the loan off that day (1.0: pay it off)


@dataclass(frozen=True)
class ReverseLatest:
    pass


@dataclass(frozen=True)
class WriteOff:
    pass


@dataclass(frozen=True)
class Accrue:
    gap: int  # days after the later of the last payment and the last accrual


Event = Pay | ReverseLatest | WriteOff | Accrue
events = st.lists(
    st.one_of(
        st.builds(
            Pay,
            gap=st.integers(min_value=0, max_value=75),
            share=st.one_of(st.floats(min_value=0.001, max_value=0.6), st.just(1.0)),
        ),
        st.just(ReverseLatest()),
        st.just(WriteOff()),
        st.builds(Accrue, gap=st.integers(min_value=0, max_value=75)),
    ),
    min_size=1,
    max_size=10,
)


async def state(s: AsyncSession, loan_id: uuid.UUID) -> tuple[Any, ...]:
    """The loan's figures and schedule as stored: what a reversal must restore."""
    loan = await s.get(Loan, loan_id, populate_existing=True)
    assert loan is not None
    rows = (
        await s.scalars(
            select(Installment)
            .where(Installment.loan_id == loan_id)
            .order_by(Installment.sequence)
            .execution_options(populate_existing=True)
        )
    ).all()
    lines = tuple(
        (
            r.sequence,
            r.due_on,
            r.principal_due,
            r.interest_due,
            r.fee_due,
            r.principal_paid,
            r.interest_paid,
            r.fee_paid,
            r.late_fee_due,
            r.late_fee_paid,
            r.late_fee_charged_on,
            r.penalty_due,
            r.penalty_paid,
            r.settled_on,
        )
        for r in rows
    )
    figures = (
        loan.status,
        loan.outstanding_principal,
        loan.maturity_on,
        loan.term_months,
        loan.days_past_due,
        loan.delinquency_bucket,
        loan.closed_on,
    )
    return figures, lines


class Story:
    """One loan living through the drawn events, checked after each."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], booked: Booked, start: date):
        self.sessions = sessions
        self.booked = booked
        self.day = start
        self.accrued = start
        self.standing: list[tuple[str, Decimal, tuple[Any, ...]]] = []  # key, amount, before
        self.keys = 0
        self.log: list[str] = []  # noted by the Hypothesis thread on failure

    async def apply(self, event: Event) -> None:
        async with self.sessions() as s, s.begin():
            loan = await s.get(Loan, self.booked.loan_id, populate_existing=True)
            assert loan is not None
            if isinstance(event, Pay) and loan.status is LoanStatus.ACTIVE:
                await self._pay(s, event)
            elif (
                isinstance(event, ReverseLatest)
                and self.standing
                and loan.status is LoanStatus.WRITTEN_OFF
            ):
                with pytest.raises(InvalidInput, match="written off"):
                    await reversal.reverse_repayment(
                        s,
                        self.booked.officer,
                        loan.id,
                        idempotency_key=self.standing[-1][0],
                        reason="bounced",
                    )
            elif isinstance(event, ReverseLatest) and self.standing:
                key, _, before = self.standing.pop()
                await reversal.reverse_repayment(
                    s, self.booked.officer, loan.id, idempotency_key=key, reason="bounced"
                )
                await s.flush()
                assert await state(s, loan.id) == before
            elif isinstance(event, WriteOff) and loan.status is LoanStatus.ACTIVE:
                await lending.write_off(s, self.booked.officer, loan.id, reason="ceased trading")
        if isinstance(event, Accrue):
            await self._accrue(event)
        await self.check()

    async def _accrue(self, event: Accrue) -> None:
        day = min(max(self.day, self.accrued) + timedelta(days=event.gap), utcnow().date())
        self.log.append(f"accrue through {day}")
        async with self.sessions() as s, s.begin():
            await charges.accrue(s, as_of=day, institution_id=self.booked.institution_id)
        self.accrued = max(self.accrued, day)
        async with self.sessions() as s:
            before = await s.scalar(select(func.count()).select_from(JournalEntry))
        async with self.sessions() as s, s.begin():
            again = await charges.accrue(s, as_of=day, institution_id=self.booked.institution_id)
        async with self.sessions() as s:
            after = await s.scalar(select(func.count()).select_from(JournalEntry))
        assert again.loans == 0
        assert after == before

    async def _pay(self, s: AsyncSession, event: Pay) -> None:
        day = min(self.day + timedelta(days=event.gap), utcnow().date())
        rows = (
            await s.scalars(select(Installment).where(Installment.loan_id == self.booked.loan_id))
        ).all()
        payoff = money.payoff_amount([lending.line_of(r) for r in rows], paid_on=day)
        amount = max((payoff * Decimal(event.share)).quantize(CENT), CENT)
        before = await state(s, self.booked.loan_id)
        self.keys += 1
        key = f"k{self.keys}"
        self.log.append(f"pay {amount} of {payoff} on {day}")
        await lending.record_repayment(
            s,
            self.booked.officer,
            self.booked.loan_id,
            idempotency_key=key,
            amount=amount,
            paid_on=day,
        )
        self.day = day
        self.standing.append((key, amount, before))

    async def check(self) -> None:
        async with self.sessions() as s:
            trial = await ledger.trial_balance(
                s, institution_id=self.booked.institution_id, as_of=utcnow().date()
            )
            held = await receivables(s, self.booked.loan_id)
            owed = await servicing_balances(s, self.booked.loan_id)
        assert trial.balanced
        assert held == owed
        cash = {a.code: a.balance for a in trial.accounts}[AccountCode.CASH]
        assert cash == Decimal("-12000.00") + sum((a for _, a, _ in self.standing), Decimal(0))


async def test_the_books_follow_every_sequence_of_events_to_the_cent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    loop = asyncio.get_running_loop()
    start = utcnow().date() - timedelta(days=400)

    def run(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)

    async def begin() -> Story:
        async with sessions() as s, s.begin():
            booked = await disbursed_loan(s, on=start, fee="120.00", charged=True)
        return Story(sessions, booked, start)

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(drawn=events)
    def books_follow(drawn: list[Event]) -> None:
        story = run(begin())
        note(repr(drawn))
        try:
            for event in drawn:
                run(story.apply(event))
        finally:
            note("\n".join(story.log))

    # when / then
    await asyncio.to_thread(books_follow)
