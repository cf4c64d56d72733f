"""Property: whatever happens to a loan, its books follow it to the cent.

Hypothesis draws a sequence of events for one loan -- payments partial, late, early or
paying off, reversals of the latest payment, a write-off and recoveries after it, the
daily accrual of interest, penalty interest and late fees (run twice for its day),
contract amendments signed by the borrower (a rate change, a term extension, a new
instalment, a top-up, a payment holiday with its interest capitalised or deferred), an
early settlement at the quoted payoff, and the month-end close (run twice for its date)
-- and after each one checks: the institution's ledger balances; the loan's receivables
in the ledger equal what its servicing records say it owes; cash in the ledger is what
was lent (with top-ups) less every payment still standing and every recovery; a reversal
puts schedule and loan back exactly as they were before the payment it reverses; a
settlement closes the loan; a second accrual or close for the same date posts nothing.

The loan is 24 months at ACT/365F, disbursed 400 days ago: about half its schedule lies
ahead, so amendments (effective today or later) have instalments to rebuild.

Hypothesis runs in a worker thread while the test's event loop holds the database.
"""

from __future__ import annotations

import asyncio
import calendar
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.applications.service import Actor
from domain.contracts import service as contracts
from domain.contracts import termination
from domain.contracts.amendment import Change, HolidayInterest
from domain.contracts.models import LoanTermination, TerminationKind
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import JournalEntry
from domain.lending import charges, reversal
from domain.lending import repayment as money
from domain.lending import service as lending
from domain.lending.models import Installment, Loan, LoanStatus
from domain.lending.schedule import add_months
from domain.provisioning.close import Close, month_end_close
from domain.workout import recoveries
from kernel.base import utcnow
from kernel.errors import InvalidInput
from tests import factories as f
from tests.domain.ledger.books import Booked, lent, receivables, servicing_balances

T = TypeVar("T")
EXAMPLES = 20
CENT = Decimal("0.01")
LENT = Decimal("12000.00")


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


@dataclass(frozen=True)
class Amend:
    kind: str  # rate, extend, instalment, top_up, holiday_capitalised, holiday_deferred
    size: int  # how much: a rate in basis points, months, a percentage, an amount
    later: int  # effective this many due dates after the first one after today


@dataclass(frozen=True)
class Settle:
    gap: int  # days after the previous payment: the payoff quoted that day is paid


@dataclass(frozen=True)
class Recover:
    share: float  # of what the write-off still has open


@dataclass(frozen=True)
class CloseMonth:
    gap: int  # the last month-end on or before this many days after the last accrual


Event = Pay | ReverseLatest | WriteOff | Accrue | Amend | Settle | Recover | CloseMonth
KINDS = ("rate", "extend", "instalment", "top_up", "holiday_capitalised", "holiday_deferred")
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
        st.builds(
            Amend,
            kind=st.sampled_from(KINDS),
            size=st.integers(min_value=1, max_value=12),
            later=st.integers(min_value=0, max_value=2),
        ),
        st.builds(Settle, gap=st.integers(min_value=0, max_value=75)),
        st.builds(Recover, share=st.one_of(st.floats(min_value=0.01, max_value=0.7), st.just(1.0))),
        st.builds(CloseMonth, gap=st.integers(min_value=0, max_value=75)),
    ),
    min_size=3,  # fewer says little about how events interact
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

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        booked: Booked,
        owner: Actor,
        start: date,
    ):
        self.sessions = sessions
        self.booked = booked
        self.owner = owner  # signs amendments for the borrower
        self.day = start
        self.accrued = start
        self.standing: list[tuple[str, Decimal, tuple[Any, ...]]] = []  # key, amount, before
        self.keys = 0
        self.signed = 0  # the payments standing when the latest amendment was signed
        self.lent = LENT  # with every top-up paid out
        self.recovered = Decimal("0.00")
        self.settled = False  # an early settlement stands
        self.log: list[str] = []  # noted by the Hypothesis thread on failure

    @property
    def today(self) -> date:
        return utcnow().date()

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
            elif (
                isinstance(event, ReverseLatest)
                and self.standing
                and len(self.standing) <= self.signed
            ):
                # The amendment was built on the payment: it stands.
                with pytest.raises(InvalidInput, match="amended after this payment"):
                    await reversal.reverse_repayment(
                        s,
                        self.booked.officer,
                        loan.id,
                        idempotency_key=self.standing[-1][0],
                        reason="bounced",
                    )
            elif isinstance(event, ReverseLatest) and self.standing:
                key, _, before = self.standing.pop()
                self.log.append(f"reverse {key}")
                self.settled = self.settled and not key.startswith("s")
                await reversal.reverse_repayment(
                    s, self.booked.officer, loan.id, idempotency_key=key, reason="bounced"
                )
                await s.flush()
                assert await state(s, loan.id) == before
            elif isinstance(event, WriteOff) and loan.status is LoanStatus.ACTIVE:
                self.log.append("write off")
                await lending.write_off(s, self.booked.officer, loan.id, reason="ceased trading")
            elif isinstance(event, Amend) and loan.status is LoanStatus.ACTIVE:
                await self._amend(s, event)
            elif isinstance(event, Settle) and loan.status is LoanStatus.ACTIVE:
                await self._settle(s, event)
            elif isinstance(event, Recover) and loan.status is LoanStatus.WRITTEN_OFF:
                await self._recover(s, loan, event)
        if isinstance(event, Accrue):
            await self._accrue(event)
        if isinstance(event, CloseMonth):
            await self._close(event)
        await self.check()

    async def _journal(self) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(JournalEntry)) or 0)

    async def _accrue(self, event: Accrue) -> None:
        day = min(max(self.day, self.accrued) + timedelta(days=event.gap), self.today)
        self.log.append(f"accrue through {day}")
        async with self.sessions() as s, s.begin():
            await charges.accrue(s, as_of=day, institution_id=self.booked.institution_id)
        self.accrued = max(self.accrued, day)
        before = await self._journal()
        async with self.sessions() as s, s.begin():
            again = await charges.accrue(s, as_of=day, institution_id=self.booked.institution_id)
        assert again.loans == 0
        assert await self._journal() == before

    async def _close(self, event: CloseMonth) -> None:
        day = min(max(self.day, self.accrued) + timedelta(days=event.gap), self.today)
        # The last month-end on or before that day.
        month_end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if month_end > day:
            month_end = day.replace(day=1) - timedelta(days=1)
        self.log.append(f"close {month_end}")
        close = Close(as_of=month_end, institution_id=self.booked.institution_id)
        await month_end_close(self.sessions, close)
        self.accrued = max(self.accrued, month_end)
        before = await self._journal()
        again = await month_end_close(self.sessions, close)
        assert await self._journal() == before, again
        assert again["accrue"]["loans"] == 0
        assert again["provision"]["entries"] == 0

    async def _lines(self, s: AsyncSession) -> list[money.Line]:
        rows = (
            await s.scalars(
                select(Installment)
                .where(Installment.loan_id == self.booked.loan_id)
                .execution_options(populate_existing=True)
            )
        ).all()
        return [lending.line_of(r) for r in rows]

    async def _pay(self, s: AsyncSession, event: Pay) -> None:
        day = min(self.day + timedelta(days=event.gap), self.today)
        payoff = money.payoff_amount(await self._lines(s), paid_on=day)
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

    async def _settle(self, s: AsyncSession, event: Settle) -> None:
        day = min(self.day + timedelta(days=event.gap), self.today)
        quoted = termination.quote(await self._lines(s), as_of=day).total
        before = await state(s, self.booked.loan_id)
        self.keys += 1
        key = f"s{self.keys}"
        self.log.append(f"settle {quoted} on {day}")
        settled = await termination.settle_early(
            s,
            self.booked.officer,
            self.booked.loan_id,
            quoted_amount=quoted,
            idempotency_key=key,
            paid_on=day,
        )
        # Paid to the cent, the loan is closed and owes nothing more.
        assert settled.loan.status is LoanStatus.CLOSED
        assert money.payoff_amount(await self._lines(s), paid_on=day) == 0
        self.day = day
        self.standing.append((key, quoted, before))
        self.settled = True

    async def _amend(self, s: AsyncSession, event: Amend) -> None:
        lines = await self._lines(s)
        ahead = sorted(line.due_on for line in lines if line.due_on > self.today)
        if not ahead:
            return
        effective = ahead[min(event.later, len(ahead) - 1)]
        change = self._change(event, effective, lines)
        self.log.append(f"amend {change}")
        try:
            proposed = await contracts.propose_amendment(
                s,
                self.booked.officer,
                self.booked.loan_id,
                contracts.Proposal(change=change, reason="the borrower asked for new terms"),
            )
        except InvalidInput as refused:
            # Only what the terms cannot do is refused (nothing left to rebuild, an
            # instalment that never repays): nothing was written.
            self.log.append(f"refused: {refused}")
            return
        await contracts.accept_amendment(
            s, self.owner, proposed.id, terms_hash_given=proposed.terms_hash
        )
        self.lent += change.top_up
        self.signed = len(self.standing)

    @staticmethod
    def _change(event: Amend, effective: date, lines: list[money.Line]) -> Change:
        if event.kind == "rate":
            return Change(effective_on=effective, annual_rate=Decimal(event.size) / 100)
        if event.kind == "extend":
            return Change(effective_on=effective, extra_months=event.size)
        if event.kind == "top_up":
            return Change(effective_on=effective, top_up=Decimal(event.size * 250))
        if event.kind == "instalment":
            due = next(line for line in lines if line.due_on == effective)
            level = due.principal_due - due.principal_paid + due.interest_due
            # From 60 % to 170 % of the instalment due on the effective date.
            wanted = (level * (50 + 10 * event.size) / 100).quantize(CENT)
            return Change(effective_on=effective, instalment=max(wanted, CENT))
        interest = (
            HolidayInterest.CAPITALISED
            if event.kind == "holiday_capitalised"
            else HolidayInterest.DEFERRED
        )
        return Change(
            effective_on=effective,
            holiday_months=1 + event.size % 3,
            holiday_interest=interest,
        )

    async def _recover(self, s: AsyncSession, loan: Loan, event: Recover) -> None:
        open_claim = await recoveries.lost(s, loan) - await recoveries.recovered(s, loan.id)
        if open_claim <= 0:
            return
        amount = max((open_claim * Decimal(event.share)).quantize(CENT), CENT)
        self.keys += 1
        self.log.append(f"recover {amount} of {open_claim}")
        await recoveries.record_recovery(
            s, self.booked.officer, loan.id, idempotency_key=f"r{self.keys}", amount=amount
        )
        self.recovered += amount

    async def check(self) -> None:
        # Far enough ahead to hold amendments effective on a later due date.
        horizon = add_months(self.today, 36)
        async with self.sessions() as s:
            trial = await ledger.trial_balance(
                s, institution_id=self.booked.institution_id, as_of=horizon
            )
            held = await receivables(s, self.booked.loan_id)
            owed = await servicing_balances(s, self.booked.loan_id)
            settlements = await s.scalar(
                select(func.count())
                .select_from(LoanTermination)
                .where(
                    LoanTermination.loan_id == self.booked.loan_id,
                    LoanTermination.kind == TerminationKind.EARLY_SETTLEMENT,
                )
            )
        assert trial.balanced
        assert held == owed
        cash = {a.code: a.balance for a in trial.accounts}[AccountCode.CASH]
        paid = sum((a for _, a, _ in self.standing), Decimal(0))
        assert cash == -self.lent + paid + self.recovered
        # A loan shows an early settlement exactly while one stands.
        assert settlements == (1 if self.settled else 0)


async def test_the_books_follow_every_sequence_of_events_to_the_cent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    loop = asyncio.get_running_loop()
    start = utcnow().date() - timedelta(days=400)

    def run(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)

    async def begin() -> Story:
        async with sessions() as s, s.begin():
            bank = await f.institution(s)
            loan, owner = await lent(
                s, bank, on=start, term=24, fee="120.00", charged=True, counted=True
            )
            officer = await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)])
        staff = Viewer(
            user_id=officer.id,
            institution_roles={bank.id: frozenset({Role.RISK_OFFICER, Role.LOAN_OFFICER})},
        )
        booked = Booked(
            loan_id=loan.id, institution_id=bank.id, officer=Actor(viewer=staff, keys=f.KEYS)
        )
        borrower = Actor(
            viewer=Viewer(user_id=owner.id, platform_roles=frozenset({Role.SME_OWNER})),
            keys=f.KEYS,
        )
        return Story(sessions, booked, borrower, start)

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    # Sequences that must always run, whatever Hypothesis draws besides.
    @example(drawn=[Pay(60, 0.3), Amend("top_up", 4, 0), ReverseLatest()])
    @example(drawn=[Pay(45, 0.2), Amend("holiday_capitalised", 2, 1), Accrue(40), ReverseLatest()])
    @example(drawn=[Amend("holiday_deferred", 1, 0), Pay(200, 0.5), CloseMonth(30)])
    @example(drawn=[Amend("rate", 3, 0), Amend("instalment", 9, 0), Pay(300, 0.4)])
    @example(drawn=[Accrue(30), Settle(40), ReverseLatest(), Settle(0)])
    @example(drawn=[Pay(30, 0.2), WriteOff(), Recover(0.5), Recover(1.0), Recover(0.3)])
    @example(drawn=[CloseMonth(20), Pay(70, 0.1), CloseMonth(40), Amend("extend", 6, 2)])
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
