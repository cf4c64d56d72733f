"""Rating history: written on a change of grade, rebuilt alike, counted into a matrix."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.applications.models import Application, ApplicationStatus
from domain.enterprises.models import Enterprise
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.risk import ratings
from domain.risk.assessment import Scoring, assess_application, score_portfolio, training_sample
from domain.risk.models import CreditRating, RiskAssessment
from domain.risk.registry import promote, register
from kernel.errors import InvalidInput
from scoring.features import PLATFORM_FEATURES
from scoring.training import fit
from seed import seed_population
from tests import factories as f

PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
START, END = date(2026, 3, 10), date(2026, 6, 30)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def assessed(
    s: AsyncSession,
    enterprise_id: uuid.UUID,
    grade: str,
    when: datetime,
    *,
    shadow: bool = False,
    pd: float = 0.02,
) -> RiskAssessment:
    row = RiskAssessment(
        enterprise_id=enterprise_id,
        probability_of_default=pd,
        score=640,
        grade=grade,
        reasons=[],
        model_version="m1",
        assessed_at=when,
        shadow=shadow,
    )
    s.add(row)
    await s.flush()
    return row


async def rated(s: AsyncSession, enterprise_id: uuid.UUID, *grades: tuple[str, datetime]) -> None:
    """A constructed history: each (grade, when) a rating, previous grades chained."""
    previous = None
    for grade, when in grades:
        s.add(
            CreditRating(
                enterprise_id=enterprise_id,
                grade=grade,
                previous_grade=previous,
                probability_of_default=0.02,
                score=640,
                model_version="m1",
                rated_at=when,
            )
        )
        previous = grade
    await s.flush()


async def history(s: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID | None, str, str | None]]:
    rows = await s.execute(
        select(
            CreditRating.id,
            CreditRating.assessment_id,
            CreditRating.grade,
            CreditRating.previous_grade,
        ).order_by(CreditRating.enterprise_id, CreditRating.rated_at, CreditRating.id)
    )
    return list(rows.all())


def cell(found: ratings.Migration, from_grade: str, to_grade: str) -> tuple[int, float]:
    (match,) = [c for c in found.cells if (c.from_grade, c.to_grade) == (from_grade, to_grade)]
    return match.count, match.share


# ------------------------------------------------------------------ writing the history


async def test_the_pd_in_force_is_the_newest_champion_and_not_a_profile_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        enterprise = await f.enterprise(s)
        firm_id = enterprise.id
        day = date(2026, 2, 1)
    stamp = await _profile_stamp(sessions, firm_id)

    # when: an assessment, a later one, a challenger's, then one dated before them all
    # recorded last (a slow transaction), then a batch
    async with sessions() as s, s.begin():
        await ratings.record(s, await assessed(s, firm_id, "A", at(day), pd=0.03))
    first = await _pd_in_force(sessions, firm_id)
    async with sessions() as s, s.begin():
        await ratings.record(s, await assessed(s, firm_id, "A", at(day, 13), pd=0.04))
        await ratings.record(s, await assessed(s, firm_id, "CCC", at(day, 14), shadow=True, pd=0.9))
        await ratings.record(s, await assessed(s, firm_id, "B", at(day, 9), pd=0.5))
    later = await _pd_in_force(sessions, firm_id)
    async with sessions() as s, s.begin():
        batch = [
            {
                "id": uuid.uuid4(),
                "enterprise_id": firm_id,
                "assessed_at": at(day, h),
                "shadow": False,
                "probability_of_default": pd,
                "grade": "A",
                "score": 600,
                "model_version": "m1",
            }
            for h, pd in ((16, 0.06), (17, 0.07), (15, 0.05))
        ]
        await ratings.record_many(s, batch)
    batched = await _pd_in_force(sessions, firm_id)

    # then
    assert first == (0.03, at(day))
    assert later == (0.04, at(day, 13))
    assert batched == (0.07, at(day, 17))
    assert await _profile_stamp(sessions, firm_id) == stamp


async def _pd_in_force(
    sessions: async_sessionmaker[AsyncSession], firm_id: uuid.UUID
) -> tuple[float | None, datetime | None]:
    async with sessions() as s:
        row = (
            await s.execute(
                select(Enterprise.pd_in_force, Enterprise.pd_assessed_at).where(
                    Enterprise.id == firm_id
                )
            )
        ).one()
    return row[0], row[1]


async def _profile_stamp(
    sessions: async_sessionmaker[AsyncSession], firm_id: uuid.UUID
) -> datetime:
    async with sessions() as s:
        stamp: datetime = await s.scalar(
            select(Enterprise.updated_at).where(Enterprise.id == firm_id)
        )
    return stamp


async def test_a_rating_is_written_only_when_the_grade_changes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        enterprise = await f.enterprise(s)
        day = date(2026, 2, 1)

        # when
        first = await ratings.record(s, await assessed(s, enterprise.id, "A", at(day)))
        same = await ratings.record(s, await assessed(s, enterprise.id, "A", at(day, 13)))
        shadow = await ratings.record(
            s, await assessed(s, enterprise.id, "CCC", at(day, 14), shadow=True)
        )
        worse = await assessed(s, enterprise.id, "BB", at(day, 15))
        changed = await ratings.record(s, worse)
        written = await history(s)

    # then
    assert first is not None
    assert (first.grade, first.previous_grade) == ("A", None)
    assert same is None
    assert shadow is None
    assert changed is not None
    assert (changed.id, changed.assessment_id, changed.previous_grade) == (worse.id, worse.id, "A")
    assert changed.rated_at == worse.assessed_at
    assert [(g, p) for _, _, g, p in written] == [("A", None), ("BB", "A")]


async def test_a_batch_is_recorded_as_one_by_one_and_as_the_rebuild_from_assessments(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: one enterprise already rated, one new; the batch carries repeats and a shadow
    async with sessions() as s, s.begin():
        old, new = await f.enterprise(s), await f.enterprise(s)
        day = date(2026, 4, 1)
        await ratings.record(s, await assessed(s, old.id, "BBB", at(day, 9)))
        batch = [
            await assessed(s, old.id, "BBB", at(day, 10)),
            await assessed(s, new.id, "A", at(day, 10)),
            await assessed(s, old.id, "BB", at(day, 11)),
            await assessed(s, new.id, "AA", at(day, 11), shadow=True),
            await assessed(s, new.id, "A", at(day, 12)),
            await assessed(s, old.id, "BBB", at(day, 12)),
        ]
        values = [
            {c.key: getattr(a, c.key) for c in RiskAssessment.__table__.columns} for a in batch
        ]

        # when
        written = await ratings.record_many(s, list(reversed(values)))
        incremental = await history(s)
        await s.execute(delete(CreditRating))
        rebuilt_count = await ratings.backfill(s)
        again = await ratings.backfill(s)
        rebuilt = await history(s)

    # then
    assert written == 3
    assert [(g, p) for _, _, g, p in incremental] == [
        *([("BBB", None), ("BB", "BBB"), ("BBB", "BB")] if old.id < new.id else []),
        ("A", None),
        *([] if old.id < new.id else [("BBB", None), ("BB", "BBB"), ("BBB", "BB")]),
    ]
    assert rebuilt == incremental
    assert (rebuilt_count, again) == (4, 0)


# ------------------------------------------------------------------ the migration matrix


async def test_the_matrix_counts_moves_between_the_grades_in_force_at_each_date(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        e = [await f.enterprise(s) for _ in range(7)]
        await rated(s, e[0].id, ("AA", at(date(2026, 1, 5))), ("BBB", at(date(2026, 5, 1))))
        await rated(s, e[1].id, ("AA", at(date(2026, 2, 1))))
        await rated(s, e[2].id, ("A", at(date(2026, 1, 1))), ("AA", at(date(2026, 4, 1))))
        # rated late on the start day: that grade is the one in force at its end
        await rated(s, e[3].id, ("AA", at(date(2026, 1, 3))), ("A", at(START, 23, 59)))
        # moved away and back again within the window: unchanged
        await rated(
            s,
            e[4].id,
            ("BB", at(date(2026, 1, 1))),
            ("CCC", at(date(2026, 4, 1))),
            ("BB", at(date(2026, 5, 1))),
        )
        # first rated within the window, and first rated after it
        await rated(s, e[5].id, ("B", at(date(2026, 4, 20))))
        await rated(s, e[6].id, ("C", at(END + timedelta(days=1), 0, 0)))

        # when
        found = await ratings.migration_matrix(s, PLATFORM, start=START, end=END)

    # then
    assert found.grades == ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
    assert len(found.cells) == 81
    assert cell(found, "AA", "BBB") == (1, 0.5)
    assert cell(found, "AA", "AA") == (1, 0.5)
    assert cell(found, "A", "AA") == (1, 0.5)
    assert cell(found, "A", "A") == (1, 0.5)
    assert cell(found, "BB", "BB") == (1, 1.0)
    assert cell(found, "B", "B") == (0, 0.0)
    assert dict(found.row_totals) == {**dict.fromkeys(found.grades, 0), "AA": 2, "A": 2, "BB": 1}
    assert sum(c.count for c in found.cells) == found.total == 5
    assert (found.upgrades, found.downgrades, found.unchanged) == (1, 1, 3)
    assert found.newly_rated == 1


async def test_one_day_compares_its_end_with_itself(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        enterprise = await f.enterprise(s)
        await rated(s, enterprise.id, ("A", at(START, 1)), ("B", at(START, 20)))

        # when
        found = await ratings.migration_matrix(s, PLATFORM, start=START, end=START)

    # then
    assert (found.total, found.unchanged, found.newly_rated) == (1, 1, 0)
    assert cell(found, "B", "B") == (1, 1.0)


async def test_a_start_after_the_end_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        with pytest.raises(InvalidInput, match="must not be after"):
            await ratings.migration_matrix(s, PLATFORM, start=END, end=START)


async def test_staff_count_only_the_enterprises_that_applied_to_their_institution(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a client of A, a client of B, one of both, a draft at B, one of nobody
    async with sessions() as s, s.begin():
        bank_a, bank_b = await f.institution(s), await f.institution(s)
        product_a = await f.product(s, institution_id=bank_a.id)
        product_b = await f.product(s, institution_id=bank_b.id)
        of_a, of_b, of_both, drafted, of_none = [await f.enterprise(s) for _ in range(5)]
        for enterprise, product, status in (
            (of_a, product_a, ApplicationStatus.SUBMITTED),
            (of_b, product_b, ApplicationStatus.DISBURSED),
            (of_both, product_a, ApplicationStatus.REJECTED),
            (of_both, product_b, ApplicationStatus.SUBMITTED),
            (drafted, product_b, ApplicationStatus.DRAFT),
        ):
            await f.application(s, enterprise_id=enterprise.id, product_row=product, status=status)
        for enterprise in (of_a, of_b, of_both, drafted, of_none):
            await rated(s, enterprise.id, ("BBB", at(date(2026, 1, 1))))
        officer_b = Viewer(
            user_id=uuid.uuid4(), institution_roles={bank_b.id: frozenset({Role.LOAN_OFFICER})}
        )
        owner = Viewer(user_id=uuid.uuid4())

        # when
        seen = {}
        for name, viewer, institution_id in (
            ("platform", PLATFORM, None),
            ("platform at A", PLATFORM, bank_a.id),
            ("officer of B", officer_b, None),
            ("officer of B at A", officer_b, bank_a.id),
            ("officer of B at B", officer_b, bank_b.id),
            ("owner", owner, None),
        ):
            found = await ratings.migration_matrix(
                s, viewer, start=START, end=END, institution_id=institution_id
            )
            seen[name] = found.total
        other_industry = await ratings.migration_matrix(
            s, PLATFORM, start=START, end=END, industry="catering"
        )
        same_region = await ratings.migration_matrix(
            s, officer_b, start=START, end=END, region="Zhejiang"
        )

    # then
    assert seen == {
        "platform": 5,
        "platform at A": 2,
        "officer of B": 2,
        "officer of B at A": 0,
        "officer of B at B": 2,
        "owner": 0,
    }
    assert other_industry.total == 0
    assert same_region.total == 2


# ------------------------------------------------------------------ where history comes from


async def test_the_seeded_population_has_the_history_its_assessments_imply(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when
    summary = await seed_population(sessions, enterprises=40, seed=7, keys=f.KEYS)

    # then: a rating wherever an enterprise's grade changed, in assessment order
    async with sessions() as s:
        assessments = (
            await s.execute(
                select(RiskAssessment.id, RiskAssessment.enterprise_id, RiskAssessment.grade)
                .where(RiskAssessment.shadow.is_(False))
                .order_by(
                    RiskAssessment.enterprise_id, RiskAssessment.assessed_at, RiskAssessment.id
                )
            )
        ).all()
        written = await history(s)
    expected = []
    last: dict[uuid.UUID, str] = {}
    for assessment_id, enterprise_id, grade in assessments:
        if last.get(enterprise_id) != grade:
            expected.append((assessment_id, assessment_id, grade, last.get(enterprise_id)))
        last[enterprise_id] = grade
    assert summary.credit_ratings == len(written) == len(expected) > 0
    assert sorted(written, key=str) == sorted(expected, key=str)
    assert any(previous is not None for *_, previous in written)


QUICK = {"iterations": 40, "early_stopping_rounds": 10, "validation_folds": 3}


async def test_scoring_the_portfolio_and_an_application_keep_the_history(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # given: a seeded book with its history, and a champion trained on it
    await seed_population(sessions, enterprises=150, seed=21, keys=f.KEYS)
    async with sessions() as s:
        sample = await training_sample(s, as_of=date(2026, 11, 1))
    cut = sorted(r["debt_to_asset"] or 0.0 for r in sample.rows)[len(sample.rows) * 4 // 5]
    labels = [int((r["debt_to_asset"] or 0.0) > cut) for r in sample.rows]
    model = fit(sample.rows, labels, PLATFORM_FEATURES, seed=1, params=QUICK)
    scoring = Scoring(tmp_path)
    async with sessions() as s, s.begin():
        await promote(s, (await register(s, model, tmp_path, source="test")).version)

    # when: the portfolio is re-scored, then one application is assessed again
    async with sessions() as s, s.begin():
        before = await s.scalar(select(func.count()).select_from(CreditRating))
        scored = await score_portfolio(s, scoring, chunk=25)
        application = await s.scalar(
            select(Application).where(Application.status == ApplicationStatus.DISBURSED).limit(1)
        )
        assert application is not None
        latest = await s.scalar(
            select(CreditRating.grade)
            .where(CreditRating.enterprise_id == application.enterprise_id)
            .order_by(CreditRating.rated_at.desc(), CreditRating.id.desc())
            .limit(1)
        )
        again = await assess_application(s, application, scoring)
        assert again is not None
        recorded = await s.scalar(
            select(func.count()).select_from(CreditRating).where(CreditRating.id == again.id)
        )
        incremental = await history(s)
        await s.execute(delete(CreditRating))
        await ratings.backfill(s)
        rebuilt = await history(s)

    # then: what was recorded as scores came in is what the assessments rebuild
    assert scored > 25
    assert before is not None
    assert len(incremental) > before
    assert rebuilt == incremental
    assert recorded == (1 if again.grade != latest else 0)
