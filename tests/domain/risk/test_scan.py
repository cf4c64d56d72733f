"""The portfolio scan against a real database: indicators, rules, warnings, alerts, increments."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enterprises.models import Enterprise
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending.models import DelinquencyBucket, Loan
from domain.models import (
    AlertSeverity,
    AlertStatus,
    DisposalAction,
    FinancialStatement,
    LoanWarning,
    RiskAlert,
    RiskAlertAction,
    RiskAssessment,
)
from domain.risk import scan as scanner
from domain.risk import service
from domain.risk.catalogue import default_warning_system
from domain.risk.indicators import Level
from domain.risk.scan import run_scan, score_chunk
from domain.risk.service import RuleDraft
from tests import factories

AS_OF = date(2026, 11, 1)
PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))


def at(days_before: int) -> datetime:
    return datetime(2026, 11, 1, 12, tzinfo=UTC) - timedelta(days=days_before)


def statement(
    enterprise_id: uuid.UUID, year: int, *, revenue: str, liabilities: str
) -> FinancialStatement:
    assets, owed = Decimal("1000000.00"), Decimal(liabilities)
    return FinancialStatement(
        enterprise_id=enterprise_id,
        fiscal_year=year,
        revenue=Decimal(revenue),
        cost_of_sales=Decimal("100000.00"),
        operating_profit=Decimal("90000.00"),
        interest_expense=Decimal("30000.00"),
        net_profit=Decimal("50000.00"),
        total_assets=assets,
        current_assets=Decimal("400000.00"),
        total_liabilities=owed,
        current_liabilities=Decimal("200000.00"),
        equity=assets - owed,
        operating_cash_flow=Decimal("60000.00"),
    )


def assessment(enterprise_id: uuid.UUID, pd: float, grade: str, days_before: int) -> RiskAssessment:
    return RiskAssessment(
        enterprise_id=enterprise_id,
        probability_of_default=pd,
        score=600,
        grade=grade,
        reasons=[],
        model_version="test",
        assessed_at=at(days_before),
    )


async def book(session: AsyncSession, institution_id: uuid.UUID | None = None) -> Loan:
    bank_id = institution_id or (await factories.institution(session)).id
    product = await factories.product(session, institution_id=bank_id)
    firm = await factories.enterprise(session)
    app = await factories.application(session, enterprise_id=firm.id, product_row=product)
    return await factories.booked_loan(session, application_row=app, disbursed_on=date(2026, 6, 1))


@pytest.fixture
async def book_of_three(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Loan]:
    """A troubled loan (late, PD up 8 points), a leveraged builder, and a sound loan."""
    async with sessions() as session, session.begin():
        late = await book(session)
        builder = await book(session, late.institution_id)
        sound = await book(session, late.institution_id)
        late.days_past_due, late.delinquency_bucket = 45, DelinquencyBucket.DPD_31_60
        await session.execute(
            update(Enterprise)
            .where(Enterprise.id == builder.enterprise_id)
            .values(industry="construction")
        )
        session.add_all(
            [
                assessment(late.enterprise_id, 0.02, "BB", 120),
                assessment(late.enterprise_id, 0.06, "B", 40),
                assessment(late.enterprise_id, 0.10, "B", 2),
                assessment(builder.enterprise_id, 0.04, "BB", 5),
                assessment(sound.enterprise_id, 0.005, "A", 5),
                statement(
                    builder.enterprise_id, 2025, revenue="2000000.00", liabilities="900000.00"
                ),
                statement(
                    builder.enterprise_id, 2024, revenue="2500000.00", liabilities="500000.00"
                ),
                statement(sound.enterprise_id, 2025, revenue="5000000.00", liabilities="300000.00"),
            ]
        )
        await service.upsert_rule(
            session,
            PLATFORM,
            RuleDraft(
                "late-and-worse",
                "Late and getting worse",
                "days_past_due > 30 and pd_change_90d > 0.05",
                AlertSeverity.HIGH,
                DisposalAction.COLLECTION,
            ),
        )
        await service.upsert_rule(
            session,
            PLATFORM,
            RuleDraft(
                "leveraged-builder",
                "Leveraged builder",
                'debt_to_asset > 0.85 and industry in ["construction", "real_estate"]',
                AlertSeverity.MEDIUM,
                DisposalAction.EXTRA_COLLATERAL,
            ),
        )
    return {"late": late, "builder": builder, "sound": sound}


async def alerts(sessions: async_sessionmaker[AsyncSession]) -> list[RiskAlert]:
    async with sessions() as session:
        return list((await session.scalars(select(RiskAlert).order_by(RiskAlert.rule_code))).all())


async def test_a_full_scan_raises_each_rule_on_the_loans_it_fits(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    # when
    report = await run_scan(sessions, as_of=AS_OF)

    # then
    assert report.full
    assert report.loans_scanned == 3
    assert report.rules == 2
    raised = await alerts(sessions)
    assert [(a.rule_code, a.loan_id) for a in raised] == [
        ("late-and-worse", book_of_three["late"].id),
        ("leveraged-builder", book_of_three["builder"].id),
    ]
    late = raised[0]
    assert late.status is AlertStatus.OPEN
    assert late.severity is AlertSeverity.HIGH
    assert late.action is DisposalAction.COLLECTION
    assert late.rule_version == 1
    assert late.indicators == {"days_past_due": 45, "pd_change_90d": pytest.approx(0.08)}
    assert late.due_at is not None
    assert late.due_at - late.opened_at == timedelta(hours=24)
    async with sessions() as session:
        kinds = (await session.scalars(select(RiskAlertAction.kind))).all()
    assert len(kinds) == 2
    assert {k.value for k in kinds} == {"raise"}


async def test_indicators_come_from_the_loan_its_borrower_and_the_lender_book(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    await run_scan(sessions, as_of=AS_OF)

    async with sessions() as session:
        rows = {w.loan_id: w for w in (await session.scalars(select(LoanWarning))).all()}
    late = rows[book_of_three["late"].id].indicators
    assert late["pd"] == pytest.approx(0.10)
    assert late["pd_change_30d"] == pytest.approx(0.04)  # 0.10 now, 0.06 thirty days ago
    assert late["grade_downgrade_90d"] == 1  # BB -> B
    assert late["debt_to_asset"] is None  # no statement filed: unknown, not zero
    builder = rows[book_of_three["builder"].id].indicators
    assert builder["debt_to_asset"] == pytest.approx(0.9)
    assert builder["revenue_change"] == pytest.approx(-0.2)
    assert builder["interest_coverage"] == pytest.approx(3.0)
    assert builder["current_ratio"] == pytest.approx(2.0)
    assert builder["industry_share"] == pytest.approx(1 / 3)  # equal loans, one of three
    assert builder["region_share"] == pytest.approx(1.0)
    # instalments still owed in the next 12 months over 2,000,000 of revenue
    assert 0.05 < builder["repayment_to_revenue"] < 0.11
    assert rows[book_of_three["sound"].id].level == "green"
    assert rows[book_of_three["late"].id].levels["days_past_due"] == "orange"


async def test_scans_never_duplicate_an_open_alert_and_rescan_only_what_changed(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    exact = timedelta(0)  # no look-back: what changed since the last scan began, only
    await run_scan(sessions, as_of=AS_OF)

    # an incremental scan with nothing changed reads no loan
    quiet = await run_scan(sessions, as_of=AS_OF, commit_lag=exact)
    assert not quiet.full
    assert quiet.loans_scanned == 0
    assert quiet.alerts_raised == 0

    # a full scan reads them all and still raises nothing new, nor rewrites a warning
    again = await run_scan(sessions, as_of=AS_OF, full=True)
    assert again.loans_scanned == 3
    assert again.alerts_raised == 0
    assert again.warnings_written == 0
    assert len(await alerts(sessions)) == 2

    # the sound loan falls behind: only it is rescanned
    async with sessions() as session, session.begin():
        sound = await session.get(Loan, book_of_three["sound"].id)
        assert sound is not None
        sound.days_past_due, sound.delinquency_bucket = 10, DelinquencyBucket.DPD_1_30
    moved = await run_scan(sessions, as_of=AS_OF, commit_lag=exact)
    assert not moved.full
    assert moved.loans_scanned == 1
    assert moved.warnings_written == 1

    # the builder restates last year's accounts, the late one's profile changes: both seen
    async with sessions() as session, session.begin():
        await session.execute(
            update(FinancialStatement)
            .where(
                FinancialStatement.enterprise_id == book_of_three["sound"].enterprise_id,
                FinancialStatement.fiscal_year == 2025,
            )
            .values(
                total_liabilities=Decimal("950000.00"),
                equity=Decimal("50000.00"),
            )
        )
        await session.execute(
            update(Enterprise)
            .where(Enterprise.id == book_of_three["late"].enterprise_id)
            .values(industry="real_estate")
        )
    restated = await run_scan(sessions, as_of=AS_OF, commit_lag=exact)
    assert restated.loans_scanned == 2
    async with sessions() as session:
        sound_warning = await session.get(LoanWarning, book_of_three["sound"].id)
    assert sound_warning is not None
    assert sound_warning.indicators["debt_to_asset"] == pytest.approx(0.95)


async def test_a_change_committed_while_a_scan_ran_is_caught_by_the_next(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    # given: a write stamped before the scan started, but committed after it
    first = await run_scan(sessions, as_of=AS_OF)
    async with sessions() as session:
        started = await session.scalar(
            select(scanner.RiskScan.started_at).where(scanner.RiskScan.id == first.scan_id)
        )
    assert started is not None
    async with sessions() as session, session.begin():
        await session.execute(
            update(Loan)
            .where(Loan.id == book_of_three["sound"].id)
            .values(
                days_past_due=40,
                delinquency_bucket=DelinquencyBucket.DPD_31_60,
                updated_at=started - timedelta(seconds=5),
            )
        )

    # when / then: without a look-back it is lost; with the default one it is caught
    assert (await run_scan(sessions, as_of=AS_OF, commit_lag=timedelta(0))).loans_scanned == 0
    caught = await run_scan(sessions, as_of=AS_OF)
    assert caught.loans_scanned >= 1
    async with sessions() as session:
        warning = await session.get(LoanWarning, book_of_three["sound"].id)
    assert warning is not None
    assert warning.indicators["days_past_due"] == 40


async def test_owing_with_nothing_to_own_is_the_worst_leverage_not_an_unknown(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    async with sessions() as session, session.begin():
        session.add(
            FinancialStatement(
                enterprise_id=book_of_three["late"].enterprise_id,
                fiscal_year=2025,
                revenue=Decimal("0.00"),
                cost_of_sales=Decimal("0.00"),
                operating_profit=Decimal("-10000.00"),
                interest_expense=Decimal("0.00"),
                net_profit=Decimal("-10000.00"),
                total_assets=Decimal("0.00"),
                current_assets=Decimal("0.00"),
                total_liabilities=Decimal("500000.00"),
                current_liabilities=Decimal("100000.00"),
                equity=Decimal("-500000.00"),
                operating_cash_flow=Decimal("0.00"),
            )
        )

    await run_scan(sessions, as_of=AS_OF)

    async with sessions() as session:
        warning = await session.get(LoanWarning, book_of_three["late"].id)
    assert warning is not None
    assert warning.indicators["debt_to_asset"] == scanner.RATIO_CAP
    assert warning.indicators["repayment_to_revenue"] == scanner.RATIO_CAP
    assert warning.indicators["interest_coverage"] is None  # no interest, no profit either
    assert warning.levels["debt_to_asset"] == "red"


async def test_a_resolved_alert_can_be_raised_again_and_a_new_rule_version_forces_a_full_scan(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    await run_scan(sessions, as_of=AS_OF)
    async with sessions() as session, session.begin():
        await session.execute(update(RiskAlert).values(status=AlertStatus.RESOLVED))
        row = await service.upsert_rule(
            session,
            PLATFORM,
            RuleDraft(
                "late-and-worse",
                "Late and getting worse",
                "days_past_due > 30 and pd_change_90d > 0.07",
                AlertSeverity.CRITICAL,
                DisposalAction.COLLECTION,
            ),
        )
        assert row.version == 2

    report = await run_scan(sessions, as_of=AS_OF)

    assert report.full
    assert report.alerts_raised == 2
    fresh = [a for a in await alerts(sessions) if a.status is AlertStatus.OPEN]
    assert {(a.rule_code, a.rule_version, a.severity) for a in fresh} == {
        ("late-and-worse", 2, AlertSeverity.CRITICAL),
        ("leveraged-builder", 1, AlertSeverity.MEDIUM),
    }


async def test_an_institution_rule_runs_on_that_institution_loans_only(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    async with sessions() as session, session.begin():
        other = await book(session)
        officer = Viewer(
            institution_roles={other.institution_id: frozenset({Role.RISK_OFFICER})},
        )
        await service.upsert_rule(
            session,
            officer,
            RuleDraft(
                "our-big-loans",
                "Any loan of ours",
                "outstanding > 0",
                AlertSeverity.LOW,
                DisposalAction.MONITOR,
                institution_id=other.institution_id,
            ),
        )

    await run_scan(sessions, as_of=AS_OF)

    ours = [a for a in await alerts(sessions) if a.rule_code == "our-big-loans"]
    assert [a.loan_id for a in ours] == [other.id]


async def test_dry_run_counts_without_writing(
    sessions: async_sessionmaker[AsyncSession], book_of_three: dict[str, Loan]
) -> None:
    async with sessions() as session:
        result = await service.dry_run(
            session, PLATFORM, "pd > 0.03 or debt_to_asset > 0.5", as_of=AS_OF
        )
        written = await session.scalar(select(func.count()).select_from(RiskAlert))
    assert (result.loans_scanned, result.matched, result.unknown) == (3, 2, 0)
    assert set(result.sample) == {book_of_three["late"].id, book_of_three["builder"].id}
    assert written == 0


def test_the_chunk_scorer_agrees_with_the_one_loan_scorer() -> None:
    system = default_warning_system()
    rng = random.Random(7)
    chunk = [
        {
            rule.name: (
                None if rng.random() < 0.15 else rng.uniform(-1.0, 1.5) * rule.thresholds[2]
            )
            for rule in system.rules
        }
        for _ in range(500)
    ]
    columns = {
        rule.name: np.array([values[rule.name] for values in chunk], dtype=np.float64)
        for rule in system.rules
    }
    scores, overall, levels = score_chunk(system, columns, len(chunk))
    for k, values in enumerate(chunk):
        one = system.assess(values)
        assert scores[k] == pytest.approx(one.score)
        assert Level(int(overall[k])) is one.level
        assert {n: Level(int(lv[k])) for n, lv in levels.items()} == one.levels
    assert {Level(int(v)) for v in overall} >= {Level.GREEN, Level.YELLOW}


async def test_a_second_scan_while_one_runs_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with scanner._local_lock:
        with pytest.raises(scanner.ScanRunning):
            await run_scan(sessions, as_of=AS_OF)


async def test_a_chunk_that_fails_to_write_stops_the_scan_and_leaves_no_read_running(
    sessions: async_sessionmaker[AsyncSession],
    book_of_three: dict[str, Loan],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: writing the first chunk fails, while the next chunk's read is under way
    async def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(scanner, "_write_chunk", broken)

    # Tasks of the shared test loop that were alive before (a connection pool's
    # scheduler, say) are not the scan's.
    before = {t for t in asyncio.all_tasks() if not t.done()}

    # when
    with pytest.raises(RuntimeError, match="disk full"):
        await run_scan(sessions, as_of=AS_OF, full=True, chunk_size=1)

    # then: the prefetching read was stopped, the scan never finished, and the lock is free
    assert [t for t in asyncio.all_tasks() if t not in before and not t.done()] == []
    async with sessions() as session:
        finished = await session.scalar(
            select(func.count())
            .select_from(scanner.RiskScan)
            .where(scanner.RiskScan.finished_at.is_not(None))
        )
        warnings = await session.scalar(select(func.count()).select_from(LoanWarning))
    assert (finished, warnings) == (0, 0)
    monkeypatch.undo()
    report = await run_scan(sessions, as_of=AS_OF, full=True, chunk_size=1)
    assert report.loans_scanned == 3
