"""The month-end close: loans staged, the allowance posted and released in balanced
entries, a close repeated for the same date posting nothing twice, loans that left the
book released, one institution's close leaving another's book alone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind, JournalEntry
from domain.lending.models import Installment, Loan, LoanStatus
from domain.provisioning.close import Close, month_end_close
from domain.provisioning.models import LoanStage
from domain.risk.models import RiskAssessment
from kernel.errors import InvalidInput
from tests import factories as f
from tests.domain.ledger.books import lent

D = Decimal
MARCH = date(2026, 3, 31)
APRIL = date(2026, 4, 30)
MAY = date(2026, 5, 31)


async def _assess(s: AsyncSession, loan: Loan, pd: str, at: datetime) -> None:
    s.add(
        RiskAssessment(
            application_id=loan.application_id,
            enterprise_id=loan.enterprise_id,
            probability_of_default=float(pd),
            score=600,
            grade="B",
            reasons=[],
            model_version="test",
            assessed_at=at,
            shadow=False,
        )
    )
    await s.flush()


async def _allowance(s: AsyncSession, institution_id: uuid.UUID, on: date) -> Decimal:
    trial = await ledger.trial_balance(s, institution_id=institution_id, as_of=on)
    assert trial.balanced
    found = {a.code: a for a in trial.accounts}
    expense = found[AccountCode.PROVISION_EXPENSE]
    # What was raised net of releases is the allowance held.
    assert expense.balance == found[AccountCode.LOSS_ALLOWANCE].balance
    return found[AccountCode.LOSS_ALLOWANCE].balance


async def _provision_entries(s: AsyncSession) -> int:
    return int(
        await s.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.PROVISION)
        )
        or 0
    )


async def _stage(s: AsyncSession, loan_id: uuid.UUID, on: date) -> LoanStage:
    row = await s.get(LoanStage, (loan_id, on))
    assert row is not None
    return row


async def test_close_stages_posts_once_raises_and_releases(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a loan disbursed in January whose February and March instalments are unpaid
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        loan, _ = await lent(s, bank, on=date(2026, 1, 15), amount="12000.00")
        theirs, _ = await lent(s, other, on=date(2026, 1, 15), amount="50000.00")
        await _assess(s, loan, "0.020000", datetime(2026, 1, 10, tzinfo=UTC))
        loan_id, bank_id, other_id, theirs_id = loan.id, bank.id, other.id, theirs.id

    # when the bank closes March (twice)
    first = await month_end_close(sessions, Close(as_of=MARCH, institution_id=bank_id))
    async with sessions() as s:
        march = await _stage(s, loan_id, MARCH)
        entries = await _provision_entries(s)
        held = await _allowance(s, bank_id, MARCH)
    # (a late change to the loan before the rerun: its ECL for March is now another)
    async with sessions() as s, s.begin():
        await s.execute(
            update(Loan)
            .where(Loan.id == loan_id)
            .values(outstanding_principal=Loan.outstanding_principal - D("1000.00"))
        )
    again = await month_end_close(sessions, Close(as_of=MARCH, institution_id=bank_id))

    # then: 44 days past due is a significant increase; the lifetime ECL is posted once
    assert (march.stage, march.reason, march.days_past_due) == (2, "dpd_30", 44)
    assert march.ecl == (march.pd_lifetime * march.lgd * march.ead).quantize(D("0.01"))
    assert march.ecl > 0
    assert held == march.ecl
    assert first["provision"]["entries"] == 1
    assert first["stage"]["loans"] == 1
    assert again["provision"]["entries"] == 0
    async with sessions() as s:
        assert await _provision_entries(s) == entries == 1
        assert await _allowance(s, bank_id, MARCH) == held
        # the rerun restaged the loan (its new ECL is posted by the next close)
        assert (await _stage(s, loan_id, MARCH)).ecl < march.ecl
        # another institution's book is neither staged nor provided for
        assert await s.get(LoanStage, (theirs_id, MARCH)) is None
        assert await _allowance(s, other_id, MARCH) == 0

    # when the arrears are paid before April's close
    async with sessions() as s, s.begin():
        await s.execute(
            update(Installment)
            .where(Installment.loan_id == loan_id, Installment.due_on <= APRIL)
            .values(
                principal_paid=Installment.principal_due,
                interest_paid=Installment.interest_due,
                fee_paid=Installment.fee_due,
                settled_on=APRIL,
            )
        )
    await month_end_close(sessions, Close(as_of=APRIL, institution_id=bank_id))

    # then it is back in stage 1 and the allowance falls to its 12-month ECL: released
    async with sessions() as s:
        april = await _stage(s, loan_id, APRIL)
        assert (april.stage, april.reason) == (1, "current")
        assert april.ecl == (april.pd_12m * april.lgd * april.ead).quantize(D("0.01"))
        assert april.ecl < march.ecl
        assert await _allowance(s, bank_id, APRIL) == april.ecl
        releases = (
            await s.execute(
                select(JournalEntry.source).where(
                    JournalEntry.kind == EntryKind.PROVISION, JournalEntry.effective_on == APRIL
                )
            )
        ).all()
        assert [r.source for r in releases] == [f"provision:{APRIL.isoformat()}:{loan_id}"]

    # when the loan is repaid in full before May's close, its allowance is released whole
    async with sessions() as s, s.begin():
        await s.execute(
            update(Loan)
            .where(Loan.id == loan_id)
            .values(status=LoanStatus.CLOSED, outstanding_principal=D("0.00"), closed_on=MAY)
        )
    may = await month_end_close(sessions, Close(as_of=MAY, institution_id=bank_id))
    async with sessions() as s:
        assert await _allowance(s, bank_id, MAY) == 0
        assert await s.get(LoanStage, (loan_id, MAY)) is None
    assert may["provision"]["released"] == str(april.ecl)


async def test_a_pd_doubled_since_origination_moves_a_current_loan_to_stage_2(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        loan, _ = await lent(s, bank, on=date(2026, 3, 20), amount="20000.00")
        await _assess(s, loan, "0.020000", datetime(2026, 3, 1, tzinfo=UTC))
        await _assess(s, loan, "0.040000", datetime(2026, 3, 25, tzinfo=UTC))
        loan_id, bank_id = loan.id, bank.id
    await month_end_close(sessions, Close(as_of=MARCH, institution_id=bank_id))
    async with sessions() as s:
        row = await _stage(s, loan_id, MARCH)
    assert (row.stage, row.reason) == (2, "pd_increase")
    # The 12-month PD now (0.04) doubled the origination one; under a year is left, so
    # the PD stored over the stage's horizon is the PD over the rest of its life.
    assert row.pd_origination == D("0.020000")
    assert row.pd_12m == row.pd_lifetime < D("0.040000")


async def test_a_close_is_at_a_month_end(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(InvalidInput):
        await month_end_close(sessions, Close(as_of=date(2026, 3, 30), institution_id=None))


async def test_the_close_accrues_first_and_stages_a_forborne_loan_in_stage_2(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a current loan whose borrower signed a forborne amendment (flag as signing sets it)
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        loan, _ = await lent(s, bank, on=date(2026, 3, 20), amount="20000.00")
        await _assess(s, loan, "0.020000", datetime(2026, 3, 1, tzinfo=UTC))
        await s.execute(update(Loan).where(Loan.id == loan.id).values(forborne=True))
        loan_id, bank_id = loan.id, bank.id

    # when the month is closed twice
    first = await month_end_close(sessions, Close(as_of=MARCH, institution_id=bank_id))
    again = await month_end_close(sessions, Close(as_of=MARCH, institution_id=bank_id))

    # then: the interest is accrued through the close's date, once; forbearance is stage 2
    assert [k for k in first if k not in ("asOf", "institution")] == [
        "accrue",
        "age",
        "stage",
        "provision",
        "snapshot",
    ]
    assert first["accrue"]["loans"] == 1
    assert D(first["accrue"]["interest"]) > 0
    assert again["accrue"]["loans"] == 0
    async with sessions() as s:
        row = await _stage(s, loan_id, MARCH)
        accrued = await s.scalar(select(Loan.accrued_through).where(Loan.id == loan_id))
    assert (row.stage, row.reason) == (2, "forborne")
    assert accrued == MARCH
