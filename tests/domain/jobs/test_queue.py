"""The job queue on a real database: procrastinate workers on PostgreSQL (its own tables,
LISTEN/NOTIFY, periodic deduplication), the in-memory queue on SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.applications.models import ApplicationStatus
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.jobs import tasks
from domain.jobs.models import JobChunk, JobRun, JobState
from domain.jobs.queue import JobQueue, Runtime, drain
from domain.lending.models import DelinquencyBucket
from domain.models import AlertSeverity, DisposalAction, RiskAlert, RiskScan
from domain.privacy.models import RetentionRun
from domain.risk import service
from domain.risk.service import RuleDraft
from domain.settings import Settings
from privacy.models import DataKey
from tests import factories
from tests.api.conftest import make_settings

PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
NOTHING_SCHEDULED = tasks.Schedules.none()


async def late_book(sessions: async_sessionmaker[AsyncSession], loans: int) -> list[uuid.UUID]:
    """``loans`` loans 45 days late, and a platform rule that fires on each of them."""
    ids = []
    async with sessions() as session, session.begin():
        bank = await factories.institution(session)
        product = await factories.product(session, institution_id=bank.id)
        for _ in range(loans):
            firm = await factories.enterprise(session)
            app = await factories.application(session, enterprise_id=firm.id, product_row=product)
            row = await factories.loan(session, application_row=app)
            row.days_past_due, row.delinquency_bucket = 45, DelinquencyBucket.DPD_31_60
            ids.append(row.id)
        await service.upsert_rule(
            session,
            PLATFORM,
            RuleDraft(
                "late",
                "A month late",
                "days_past_due > 30",
                AlertSeverity.HIGH,
                DisposalAction.COLLECTION,
            ),
        )
    return ids


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def run_until(
    queue: JobQueue,
    runtime: Runtime,
    done: Callable[[], Awaitable[bool]],
    *,
    seconds: float = 30,
) -> None:
    """Run the worker over what is queued until ``done`` says so (a retry is queued a
    couple of seconds later, after the worker found nothing more to do)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, "the jobs did not finish in time"
        await drain(queue, runtime)
        await asyncio.sleep(0.2)


async def job(sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> JobRun:
    async with sessions() as session:
        row = await session.get(JobRun, job_id)
        assert row is not None
        return row


async def finished(sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> bool:
    return (await job(sessions, job_id)).state in (JobState.SUCCEEDED, JobState.FAILED)


async def count(sessions: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def fail_first_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the first chunk fail once after its writes, before it is counted; the list
    of chunks failed so."""
    failures: list[int] = []
    count_chunk = tasks.count_chunk

    async def flaky(session: AsyncSession, job_id: uuid.UUID, seq: int) -> Any:
        if seq == 0 and not failures:
            failures.append(seq)
            raise ConnectionResetError("lost on the way back")
        return await count_chunk(session, job_id, seq)

    monkeypatch.setattr(tasks, "count_chunk", flaky)
    return failures


async def test_a_full_scan_is_split_into_chunk_jobs_that_finish_it(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: 12 late loans, chunks of 5 loans
    await late_book(sessions, 12)
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when
        run = await queue.submit(
            sessions, tasks.SCAN, params={"full": True, "range_size": 5}, trigger="cli"
        )
        await run_until(queue, runtime, lambda: finished(sessions, run.id))
    finally:
        await queue.close()

    # then: three chunks, every loan scanned once, an alert each, the scan closed
    done = await job(sessions, run.id)
    assert done.state is JobState.SUCCEEDED, done.error
    assert (done.done, done.total) == (3, 3)
    assert done.result is not None
    assert (done.result["loans"], done.result["alerts"]) == (12, 12)
    assert await count(sessions, RiskAlert) == 12
    assert await count(sessions, JobChunk) == 3
    async with sessions() as session:
        scan = (await session.scalars(select(RiskScan))).one()
    assert scan.finished_at is not None
    assert (scan.loans_scanned, scan.alerts_raised) == (12, 12)


async def test_a_chunk_retried_after_its_writes_raises_no_alert_twice_and_counts_once(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the first chunk fails once after its alerts are written, before it is counted
    await late_book(sessions, 8)
    failures = fail_first_count(monkeypatch)
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when
        run = await queue.submit(
            sessions, tasks.SCAN, params={"full": True, "range_size": 4}, trigger="cli"
        )
        await run_until(queue, runtime, lambda: finished(sessions, run.id))
    finally:
        await queue.close()

    # then: the retry ran (the job finished) and changed nothing twice
    assert failures == [0]
    done = await job(sessions, run.id)
    assert done.state is JobState.SUCCEEDED, done.error
    assert (done.done, done.total) == (3, 3)  # (, 4th], (4th, 8th], (8th, )
    assert done.error is not None
    assert "lost on the way back" in done.error
    async with sessions() as session:
        per_loan = (
            await session.execute(
                select(RiskAlert.loan_id, func.count()).group_by(RiskAlert.loan_id)
            )
        ).all()
        scan = (await session.scalars(select(RiskScan))).one()
    assert len(per_loan) == 8
    assert {n for _, n in per_loan} == {1}
    assert (scan.loans_scanned, scan.alerts_raised) == (8, 8)


async def test_a_job_that_cannot_be_done_fails_with_its_code(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: no champion model, so no drift to measure
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when
        run = await queue.submit(sessions, tasks.DRIFT, trigger="cli")
        await run_until(queue, runtime, lambda: finished(sessions, run.id))
    finally:
        await queue.close()

    # then
    done = await job(sessions, run.id)
    assert done.state is JobState.FAILED
    assert done.error == "BAD_USER_INPUT: no champion model: train one and promote it"
    assert done.started_at is not None
    assert done.finished_at is not None


async def test_ageing_runs_as_a_job_and_reports_what_it_did(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: loans booked as current, with nothing paid on an instalment long due
    async with sessions() as session, session.begin():
        bank = await factories.institution(session)
        product = await factories.product(session, institution_id=bank.id)
        firm = await factories.enterprise(session)
        app = await factories.application(session, enterprise_id=firm.id, product_row=product)
        await factories.booked_loan(session, application_row=app, disbursed_on=date(2026, 1, 1))
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when
        run = await queue.submit(
            sessions, tasks.AGEING, params={"as_of": "2026-06-01"}, trigger="cli"
        )
        await run_until(queue, runtime, lambda: finished(sessions, run.id))
    finally:
        await queue.close()

    # then
    done = await job(sessions, run.id)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.result == {"as_of": "2026-06-01", "loans": 1, "changed": 1, "snapshots": 0}


@pytest.mark.postgres_only
async def test_a_periodic_job_is_deferred_once_per_period_with_two_workers(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: two workers, each with its own connection pool as separate processes have,
    # both scheduling escalation every second
    every_second = tasks.Schedules(
        scan=None, escalation="* * * * * */1", ageing=None, drift=None, request_deadlines=None
    )
    queues = [JobQueue(settings, schedules=every_second) for _ in range(2)]
    runtime = Runtime(settings, sessions)
    workers = [
        asyncio.create_task(q.run_worker(runtime, name=f"w{i}", install_signal_handlers=False))
        for i, q in enumerate(queues)
    ]
    try:
        # when: they run side by side for a few periods
        await asyncio.sleep(4.5)
    finally:
        for w in workers:
            w.cancel()
            with suppress(asyncio.CancelledError):
                await w
        for q in queues:
            await q.close()

    # then: one escalation job per tick, whichever worker deferred it
    async with sessions() as session:
        runs = (await session.scalars(select(JobRun).where(JobRun.kind == tasks.ESCALATION))).all()
        defers = (
            await session.execute(
                text(
                    "SELECT defer_timestamp, count(*) FROM procrastinate_periodic_defers"
                    " WHERE task_name = 'lendgraph.risk_escalation.scheduled'"
                    " GROUP BY defer_timestamp"
                )
            )
        ).all()
    ticks = [r.params["tick"] for r in runs if r.state is JobState.SUCCEEDED]
    assert len(ticks) >= 3
    assert len(ticks) == len(set(ticks))
    assert {n for _, n in defers} == {1}
    assert {r.trigger for r in runs} == {"schedule"}


@pytest.mark.postgres_only
async def test_the_job_of_a_worker_gone_silent_goes_back_to_the_queue(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: a job taken by a worker whose last heartbeat is five minutes old
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    try:
        await queue.open()
        queue_id = await queue.tasks.on_demand[tasks.ESCALATION].defer_async(
            job_id=str(uuid.uuid4())
        )
        async with sessions() as session, session.begin():
            dead = await session.scalar(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat)"
                    " VALUES (now() - interval '5 minutes') RETURNING id"
                )
            )
            await session.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"
                ),
                {"w": dead, "j": queue_id},
            )

        # when: the housekeeping job runs
        await tasks.retry_stalled(SimpleNamespace(app=queue.app), 0)  # type: ignore[arg-type]
    finally:
        await queue.close()

    # then
    async with sessions() as session:
        status = await session.scalar(
            text("SELECT status FROM procrastinate_jobs WHERE id = :j"), {"j": queue_id}
        )
    assert status == "todo"


def _jobs_counted(task: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("lendgraph_jobs_total", {"task": task, "outcome": outcome}) or 0
    )


async def test_every_job_is_counted_and_timed_by_task_and_outcome(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: one job that does its work and one that is refused (no champion model)
    succeeded = _jobs_counted(tasks.AGEING, "succeeded")
    failed = _jobs_counted(tasks.DRIFT, "failed")
    timed = (
        REGISTRY.get_sample_value("lendgraph_job_duration_seconds_count", {"task": tasks.AGEING})
        or 0
    )
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when
        ageing = await queue.submit(
            sessions, tasks.AGEING, params={"as_of": "2026-06-01"}, trigger="cli"
        )
        drift = await queue.submit(sessions, tasks.DRIFT, trigger="cli")
        await run_until(queue, runtime, lambda: finished(sessions, ageing.id))
        await run_until(queue, runtime, lambda: finished(sessions, drift.id))
    finally:
        await queue.close()

    # then: what /metrics shows
    assert _jobs_counted(tasks.AGEING, "succeeded") == succeeded + 1
    assert _jobs_counted(tasks.DRIFT, "failed") == failed + 1
    assert (
        REGISTRY.get_sample_value("lendgraph_job_duration_seconds_count", {"task": tasks.AGEING})
        == timed + 1
    )


async def test_retention_runs_as_a_job_and_names_its_receipt(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: an enterprise rejected long before its schedule's six months
    async with sessions() as session, session.begin():
        bank = await factories.institution(session)
        product = await factories.product(session, institution_id=bank.id)
        firm = await factories.enterprise(session)
        app = await factories.application(
            session,
            enterprise_id=firm.id,
            product_row=product,
            status=ApplicationStatus.REJECTED,
        )
        app.decided_at = factories.FIXED_NOW - timedelta(days=3 * 365)
    queue = JobQueue(settings, schedules=NOTHING_SCHEDULED)
    runtime = Runtime(settings, sessions)
    try:
        # when
        run = await queue.submit(sessions, tasks.RETENTION, params={}, trigger="cli")
        await run_until(queue, runtime, lambda: finished(sessions, run.id))
    finally:
        await queue.close()

    # then: the enterprise is shredded and the job's result names the receipt
    done = await job(sessions, run.id)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.result is not None
    assert done.result["purged"] == {"rejected_applicant": 1, "closed_borrower": 0}
    async with sessions() as session:
        receipt = await session.get(RetentionRun, uuid.UUID(done.result["receipt"]))
        key = await session.get(DataKey, firm.id)
    assert receipt is not None
    assert receipt.purged["rejected_applicant"] == [str(firm.id)]
    assert key is not None
    assert key.shredded_at is not None
