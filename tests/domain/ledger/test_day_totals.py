"""Property: the per-day totals a trial balance reads are exactly the sum of the lines.

``trial_balance`` never reads ``journal_lines``: it sums ``ledger_day_totals``, which
``post_many`` keeps in the same transaction as the lines it inserts. If the two ever
drifted (a path inserting lines without moving the totals, an upsert adding to the wrong
day, a reversal dated on its original's day instead of its own), every trial balance
after it would be wrong while each entry still looked balanced. Hypothesis draws
batches of postings on random days and accounts, reversals of random earlier entries
(on their own, later or earlier, day) and reposts of a source already posted (which must
post nothing), and after each step the totals are compared with the lines row by row,
and the trial balance on a few days with the lines summed up to that day.

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

from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.errors import AlreadyReversed
from domain.ledger.models import (
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerDayTotal,
)
from domain.ledger.service import Leg, Posting
from tests import factories as f

T = TypeVar("T")
EXAMPLES = 15
START = date(2026, 1, 1)
CODES = list(AccountCode)
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Move:
    day: int  # days after START
    debit: int  # index into CODES
    credit: int
    cents: int


@dataclass(frozen=True)
class Post:
    moves: tuple[Move, ...]  # one batch: each move one entry, in one transaction
    repost_earlier: bool  # also names an already posted source (it posts nothing)


@dataclass(frozen=True)
class Reverse:
    pick: int  # which earlier entry (modulo how many there are)
    day: int


Step = Post | Reverse
moves = st.builds(
    Move,
    day=st.integers(min_value=0, max_value=40),
    debit=st.integers(min_value=0, max_value=len(CODES) - 1),
    credit=st.integers(min_value=0, max_value=len(CODES) - 1),
    cents=st.integers(min_value=0, max_value=10**9),
)
steps = st.lists(
    st.one_of(
        st.builds(
            Post,
            moves=st.lists(moves, min_size=1, max_size=6).map(tuple),
            repost_earlier=st.booleans(),
        ),
        st.builds(
            Reverse,
            pick=st.integers(min_value=0, max_value=50),
            day=st.integers(min_value=0, max_value=40),
        ),
    ),
    min_size=1,
    max_size=8,
)


class Book:
    """One fresh institution's book, driven step by step."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], institution_id: uuid.UUID):
        self.sessions = sessions
        self.institution_id = institution_id
        self.sources: list[str] = []
        self.entries: list[uuid.UUID] = []

    async def apply(self, step: Step) -> None:
        async with self.sessions() as s, s.begin():
            if isinstance(step, Post):
                batch = [self._posting(move) for move in step.moves]
                if step.repost_earlier and self.sources:
                    # A rerun job's posting of a source it posted before: must add nothing.
                    batch.append(
                        Posting(
                            institution_id=self.institution_id,
                            kind=EntryKind.CHARGE,
                            effective_on=START,
                            source=self.sources[0],
                            legs=[
                                Leg.debit(AccountCode.CASH, Decimal("999.99")),
                                Leg.credit(AccountCode.FEE_INCOME, Decimal("999.99")),
                            ],
                        )
                    )
                posted = await ledger.post_many(s, batch)
                for posting, entry in zip(batch, posted, strict=True):
                    if entry is not None and posting.source not in self.sources:
                        self.sources.append(posting.source)
                        self.entries.append(entry)
            elif self.entries:
                target = self.entries[step.pick % len(self.entries)]
                source = f"test:reversal:{len(self.sources)}"
                try:
                    reversal = await ledger.reverse(
                        s,
                        entry_id=target,
                        effective_on=START + timedelta(days=step.day),
                        source=source,
                    )
                except AlreadyReversed:
                    return
                self.sources.append(source)
                self.entries.append(reversal)

    def _posting(self, move: Move) -> Posting:
        amount = Decimal(move.cents) / 100
        return Posting(
            institution_id=self.institution_id,
            kind=EntryKind.CHARGE,
            effective_on=START + timedelta(days=move.day),
            source=f"test:{len(self.sources)}:{uuid.uuid4()}",
            legs=[Leg.debit(CODES[move.debit], amount), Leg.credit(CODES[move.credit], amount)],
        )

    async def check(self) -> None:
        async with self.sessions() as s:
            by_lines = {
                (account, day): (debit, credit)
                for account, day, debit, credit in (
                    await s.execute(
                        select(
                            JournalLine.account_id,
                            JournalEntry.effective_on,
                            func.sum(JournalLine.debit),
                            func.sum(JournalLine.credit),
                        )
                        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                        .where(JournalEntry.institution_id == self.institution_id)
                        .group_by(JournalLine.account_id, JournalEntry.effective_on)
                    )
                ).all()
            }
            by_totals = {
                (account, day): (debit, credit)
                for account, day, debit, credit in (
                    await s.execute(
                        select(
                            LedgerDayTotal.account_id,
                            LedgerDayTotal.day,
                            LedgerDayTotal.debit,
                            LedgerDayTotal.credit,
                        )
                        .join(LedgerAccount, LedgerAccount.id == LedgerDayTotal.account_id)
                        .where(LedgerAccount.institution_id == self.institution_id)
                    )
                ).all()
            }
            codes = dict(
                (
                    await s.execute(
                        select(LedgerAccount.id, LedgerAccount.code).where(
                            LedgerAccount.institution_id == self.institution_id
                        )
                    )
                ).all()
            )
            trials = {
                day: await ledger.trial_balance(s, institution_id=self.institution_id, as_of=day)
                for day in (
                    START - timedelta(days=1),
                    START + timedelta(days=20),
                    START + timedelta(days=40),
                )
            }
        # Row by row: the same (account, day) keys, the same sums.
        assert by_totals == by_lines
        for day, trial in trials.items():
            expected: dict[AccountCode, tuple[Decimal, Decimal]] = {}
            for (account, on), (debit, credit) in by_lines.items():
                if on <= day:
                    d, c = expected.get(codes[account], (ZERO, ZERO))
                    expected[codes[account]] = (d + debit, c + credit)
            got = {a.code: (a.debits, a.credits) for a in trial.accounts}
            assert got == {code: expected.get(code, (ZERO, ZERO)) for code in CODES}, day
            assert trial.balanced


async def test_day_totals_equal_the_lines_after_any_postings_and_reversals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    loop = asyncio.get_running_loop()

    def run(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)

    async def begin() -> Book:
        async with sessions() as s, s.begin():
            bank = await f.institution(s)
        return Book(sessions, bank.id)

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(drawn=steps)
    def totals_follow(drawn: list[Step]) -> None:
        book = run(begin())
        note(repr(drawn))
        for step in drawn:
            run(book.apply(step))
            run(book.check())

    # when / then
    await asyncio.to_thread(totals_follow)
