"""Portfolio re-scoring as a job split into chunks that any worker takes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.jobs import tasks
from domain.jobs.models import JobChunk, JobState
from domain.jobs.queue import JobQueue, Runtime
from domain.lending.models import Loan, LoanStatus
from domain.risk.assessment import feature_rows, scoring_for, training_sample
from domain.risk.models import RiskAssessment
from domain.risk.registry import promote, register
from domain.settings import Settings
from scoring.features import PLATFORM_FEATURES
from scoring.training import fit
from seed import seed_population
from tests import factories
from tests.api.conftest import make_settings
from tests.domain.jobs.test_queue import (
    NOTHING_SCHEDULED,
    count,
    fail_first_count,
    finished,
    job,
    run_until,
)

QUICK = {"iterations": 40, "early_stopping_rounds": 10, "validation_folds": 3}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, model_dir=tmp_path / "models")


async def champion(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> str:
    """A champion trained on the seeded book (stand-in outcome: the most indebted fifth)."""
    async with sessions() as s:
        sample = await training_sample(s, as_of=date(2026, 11, 1))
    cut = sorted(r["debt_to_asset"] or 0.0 for r in sample.rows)[len(sample.rows) * 4 // 5]
    labels = [int((r["debt_to_asset"] or 0.0) > cut) for r in sample.rows]
    model = fit(sample.rows, labels, PLATFORM_FEATURES, seed=1, params=QUICK)
    async with sessions() as s, s.begin():
        row = await register(s, model, settings.model_dir, source="test")
        await promote(s, row.version)
    return row.version


async def test_rescoring_is_split_into_chunks_that_score_every_active_loan_once(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a seeded book and its champion; the first chunk fails once after its
    # writes, before it is counted (its transaction must leave nothing behind)
    await seed_population(sessions, enterprises=60, seed=5, keys=factories.KEYS)
    version = await champion(sessions, settings)
    failures = fail_first_count(monkeypatch)
    async with sessions() as s:
        active = list(
            (
                await s.execute(
                    select(Loan.id, Loan.application_id).where(Loan.status == LoanStatus.ACTIVE)
                )
            ).all()
        )
    assert len(active) > 20
    before = await count(sessions, RiskAssessment)
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when: re-scored in ranges of 10 loans
        run = await queue.submit(
            sessions, tasks.RESCORING, params={"range_size": 10}, trigger="cli"
        )
        await run_until(queue, runtime, lambda: finished(sessions, run.id), seconds=120)
    finally:
        await queue.close()

    # then: one chunk per range, every active loan assessed once by the champion
    assert failures == [0]
    done = await job(sessions, run.id)
    assert done.state is JobState.SUCCEEDED, done.error
    chunks = len(active) // 10 + 1
    assert (done.done, done.total) == (chunks, chunks)
    assert done.result == {"version": version, "loans": len(active), "chunks": chunks}
    assert await count(sessions, JobChunk) == chunks
    assert await count(sessions, RiskAssessment) == before + len(active)
    async with sessions() as s:
        new = (
            await s.scalars(
                select(RiskAssessment).where(
                    RiskAssessment.model_version == version, RiskAssessment.shadow.is_(False)
                )
            )
        ).all()
        rows = await feature_rows(s, [application_id for _, application_id in active])
        scorer = await scoring_for(settings.model_dir).scorer_of(s, version)
    assert sorted(a.application_id for a in new) == sorted(a for _, a in active)
    # and each is what the single-application path gives that application
    for assessment in new:
        alone = scorer.assess(rows[assessment.application_id])
        assert assessment.probability_of_default == pytest.approx(alone.pd, abs=1e-12)
        assert (assessment.score, assessment.grade) == (alone.score, alone.grade)
        assert assessment.reasons == [dict(r) for r in alone.reasons]


async def test_rescoring_without_a_champion_fails_with_its_code(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    try:
        run = await queue.submit(sessions, tasks.RESCORING, trigger="cli")
        await run_until(queue, Runtime(settings, sessions), lambda: finished(sessions, run.id))
    finally:
        await queue.close()
    done = await job(sessions, run.id)
    assert done.state is JobState.FAILED
    assert done.error is not None
    assert done.error.startswith("BAD_USER_INPUT")
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(JobChunk)) == 0
