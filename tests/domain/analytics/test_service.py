"""Portfolio figures of a constructed book, each worked out by hand (tests/.../portfolio.py)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics import repository as repo
from domain.analytics import service
from domain.analytics.models import RollState
from domain.analytics.service import PortfolioFilter
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending.models import DelinquencyBucket, Loan
from domain.products.models import ProductType
from kernel.base import utcnow
from kernel.errors import Forbidden, InvalidInput
from tests.domain.analytics.portfolio import END, PERIOD, START, Book, build

B = DelinquencyBucket
PLATFORM = Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
HOURS = pytest.approx  # SQLite's julianday keeps time to about a millisecond


def staff(institution_id: uuid.UUID, role: Role = Role.RISK_OFFICER) -> Viewer:
    return Viewer(user_id=uuid.uuid4(), institution_roles={institution_id: frozenset({role})})


@pytest.fixture
async def book(sessions: async_sessionmaker[AsyncSession]) -> Book:
    async with sessions() as s, s.begin():
        return await build(s)


async def test_the_funnel_counts_the_stages_reached_by_applications_submitted_in_the_period(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        funnel = await service.application_funnel(s, staff(book.a.id), PERIOD)
        everyone = await service.application_funnel(s, PLATFORM, PERIOD)

    # then: app1..app5 (not December's, not the draft, not B's app7)
    assert funnel == service.Funnel(
        submitted=5,
        reviewed=4,
        info_requested=1,
        approved=2,
        rejected=1,
        appealed=1,
        contract_signed=1,
        disbursed=1,
        withdrawn=1,
        pending=1,
        approval_rate=funnel.approval_rate,
    )
    assert funnel.approval_rate == pytest.approx(2 / 3)
    assert (everyone.submitted, everyone.approved, everyone.rejected) == (6, 3, 1)
    assert everyone.approval_rate == pytest.approx(3 / 4)


async def test_time_to_decision_runs_to_the_first_decision(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        mine = await service.decision_times(s, staff(book.a.id), PERIOD)
        everyone = await service.decision_times(s, PLATFORM, PERIOD)

    # then: A waited 48, 24 and 96 hours (app3's appeal is not its first decision); B 10
    assert mine.decided == 3
    assert mine.median_hours == HOURS(48.0, abs=1e-3)
    assert mine.p90_hours == HOURS(48 + 0.8 * (96 - 48), abs=1e-3)  # percentile_cont
    assert mine.mean_hours == HOURS(56.0, abs=1e-3)
    assert everyone.decided == 4
    assert everyone.median_hours == HOURS(36.0, abs=1e-3)  # halfway between 24 and 48
    assert everyone.p90_hours == HOURS(48 + 0.7 * 48, abs=1e-3)


async def test_volume_and_delinquency_are_the_snapshot_at_the_period_end(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        volume = await service.lending_volume(s, staff(book.a.id), PERIOD)
        delinquency = await service.delinquency(s, staff(book.a.id), PERIOD)

    # then: L1, L3 and L6 were paid out in the period; L1, L2, L3 are on the book at June's end
    assert volume == service.Volume(
        disbursed_loans=3,
        disbursed_amount=Decimal("460000.00"),
        active_loans=3,
        outstanding=Decimal("540000.00"),
        book_date=END,
    )
    buckets = {b.bucket: (b.loans, b.outstanding) for b in delinquency.buckets}
    assert [b.bucket for b in delinquency.buckets] == list(B)
    assert buckets == {
        B.CURRENT: (1, Decimal("80000.00")),
        B.DPD_1_30: (0, Decimal("0.00")),
        B.DPD_31_60: (1, Decimal("160000.00")),
        B.DPD_61_90: (0, Decimal("0.00")),
        B.DPD_90_PLUS: (1, Decimal("300000.00")),
    }
    assert delinquency.non_performing == Decimal("300000.00")
    assert delinquency.non_performing_ratio == pytest.approx(300 / 540)


async def test_the_live_book_is_the_loans_table_when_the_period_runs_to_today(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        delinquency = await service.delinquency(s, staff(book.a.id), PortfolioFilter())
        loss = await service.expected_loss(s, staff(book.a.id), PortfolioFilter())

    # then: the active loans as they stand (L4 and L6 written off, L7 closed)
    assert delinquency.outstanding == Decimal("530000.00")
    assert delinquency.non_performing_ratio == pytest.approx(300 / 530)
    assert loss.end.live
    # E1's newest PD 0.05 on 75,000; E2's 0.10 on 155,000; E3 unrated
    assert loss.end.expected_loss == Decimal("8662.50")
    assert loss.end.unrated_exposure == Decimal("300000.00")


async def test_roll_rates_follow_loans_from_one_month_end_to_the_next(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        rolls = await service.roll_rates(s, staff(book.a.id), PERIOD)

    # then: May's end to June's
    assert (rolls.after, rolls.until, rolls.loans) == (date(2026, 5, 31), date(2026, 6, 30), 5)
    moved = {(c.from_bucket, c.to_state): (c.loans, c.share) for c in rolls.cells if c.loans}
    assert moved == {
        (B.CURRENT, RollState.CURRENT): (1, 0.5),  # L1
        (B.CURRENT, RollState.CLOSED): (1, 0.5),  # L7, repaid
        (B.DPD_1_30, RollState.DPD_31_60): (1, 1.0),  # L2
        (B.DPD_61_90, RollState.DPD_90_PLUS): (1, 1.0),  # L3
        (B.DPD_90_PLUS, RollState.WRITTEN_OFF): (1, 1.0),  # L4
    }
    assert len(rolls.cells) == len(B) * len(RollState)
    cell = next(
        c
        for c in rolls.cells
        if (c.from_bucket, c.to_state) == (B.DPD_61_90, RollState.DPD_90_PLUS)
    )
    assert cell.outstanding == Decimal("300000.00")


async def test_a_vintage_curve_counts_defaults_by_months_on_book(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        curves = await service.vintage_curves(s, staff(book.a.id), PERIOD)

    # then: L1, L6 (January) and L3 (February) make 2026Q1; L6 defaults when written off in
    # April (month 3), L3 at June's snapshot (month 4), past what March's loans have shown
    assert [(c.cohort, c.cohort_start, c.loans, c.disbursed_amount) for c in curves] == [
        ("2026Q1", date(2026, 1, 1), 3, Decimal("460000.00"))
    ]
    points = [(p.months_on_book, p.defaulted) for p in curves[0].points]
    assert points == [(0, 0), (1, 0), (2, 0), (3, 1)]
    assert curves[0].points[-1].cumulative_default_rate == pytest.approx(1 / 3)


async def test_concentration_shares_and_herfindahl_indices(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        found = await service.concentration(s, staff(book.a.id), PERIOD)

    # then: E3 300,000, E2 160,000, E1 80,000 of 540,000
    assert [(b.name, b.outstanding) for b in found.top_borrowers] == [
        (book.firms["E3"].name, Decimal("300000.00")),
        (book.firms["E2"].name, Decimal("160000.00")),
        (book.firms["E1"].name, Decimal("80000.00")),
    ]
    assert found.borrowers == 3
    assert found.top_share == pytest.approx(1.0)
    assert found.borrower_hhi == pytest.approx((300**2 + 160**2 + 80**2) / 540**2)
    assert [(i.name, i.outstanding) for i in found.industries] == [
        ("retail", Decimal("300000.00")),
        ("manufacturing", Decimal("240000.00")),
    ]
    assert found.industry_hhi == pytest.approx((300**2 + 240**2) / 540**2)
    assert [r.name for r in found.regions] == ["Zhejiang", "Jiangsu"]
    assert [r.share for r in found.regions] == pytest.approx([380 / 540, 160 / 540])


async def test_the_per_borrower_read_cut_by_borrower_gives_the_same_figures(
    book: Book, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a cut between the book's borrowers, as the statistics would give one
    ids = sorted(firm.id for firm in book.firms.values())
    cut = ids[len(ids) // 2]

    async def bounds(_session: AsyncSession, *, parts: int) -> list[uuid.UUID]:
        return [cut] if parts > 1 else []

    parts: list[repo.IdRange] = []  # in the order they were asked for
    found_in: list[int] = []  # borrowers each part found
    whole_read = repo.borrowers

    async def spy(*args: object, **kw: object) -> repo.Borrowers:
        parts.append(kw["ids"])  # type: ignore[arg-type]
        found = await whole_read(*args, **kw)  # type: ignore[arg-type]
        found_in.append(sum(c.borrowers for c in found.cells))
        return found

    filters = (PERIOD, replace(PERIOD, end=utcnow().date()))  # a past book, then the live one
    whole = []
    for flt in filters:
        async with sessions() as s:
            whole.append(
                (
                    await service.concentration(s, PLATFORM, flt),
                    await service.expected_loss(s, PLATFORM, flt),
                )
            )

    # when
    monkeypatch.setattr(repo, "borrower_bounds", bounds)
    monkeypatch.setattr(repo, "borrowers", spy)
    cut_up = []
    for flt in filters:
        memo = service.Memo(sessions)
        async with sessions() as s:
            cut_up.append(
                (
                    await service.concentration(s, PLATFORM, flt, memo=memo),
                    await service.expected_loss(s, PLATFORM, flt, memo=memo),
                )
            )

    # then: each book read in two parts, one each side of the cut, to the same figures
    assert parts == [(None, cut), (cut, None)] * 2
    assert all(found_in)
    assert cut_up == whole
    assert [figures[0].borrowers for figures in whole] == [4, 4]


@pytest.mark.postgres_only
async def test_borrower_bounds_come_from_the_statistics_of_the_loans(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    async with sessions() as s:
        await s.execute(text("ANALYZE loans"))
        await s.commit()

    # when
    async with sessions() as s:
        (bound,) = await repo.borrower_bounds(s, parts=2)
        borrowers = sorted((await s.scalars(select(Loan.enterprise_id).distinct())).all())

    # then: a borrower with loans, past the first
    assert bound in borrowers[1:]


async def test_expected_loss_and_its_change_use_the_pds_in_force_at_each_date(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        loss = await service.expected_loss(s, staff(book.a.id), PERIOD)
        harsher = await service.expected_loss(s, staff(book.a.id), PERIOD, lgd=0.9)

    # then: June's end: 80,000 x 0.05 + 160,000 x 0.10 (E3 unrated); December's end:
    # 190,000 x 0.10 + 60,000 x 0.02 (E1's PD then)
    assert (loss.end.on, loss.end.live, loss.start.on) == (END, False, date(2025, 12, 31))
    assert loss.end.expected_loss == Decimal("9000.00")
    assert loss.end.rated_exposure == Decimal("240000.00")
    assert loss.end.unrated_exposure == Decimal("300000.00")
    assert loss.end.average_pd == pytest.approx(20000 / 240000)
    assert loss.start.expected_loss == Decimal("9090.00")
    assert loss.change == Decimal("-90.00")
    assert loss.change_ratio == pytest.approx(-90 / 9090)
    assert harsher.end.expected_loss == Decimal("18000.00")


async def test_staff_see_only_their_institution(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # when
    async with sessions() as s:
        theirs = await service.portfolio_summary(s, staff(book.b.id), PERIOD)
        asking_for_a = await service.portfolio_summary(
            s, staff(book.b.id), replace(PERIOD, institution_id=book.a.id)
        )
        everyone = await service.delinquency(s, PLATFORM, PERIOD)

    # then
    assert theirs.delinquency.outstanding == Decimal("370000.00")
    assert theirs.funnel.submitted == 1
    assert theirs.decision_times.median_hours == HOURS(10.0, abs=1e-3)
    assert [b.name for b in theirs.concentration.top_borrowers] == [book.firms["E4"].name]
    assert theirs.volume.disbursed_amount == Decimal("400000.00")
    assert asking_for_a.delinquency.outstanding == Decimal("0.00")
    assert asking_for_a.funnel.submitted == 0
    assert asking_for_a.roll_rates.loans == 0
    assert asking_for_a.vintages == ()
    assert asking_for_a.expected_loss.end.exposure == Decimal("0.00")
    assert everyone.outstanding == Decimal("910000.00")


@pytest.mark.parametrize(
    "viewer",
    [
        Viewer(),
        Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.SME_OWNER})),
    ],
    ids=["anonymous", "owner"],
)
async def test_anyone_but_risk_staff_is_refused(
    viewer: Viewer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as s:
        with pytest.raises(Forbidden):
            await service.application_funnel(s, viewer, PERIOD)


async def test_loan_officers_are_refused_and_a_risk_officer_elsewhere_sees_only_there(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given: a loan officer at A who is also B's risk officer
    both = Viewer(
        user_id=uuid.uuid4(),
        institution_roles={
            book.a.id: frozenset({Role.LOAN_OFFICER}),
            book.b.id: frozenset({Role.RISK_OFFICER}),
        },
    )

    # when
    async with sessions() as s:
        with pytest.raises(Forbidden):
            await service.delinquency(s, staff(book.a.id, Role.LOAN_OFFICER), PERIOD)
        found = await service.delinquency(s, both, PERIOD)
        admin = await service.delinquency(s, staff(book.a.id, Role.INSTITUTION_ADMIN), PERIOD)

    # then
    assert found.outstanding == Decimal("370000.00")
    assert admin.outstanding == Decimal("540000.00")


@pytest.mark.parametrize(
    ("narrowed", "outstanding", "submitted", "disbursed"),
    [
        ({"product_type": ProductType.FACTORING}, "300000.00", 1, "300000.00"),
        ({"industry": "retail"}, "300000.00", 3, "360000.00"),
        ({"region": "Jiangsu"}, "160000.00", 3, "60000.00"),
        ({"product_type": ProductType.TERM_LOAN, "region": "Zhejiang"}, "80000.00", 1, "100000.00"),
    ],
)
async def test_filters_narrow_every_figure(
    book: Book,
    sessions: async_sessionmaker[AsyncSession],
    narrowed: dict[str, object],
    outstanding: str,
    submitted: int,
    disbursed: str,
) -> None:
    # given
    flt = replace(PERIOD, **narrowed)  # type: ignore[arg-type]

    # when
    async with sessions() as s:
        summary = await service.portfolio_summary(s, staff(book.a.id), flt)

    # then
    assert summary.delinquency.outstanding == Decimal(outstanding)
    assert summary.concentration.outstanding == Decimal(outstanding)
    assert summary.expected_loss.end.exposure == Decimal(outstanding)
    assert summary.funnel.submitted == submitted
    assert summary.volume.disbursed_amount == Decimal(disbursed)


def test_the_period_defaults_to_the_year_to_today_and_must_not_run_backwards() -> None:
    today = date(2026, 11, 26)
    period = service.resolve_period(PortfolioFilter(), today=today)
    assert (period.start, period.end, period.book_date, period.live) == (
        date(2025, 11, 27),
        today,
        today,
        True,
    )
    assert period.opening_date == date(2025, 10, 31)
    past = service.resolve_period(PortfolioFilter(start=START, end=date(2026, 9, 15)), today=today)
    assert (past.book_date, past.live) == (date(2026, 8, 31), False)
    with pytest.raises(InvalidInput):
        service.resolve_period(PortfolioFilter(start=END, end=START), today=today)


async def test_bad_arguments_are_refused(
    book: Book, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as s:
        with pytest.raises(InvalidInput):
            await service.expected_loss(s, PLATFORM, PERIOD, lgd=1.5)
        with pytest.raises(InvalidInput):
            await service.roll_rates(s, PLATFORM, PERIOD, months=0)


def test_month_ends_run_from_one_month_end_to_another() -> None:
    assert repo.month_ends(date(2025, 11, 30), date(2026, 3, 31)) == [
        date(2025, 11, 30),
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
    ]
    assert repo.month_ends(date(2026, 5, 31), date(2026, 5, 31)) == [date(2026, 5, 31)]
