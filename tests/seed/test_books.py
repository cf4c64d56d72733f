"""The demo's books: every seeded loan's history is in the ledger, as servicing posts it."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger import service as ledger
from domain.ledger.chart import CHART, AccountCode
from domain.ledger.models import JournalEntry, LedgerAccount
from domain.lending import charges
from domain.models import Institution, Loan, LoanStatus, Repayment
from tests.domain.ledger.books import receivables, servicing_balances
from tests.seed.test_population import AS_OF, all_rows, seeded

ZERO = Decimal("0.00")
# The smallest population (at the tests' seed) with loans active, closed and written off.
BOOKED = 100


async def books_match_servicing(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Asserts every institution's trial balance balances and every loan's receivables in
    the ledger equal what its servicing records say; answers the loans compared."""
    loans = await all_rows(sessions, Loan)
    async with sessions() as session:
        for institution in await all_rows(sessions, Institution):
            trial = await ledger.trial_balance(session, institution_id=institution.id, as_of=AS_OF)
            assert trial.balanced, institution.code
        for loan in loans:
            assert await receivables(session, loan.id) == await servicing_balances(
                session, loan.id
            ), loan.id
    return len(loans)


async def test_every_seeded_loan_is_booked_as_servicing_books_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    summary = await seeded(sessions, enterprises=BOOKED)

    # then: the population holds every kind of loan history the books must follow
    loans = await all_rows(sessions, Loan)
    repayments = await all_rows(sessions, Repayment)
    statuses = {loan.status for loan in loans}
    assert {LoanStatus.ACTIVE, LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF} <= statuses
    assert repayments
    assert await books_match_servicing(sessions) == summary.loans > 0

    # and each institution's chart is opened whole, its accounts adding up to its loans
    institutions = await all_rows(sessions, Institution)
    paid: dict[Any, list[Repayment]] = defaultdict(list)
    for repayment in repayments:
        paid[repayment.loan_id].append(repayment)
    async with sessions() as session:
        opened = dict(
            (
                await session.execute(
                    select(LedgerAccount.institution_id, func.count()).group_by(
                        LedgerAccount.institution_id
                    )
                )
            ).all()
        )
        assert opened == {institution.id: len(CHART) for institution in institutions}
        for institution in institutions:
            own = [loan for loan in loans if loan.institution_id == institution.id]
            got = [r for loan in own for r in paid[loan.id]]
            trial = await ledger.trial_balance(session, institution_id=institution.id, as_of=AS_OF)
            balance = {a.code: a.balance for a in trial.accounts}
            assert balance[AccountCode.CASH] == sum((r.amount for r in got), ZERO) - sum(
                (loan.principal for loan in own), ZERO
            )
            assert balance[AccountCode.LOANS_RECEIVABLE] == sum(
                (loan.outstanding_principal for loan in own if loan.status is LoanStatus.ACTIVE),
                ZERO,
            )
            assert balance[AccountCode.INTEREST_INCOME] == sum((r.interest_part for r in got), ZERO)
            assert balance[AccountCode.FEE_INCOME] == sum((r.fee_part for r in got), ZERO)
            assert balance[AccountCode.WRITE_OFF_EXPENSE] == sum(
                (
                    loan.outstanding_principal
                    for loan in own
                    if loan.status is LoanStatus.WRITTEN_OFF
                ),
                ZERO,
            )

        # and every movement is posted under the source servicing would name it by
        sources = set((await session.scalars(select(JournalEntry.source))).all())
    assert {f"repayment:{r.id}" for r in repayments} <= sources
    assert {f"disbursement:{loan.id}" for loan in loans} <= sources
    written_off = {loan.id for loan in loans if loan.status is LoanStatus.WRITTEN_OFF}
    assert {s for s in sources if s.startswith("write_off:")} == {
        f"write_off:{i}" for i in written_off
    }


async def test_a_later_accrual_keeps_the_seeded_books_equal_to_servicing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    await seeded(sessions, enterprises=BOOKED)

    # when: the first accrual run the demo's jobs would make
    async with sessions() as session, session.begin():
        accrued = await charges.accrue(session, as_of=AS_OF)

    # then: it booked the interest earned so far, and the books still agree with servicing
    assert accrued.loans > 0
    assert accrued.interest > 0
    await books_match_servicing(sessions)
