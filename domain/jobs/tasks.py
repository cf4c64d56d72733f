"""The background work, as procrastinate tasks, and when the queue schedules it.

Each task keeps its ``JobRun`` record: running when a worker takes it, succeeded with a
result or failed with the error when it ends. An expected refusal (a ``DomainError``,
such as no champion model to check for drift) fails the job at once, as retrying cannot
change it; anything else is raised to procrastinate, which retries where the task says.

Periodic tasks are deferred by every worker's scheduler and deduplicated by procrastinate
(one row per task and tick in ``procrastinate_periodic_defers``), so a period runs once
whatever the number of workers; ``queueing_lock`` keeps a second one from queueing
behind one not yet started.

A full early-warning scan is split: the parent records the scan, cuts the active loans
into id ranges and defers one chunk job per range, which any worker takes. A chunk is
idempotent: alerts are raised once per (loan, rule) by the partial unique index, warnings
are rewritten only when their digest changed, and its counts land with its marker
(``job_chunks``) in one transaction. The chunk that completes the count closes the scan.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.tasks import Task
from procrastinate.types import JSONValue

from domain import metrics, tracing
from domain.base import utcnow
from domain.errors import DomainError
from domain.jobs import repository as repo
from domain.jobs.models import JobRun, JobState
from domain.settings import Settings

if TYPE_CHECKING:
    from domain.jobs.queue import Runtime

log = logging.getLogger("lendgraph.jobs")

SCAN = "risk_scan"
ESCALATION = "risk_escalation"
AGEING = "loan_ageing"
DRIFT = "model_drift"
TRAINING = "model_training"
REINDEX = "blind_index_rotation"
REKEY = "data_key_replacement"
REQUEST_DEADLINES = "subject_request_escalation"
CHUNK_TASK = "lendgraph.risk_scan_chunk"
CHUNK_QUEUE = "chunks"
# Loans per chunk job: large enough that a job's overhead is noise, small enough that a
# 1M-loan book gives every worker of a few machines its share.
RANGE = 20_000
FULL_EVERY = timedelta(days=1)
# A scan still running after this long is taken for dead (its chunks failed for good).
STALE_SCAN = timedelta(hours=6)
CHUNK_RETRY = RetryStrategy(max_attempts=3, wait=2)
# Seconds without a heartbeat (sent every 10 s) after which a worker is taken for dead.
STALLED_AFTER = 60

Work = Callable[["Runtime", JobRun, JobContext], Awaitable[dict[str, Any] | None]]


def cron_every(seconds: int) -> str:
    """A period as a cron line (procrastinate reads a sixth field as seconds); a period
    that does not divide the minute, the hour or the day has no cron line."""
    if seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    if seconds % 60 == 0 and seconds < 3600 and 60 % (seconds // 60) == 0:
        return f"*/{seconds // 60} * * * *"
    if seconds % 3600 == 0 and seconds <= 86_400 and 24 % (seconds // 3600) == 0:
        return f"0 */{seconds // 3600} * * *" if seconds < 86_400 else "0 0 * * *"
    raise ValueError(f"{seconds} s does not divide a minute, an hour or a day")


@dataclass(frozen=True)
class Schedules:
    """Cron lines of the periodic jobs; None leaves a job to its command or mutation."""

    scan: str | None = "*/15 * * * *"
    escalation: str | None = "*/15 * * * *"
    ageing: str | None = "10 0 * * *"  # daily, just after midnight UTC
    drift: str | None = "40 0 * * *"
    # Data-subject requests past their 30 days escalated; hourly, so none waits a day.
    request_deadlines: str | None = "5 * * * *"
    # Jobs held by a worker that stopped sending heartbeats (killed, machine lost) go back
    # to the queue; procrastinate leaves that to the application.
    stalled: str | None = "* * * * *"

    @classmethod
    def none(cls) -> Schedules:
        """For a process that runs only what it submits (the CLI, a benchmark)."""
        return cls(
            scan=None,
            escalation=None,
            ageing=None,
            drift=None,
            request_deadlines=None,
            stalled=None,
        )

    @classmethod
    def of(cls, settings: Settings) -> Schedules:
        interval = settings.risk_scan_interval
        every = cron_every(interval) if interval else None
        return cls(scan=every, escalation=every)

    def items(self) -> Mapping[str, str | None]:
        return {
            SCAN: self.scan,
            ESCALATION: self.escalation,
            AGEING: self.ageing,
            DRIFT: self.drift,
            REQUEST_DEADLINES: self.request_deadlines,
        }


@dataclass
class Registered:
    on_demand: dict[str, Task[Any, Any, Any]] = field(default_factory=dict)
    scheduled: dict[str, Task[Any, Any, Any]] = field(default_factory=dict)
    chunk: Task[Any, Any, Any] | None = None


def _runtime(context: JobContext) -> Runtime:
    return context.additional_context["runtime"]  # type: ignore[no-any-return]


def _final_attempt(context: JobContext) -> bool:
    strategy = context.task.retry_strategy
    if not isinstance(strategy, RetryStrategy) or not strategy.max_attempts:
        return strategy is None
    return context.job.attempts >= strategy.max_attempts


async def _perform(context: JobContext, run_id: uuid.UUID, work: Work) -> None:
    runtime = _runtime(context)
    sessions = runtime.sessions
    async with sessions() as session, session.begin():
        await repo.start(session, run_id, attempt=context.job.attempts + 1)
        run = await repo.get(session, run_id)
    if run is None:  # its record was deleted meanwhile: nothing to report to
        return
    started = time.perf_counter()
    outcome = "failed"
    try:
        with tracing.span(f"job {run.kind}", {"lendgraph.job.id": str(run_id)}):
            result = await work(runtime, run, context)
        outcome = "succeeded"
    except DomainError as exc:  # refused for a reason the job record states
        async with sessions() as session, session.begin():
            await repo.finish(
                session, run_id, state=JobState.FAILED, error=f"{exc.code}: {exc.message}"
            )
        return
    except Exception as exc:
        final = _final_attempt(context)
        outcome = "failed" if final else "retried"
        async with sessions() as session, session.begin():
            if final:
                await repo.finish(session, run_id, state=JobState.FAILED, error=repr(exc))
            else:
                await repo.finish(session, run_id, state=JobState.QUEUED, error=repr(exc))
        raise
    finally:
        metrics.job_finished(run.kind, outcome, time.perf_counter() - started)
    if result is not None:  # None: the job's chunks finish it
        async with sessions() as session, session.begin():
            await repo.finish(session, run_id, state=JobState.SUCCEEDED, result=result)


async def _scheduled_run(context: JobContext, kind: str, timestamp: int) -> uuid.UUID:
    async with _runtime(context).sessions() as session, session.begin():
        run = JobRun(
            kind=kind,
            state=JobState.QUEUED,
            trigger="schedule",
            params={"tick": timestamp},
            queue_job_id=context.job.id,
            done=0,
            attempts=0,
        )
        session.add(run)
    return run.id


# The work itself -----------------------------------------------------------------------


async def _scan(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any] | None:
    from domain.risk import queries
    from domain.risk.scan import begin_scan

    now = utcnow()
    params = dict(run.params)
    as_of = date.fromisoformat(params["as_of"]) if params.get("as_of") else now.date()
    async with runtime.sessions() as session:
        other = await repo.running_of_kind(session, SCAN, exclude=run.id)
        last_full = await queries.last_full_scan(session)
    if other is not None and other.started_at and now - other.started_at < STALE_SCAN:
        return {"skipped": f"scan job {other.id} is still running"}
    full = bool(params.get("full")) or last_full is None or now - last_full.started_at >= FULL_EVERY
    plan, report = await begin_scan(runtime.sessions, as_of=as_of, full=full, trigger=run.trigger)
    size = int(params.get("range_size") or RANGE)
    async with runtime.sessions() as session:
        bounds = await queries.range_bounds(session, every=size)
    starts: list[uuid.UUID | None] = [None, *bounds]
    ends: list[uuid.UUID | None] = [*bounds, None]
    params["plan"] = plan.to_json()
    async with runtime.sessions() as session, session.begin():
        await repo.set_params(session, run.id, params)
        await repo.progress(session, run.id, done=0, total=len(starts))
    chunk = context.app.tasks[CHUNK_TASK]
    jobs: list[dict[str, JSONValue]] = [
        {
            "job_id": str(run.id),
            "seq": seq,
            "after": str(after) if after else None,
            "upto": str(upto) if upto else None,
        }
        for seq, (after, upto) in enumerate(zip(starts, ends, strict=True))
    ]
    await chunk.batch_defer_async(*jobs)
    log.info(
        "risk scan split",
        extra={"job": str(run.id), "scan": str(report.scan_id), "chunks": len(starts)},
    )
    return None


async def scan_chunk(
    runtime: Runtime, job_id: uuid.UUID, seq: int, after: uuid.UUID | None, upto: uuid.UUID | None
) -> bool:
    """One range of a split scan; False when it had been done already (counted once)."""
    from domain.risk.scan import (
        ScanPlan,
        ScanReport,
        add_to_scan,
        close_scan,
        raised_in,
        scan_range,
    )

    async with runtime.sessions() as session:
        run = await repo.get(session, job_id)
        if run is None or await repo.chunk_done(session, job_id, seq):
            return False
    plan = ScanPlan.from_json(run.params["plan"])
    report = ScanReport(
        scan_id=plan.scan_id, as_of=plan.as_of, full=plan.full, rules=0, system_version=0
    )
    await scan_range(runtime.sessions, plan, report, after=after, upto=upto)
    async with runtime.sessions() as session, session.begin():
        counted = await count_chunk(session, job_id, seq)
        if counted is None:
            return False
        # Counted from what is stored: an attempt that failed after its writes raised
        # alerts this one found open already.
        alerts = await raised_in(session, plan.scan_id, after=after, upto=upto)
        await add_to_scan(session, plan.scan_id, loans=report.loans_scanned, alerts=alerts)
        done, total = counted
        if done >= total:
            scan = await close_scan(session, plan.scan_id)
            await repo.finish(
                session,
                job_id,
                state=JobState.SUCCEEDED,
                result={
                    "scan": str(scan.id),
                    "full": scan.full,
                    "loans": scan.loans_scanned,
                    "alerts": scan.alerts_raised,
                },
            )
    return True


# A seam the retry test uses to fail a chunk after its writes and before its count.
count_chunk = repo.mark_chunk


async def _escalate(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.risk.alerts import escalate_overdue

    async with runtime.sessions() as session, session.begin():
        return {"escalated": await escalate_overdue(session, now=utcnow())}


async def _age(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.lending.service import age_loans

    as_of = date.fromisoformat(run.params["as_of"]) if run.params.get("as_of") else None
    async with runtime.sessions() as session, session.begin():
        aged = await age_loans(session, as_of=as_of or utcnow().date())
    return {
        "as_of": aged.as_of.isoformat(),
        "loans": aged.loans,
        "changed": aged.changed,
        "snapshots": aged.snapshots,
    }


async def _drift(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.risk.monitoring import model_drift

    async with runtime.sessions() as session, session.begin():
        found = await model_drift(session, days=int(run.params.get("days", 90)))
    return {
        "version": found.version,
        "assessments": found.assessments,
        "unstable": found.unstable,
        "alertRaised": found.alert_raised,
    }


async def _train(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.risk.training import train_and_register, training_rows

    async def progress(done: int, total: int) -> None:
        async with runtime.sessions() as session, session.begin():
            await repo.progress(session, run.id, done=done, total=total)

    rows, labels, specs, source = await training_rows(runtime.sessions)
    return await train_and_register(
        runtime.sessions,
        runtime.settings.model_dir,
        rows=rows,
        labels=labels,
        specs=specs,
        source=source,
        folds=int(run.params.get("folds", 5)),
        seed=int(run.params.get("seed", 42)),
        promote=bool(run.params.get("promote", False)),
        progress=progress,
    )


async def _progress_of(runtime: Runtime, run: JobRun) -> Callable[[int, int], Awaitable[None]]:
    async def progress(done: int, total: int) -> None:
        async with runtime.sessions() as session, session.begin():
            await repo.progress(session, run.id, done=done, total=total)

    return progress


async def _reindex(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from privacy.rekey import reindex

    return await reindex(
        runtime.sessions,
        runtime.settings.keys(),
        progress=await _progress_of(runtime, run),
        batch=int(run.params.get("batch", 500)),
    )


async def _rekey(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from privacy.rekey import replace_data_keys

    # Keys made before the job was asked for; a retry does not redo those already new.
    return await replace_data_keys(
        runtime.sessions,
        runtime.settings.keys(),
        before=run.created_at,
        progress=await _progress_of(runtime, run),
        batch=int(run.params.get("batch", 200)),
    )


async def _request_deadlines(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from privacy.requests import escalate_overdue

    async with runtime.sessions() as session, session.begin():
        return {"escalated": await escalate_overdue(session, now=utcnow())}


WORK: Mapping[str, Work] = {
    SCAN: _scan,
    ESCALATION: _escalate,
    AGEING: _age,
    DRIFT: _drift,
    TRAINING: _train,
    REINDEX: _reindex,
    REKEY: _rekey,
    REQUEST_DEADLINES: _request_deadlines,
}


def register(app: procrastinate.App, schedules: Schedules) -> Registered:
    """Declare every task on ``app`` and schedule the periodic ones."""
    registered = Registered()
    crons = schedules.items()
    for kind, work in WORK.items():
        registered.on_demand[kind] = app.task(name=f"lendgraph.{kind}", pass_context=True)(
            _on_demand(work)
        )
        cron = crons.get(kind)
        if cron is None:
            continue
        task = app.task(name=f"lendgraph.{kind}.scheduled", pass_context=True, queueing_lock=kind)(
            _on_schedule(kind, work)
        )
        app.periodic(cron=cron, periodic_id=kind)(task)
        registered.scheduled[kind] = task

    async def chunk(
        context: JobContext, job_id: str, seq: int, after: str | None, upto: str | None
    ) -> None:
        await scan_chunk_job(context, uuid.UUID(job_id), seq, after, upto)

    if schedules.stalled is not None:
        app.periodic(cron=schedules.stalled, periodic_id="stalled")(
            app.task(name="lendgraph.retry_stalled", pass_context=True, queueing_lock="stalled")(
                retry_stalled
            )
        )

    registered.chunk = app.task(
        name=CHUNK_TASK, pass_context=True, queue=CHUNK_QUEUE, retry=CHUNK_RETRY
    )(chunk)
    return registered


async def retry_stalled(context: JobContext, timestamp: int) -> None:
    manager = context.app.job_manager
    for stalled in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
        log.warning(
            "job of a silent worker queued again",
            extra={"queue_job": stalled.id, "task": stalled.task_name},
        )
        await manager.retry_job(stalled)
    # The queue's depth for /metrics, counted once a minute by whichever worker ticks.
    for queue in await manager.list_queues_async():
        for status in ("todo", "doing", "failed"):
            metrics.queue_depth(queue["name"], status, int(queue.get(status) or 0))


def _on_demand(work: Work) -> Callable[..., Awaitable[None]]:
    async def run(context: JobContext, job_id: str) -> None:
        await _perform(context, uuid.UUID(job_id), work)

    return run


def _on_schedule(kind: str, work: Work) -> Callable[..., Awaitable[None]]:
    async def run(context: JobContext, timestamp: int) -> None:
        await _perform(context, await _scheduled_run(context, kind, timestamp), work)

    return run


async def scan_chunk_job(
    context: JobContext, job_id: uuid.UUID, seq: int, after: str | None, upto: str | None
) -> None:
    runtime = _runtime(context)
    started = time.perf_counter()
    outcome = "failed"
    try:
        with tracing.span("job scan chunk", {"lendgraph.job.id": str(job_id), "chunk": seq}):
            await scan_chunk(
                runtime,
                job_id,
                seq,
                uuid.UUID(after) if after else None,
                uuid.UUID(upto) if upto else None,
            )
        outcome = "succeeded"
    except Exception as exc:
        final = _final_attempt(context)
        outcome = "failed" if final else "retried"
        async with runtime.sessions() as session, session.begin():
            run = await repo.get(session, job_id)
            if run is not None:
                run.error = f"chunk {seq}: {exc!r}"[:4000]
                if final:
                    run.state = JobState.FAILED
                    run.finished_at = utcnow()
        raise
    finally:
        metrics.job_finished("risk_scan_chunk", outcome, time.perf_counter() - started)
