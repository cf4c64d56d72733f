"""Retention schedules, legal holds, the dry run and the receipts, on the real database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.applications.models import ApplicationStatus
from domain.identity.viewer import Viewer
from domain.lending.models import LoanStatus
from domain.models import Application, Enterprise, Loan, Role
from domain.privacy import retention
from domain.privacy.models import RetentionRun, SubjectRequest
from domain.privacy.retention import Category, Hold
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.tables import InvalidTable
from privacy.models import DataKey
from tests import factories as f

NOW = f.FIXED_NOW  # 2026-11-01 09:00 UTC
TODAY = NOW.date()
OFFICER = Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.PRIVACY_OFFICER}))
MONTHS = retention.schedules().months
# The day each category's clock must have started for it to fall due exactly today.
STARTED = {category: retention.add_months(TODAY, -months) for category, months in MONTHS.items()}


@dataclass
class Subject:
    enterprise_id: uuid.UUID
    loan_id: uuid.UUID | None


async def _subject(
    sessions: async_sessionmaker[AsyncSession], category: Category, *, since: date
) -> Subject:
    """An enterprise in ``category`` whose clock started on ``since``."""
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        enterprise = await f.enterprise(s)
        if category is Category.REJECTED_APPLICANT:
            application = await f.application(
                s,
                enterprise_id=enterprise.id,
                product_row=product,
                status=ApplicationStatus.REJECTED,
            )
            application.decided_at = datetime(
                since.year, since.month, since.day, 15, tzinfo=NOW.tzinfo
            )
            return Subject(enterprise.id, None)
        application = await f.application(
            s, enterprise_id=enterprise.id, product_row=product, status=ApplicationStatus.DISBURSED
        )
        application.decided_at = NOW - timedelta(days=3000)
        loan = await f.loan(s, application_row=application)
        loan.status = LoanStatus.CLOSED
        loan.closed_on = since
        loan.outstanding_principal = loan.principal - loan.principal
        return Subject(enterprise.id, loan.id)


async def _live(sessions: async_sessionmaker[AsyncSession], subject_id: uuid.UUID) -> bool:
    async with sessions() as s:
        key = await s.get(DataKey, subject_id)
        enterprise = await s.get(Enterprise, subject_id)
        assert key is not None
        assert enterprise is not None
        return key.shredded_at is None and enterprise.contact_phone is not None


async def _run(sessions: async_sessionmaker[AsyncSession], now: datetime) -> retention.Receipt:
    async with sessions() as s, s.begin():
        return await retention.run(s, f.KEYS, viewer=OFFICER, now=now)


async def _plan(sessions: async_sessionmaker[AsyncSession], now: datetime) -> retention.Plan:
    async with sessions() as s:
        return await retention.plan(s, now=now)


def test_the_shipped_schedules_cover_every_category() -> None:
    assert set(MONTHS) == set(Category)
    assert len(retention.schedules().version) == 16


@pytest.mark.parametrize(
    ("text_", "error"),
    [
        ("rejected_applicant, 6\n", "no schedule for closed_borrower"),
        ("rejected_applicant, 6\nclosed_borrower, 0\n", "positive"),
        ("rejected_applicant, 6\nclosed_borrower, 6\nrejected_applicant, 7\n", "twice"),
        ("rejected_applicant, 6\nclosed_borrower\n", "want"),
        ("nobody, 6\n", "unknown category"),
    ],
)
def test_a_malformed_schedule_table_is_refused(text_: str, error: str) -> None:
    with pytest.raises(InvalidTable, match=error):
        retention.parse(text_)


def test_months_are_added_to_the_calendar_clamped_to_the_month_end() -> None:
    assert retention.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert retention.add_months(date(2026, 11, 1), -60) == date(2021, 11, 1)
    assert retention.add_months(date(2023, 12, 15), 2) == date(2024, 2, 15)


@pytest.mark.parametrize("category", list(Category))
async def test_each_category_is_purged_when_due_and_not_before(
    sessions: async_sessionmaker[AsyncSession], category: Category
) -> None:
    subject = await _subject(sessions, category, since=STARTED[category])

    early = await _run(sessions, NOW - timedelta(days=1))
    assert early.total == 0
    assert await _live(sessions, subject.enterprise_id)

    receipt = await _run(sessions, NOW)
    assert receipt.purged[category] == (subject.enterprise_id,)
    assert receipt.total == 1
    assert not await _live(sessions, subject.enterprise_id)
    async with sessions() as s:
        # What the lender keeps: the application and the loan with its figures.
        assert await s.scalar(
            select(func.count(Application.id)).where(
                Application.enterprise_id == subject.enterprise_id
            )
        )
        if subject.loan_id is not None:
            loan = await s.get(Loan, subject.loan_id)
            assert loan is not None
            assert (loan.principal, loan.status) == (
                Decimal("200000.00"),
                LoanStatus.CLOSED,
            )


async def _hold(
    sessions: async_sessionmaker[AsyncSession], hold: Hold, subject_id: uuid.UUID
) -> None:
    async with sessions() as s, s.begin():
        if hold is Hold.LEGAL_HOLD:
            await retention.set_hold(
                s, viewer=OFFICER, subject_id=subject_id, reason="litigation pending, case 42"
            )
            return
        if hold is Hold.OPEN_SUBJECT_REQUEST:
            s.add(
                SubjectRequest(
                    kind="access",
                    subject_type="enterprise",
                    subject_id=subject_id,
                    requester_id=uuid.uuid4(),
                    details={},
                    identity_checked_at=NOW,
                    identity_method="session",
                    received_at=NOW,
                    due_at=NOW + timedelta(days=30),
                    status="open",
                )
            )
            return
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        if hold is Hold.APPLICATION_IN_PROGRESS:
            await f.application(s, enterprise_id=subject_id, product_row=product)
            return
        application = await f.application(
            s, enterprise_id=subject_id, product_row=product, status=ApplicationStatus.DISBURSED
        )
        loan = await f.loan(s, application_row=application)
        if hold is Hold.WRITTEN_OFF_LOAN:
            loan.status = LoanStatus.WRITTEN_OFF
            loan.written_off_on = TODAY


@pytest.mark.parametrize("hold", list(Hold))
async def test_each_hold_stops_the_purge(
    sessions: async_sessionmaker[AsyncSession], hold: Hold
) -> None:
    subject = await _subject(
        sessions, Category.CLOSED_BORROWER, since=STARTED[Category.CLOSED_BORROWER]
    )
    await _hold(sessions, hold, subject.enterprise_id)

    plan = await _plan(sessions, NOW)
    assert plan.due == ()
    assert [(i.subject_id, i.holds) for i in plan.held] == [(subject.enterprise_id, (hold,))]
    receipt = await _run(sessions, NOW)
    assert receipt.total == 0
    assert await _live(sessions, subject.enterprise_id)


async def test_a_released_legal_hold_lets_the_purge_go_on(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    subject = await _subject(
        sessions, Category.REJECTED_APPLICANT, since=STARTED[Category.REJECTED_APPLICANT]
    )
    async with sessions() as s, s.begin():
        hold = await retention.set_hold(
            s, viewer=OFFICER, subject_id=subject.enterprise_id, reason="regulator inquiry 7"
        )
    assert (await _run(sessions, NOW)).total == 0
    async with sessions() as s, s.begin():
        await retention.release_hold(s, viewer=OFFICER, hold_id=hold.id)
    with pytest.raises(Conflict):
        async with sessions() as s, s.begin():
            await retention.release_hold(s, viewer=OFFICER, hold_id=hold.id)
    assert (await _run(sessions, NOW)).purged[Category.REJECTED_APPLICANT] == (
        subject.enterprise_id,
    )


async def test_a_hold_needs_a_reason_and_a_subject(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    subject = await _subject(sessions, Category.REJECTED_APPLICANT, since=TODAY)
    async with sessions() as s:
        with pytest.raises(InvalidInput):
            await retention.set_hold(
                s, viewer=OFFICER, subject_id=subject.enterprise_id, reason="x"
            )
        with pytest.raises(NotFound):
            await retention.set_hold(
                s, viewer=OFFICER, subject_id=uuid.uuid4(), reason="litigation pending"
            )


async def test_the_dry_run_equals_the_run_and_a_second_run_purges_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    due = [
        await _subject(sessions, category, since=STARTED[category] - timedelta(days=n))
        for n in (0, 40)
        for category in Category
    ]
    not_yet = await _subject(
        sessions, Category.CLOSED_BORROWER, since=STARTED[Category.CLOSED_BORROWER] + timedelta(1)
    )
    held = await _subject(sessions, Category.REJECTED_APPLICANT, since=date(2020, 1, 1))
    await _hold(sessions, Hold.LEGAL_HOLD, held.enterprise_id)

    plan = await _plan(sessions, NOW)
    assert all([await _live(sessions, s.enterprise_id) for s in due])  # the dry run changed nothing
    receipt = await _run(sessions, NOW)
    planned = {c: sorted(i.subject_id for i in plan.due if i.category is c) for c in Category}
    assert {c: sorted(ids) for c, ids in receipt.purged.items()} == planned
    assert sorted(i for ids in planned.values() for i in ids) == sorted(
        s.enterprise_id for s in due
    )
    assert receipt.schedule_version == plan.schedule_version == retention.schedules().version
    assert await _live(sessions, not_yet.enterprise_id)
    assert await _live(sessions, held.enterprise_id)

    again = await _run(sessions, NOW + timedelta(hours=1))
    assert again.total == 0
    assert (await _plan(sessions, NOW + timedelta(hours=1))).due == ()
    async with sessions() as s:
        receipts = await retention.runs(s, limit=10)
    assert [r.id for r in receipts] == [again.id, receipt.id]
    assert receipts[1].purged == receipt.purged
    assert receipts[1].ran_at == NOW


@pytest.mark.postgres_only
async def test_receipts_refuse_update_and_delete_on_postgresql(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _run(sessions, NOW)
    for statement in ("UPDATE retention_runs SET total = 99", "DELETE FROM retention_runs"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as s, s.begin():
                await s.execute(text(statement))
    async with sessions() as s:
        assert await s.scalar(select(func.count(RetentionRun.id))) == 1
