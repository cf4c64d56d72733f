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

Portfolio re-scoring is split the same way: the parent pins the champion's version and
one assessment time, cuts the active loans into id ranges and defers a chunk job per
range. A re-scoring chunk writes its assessments, rating changes and marker in one
transaction, so a failed attempt leaves nothing and a repeated one finds its marker.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.tasks import Task
from procrastinate.types import JSONValue

from domain.jobs import files as job_files
from domain.jobs import repository as repo
from domain.jobs.models import FileRole, JobFile, JobRun, JobState
from domain.settings import Settings
from kernel import metrics, tracing
from kernel.base import utcnow
from kernel.errors import DomainError, InvalidInput

if TYPE_CHECKING:
    from domain.jobs.queue import Runtime

log = logging.getLogger("lendgraph.jobs")

SCAN = "risk_scan"
ESCALATION = "risk_escalation"
AGEING = "loan_ageing"
DRIFT = "model_drift"
TRAINING = "model_training"
IMPORT = "enterprise_import"
REPORT = "portfolio_report"
PURGE = "job_files_purge"
RESCORING = "portfolio_scoring"
SEALING = "log_sealing"
REINDEX = "blind_index_rotation"
REKEY = "data_key_replacement"
REQUEST_DEADLINES = "subject_request_escalation"
RETENTION = "retention"
CLOSE = "month_end_close"
CHUNK_TASK = "lendgraph.risk_scan_chunk"
RESCORING_CHUNK_TASK = "lendgraph.portfolio_scoring_chunk"
CHUNK_QUEUE = "chunks"
# Loans per chunk job: large enough that a job's overhead is noise, small enough that a
# 1M-loan book gives every worker of a few machines its share.
RANGE = 20_000
# Re-scoring reads five statements' worth of history per loan and writes an assessment
# with its reasons each: smaller ranges, so a chunk's transaction stays short.
RESCORING_RANGE = 5_000
FULL_EVERY = timedelta(days=1)
# A scan still running after this long is taken for dead (its chunks failed for good).
STALE_SCAN = timedelta(hours=6)
CHUNK_RETRY = RetryStrategy(max_attempts=3, wait=2)
# Seconds without a heartbeat (sent every 10 s) after which a worker is taken for dead.
STALLED_AFTER = 60
DEFAULT_IMPORT_BATCH = 1000


class ChunkDoneElsewhere(RuntimeError):
    """Another attempt of the same chunk counted it first; this attempt's writes roll back."""


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
    # Jobs' files past LENDGRAPH_JOB_FILE_RETENTION_DAYS are purged once a day.
    purge: str | None = "20 1 * * *"
    # The audit and access logs' rows sealed in batches (domain.audit.chain).
    sealing: str | None = "*/5 * * * *"
    # Personal data past its retention schedule crypto-shredded (domain.privacy.retention), daily.
    retention: str | None = "50 1 * * *"

    @classmethod
    def none(cls) -> Schedules:
        """For a process that runs only what it submits (the CLI, a benchmark)."""
        return cls(
            scan=None,
            escalation=None,
            ageing=None,
            drift=None,
            stalled=None,
            purge=None,
            sealing=None,
            request_deadlines=None,
            retention=None,
        )

    @classmethod
    def of(cls, settings: Settings) -> Schedules:
        interval = settings.risk_scan_interval
        every = cron_every(interval) if interval else None
        seal = settings.audit_seal_interval
        return cls(scan=every, escalation=every, sealing=cron_every(seal) if seal else None)

    def items(self) -> Mapping[str, str | None]:
        return {
            SCAN: self.scan,
            ESCALATION: self.escalation,
            AGEING: self.ageing,
            DRIFT: self.drift,
            PURGE: self.purge,
            SEALING: self.sealing,
            REQUEST_DEADLINES: self.request_deadlines,
            RETENTION: self.retention,
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
    params["plan"] = plan.to_json()
    bounds = await _split(runtime, run, params, int(params.get("range_size") or RANGE))
    chunk = context.app.tasks[CHUNK_TASK]
    await chunk.batch_defer_async(*_chunk_jobs(run.id, bounds))
    log.info(
        "risk scan split",
        extra={"job": str(run.id), "scan": str(report.scan_id), "chunks": len(bounds) + 1},
    )
    return None


async def _split(
    runtime: Runtime, run: JobRun, params: dict[str, Any], every: int
) -> list[uuid.UUID]:
    """Cut the active loans into ranges of ``every``: record the job's params and its
    total of chunks; the upper bounds of the ranges (the last one is open above)."""
    from domain.risk import queries

    async with runtime.sessions() as session:
        bounds = await queries.range_bounds(session, every=every)
    async with runtime.sessions() as session, session.begin():
        await repo.set_params(session, run.id, params)
        await repo.progress(session, run.id, done=0, total=len(bounds) + 1)
    return bounds


def _chunk_jobs(job_id: uuid.UUID, bounds: list[uuid.UUID]) -> list[dict[str, JSONValue]]:
    starts: list[uuid.UUID | None] = [None, *bounds]
    ends: list[uuid.UUID | None] = [*bounds, None]
    return [
        {
            "job_id": str(job_id),
            "seq": seq,
            "after": str(after) if after else None,
            "upto": str(upto) if upto else None,
        }
        for seq, (after, upto) in enumerate(zip(starts, ends, strict=True))
    ]


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


async def _rescore(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any] | None:
    from domain.risk.assessment import scoring_for

    async with runtime.sessions() as session:
        scorers = await scoring_for(runtime.settings.model_dir).scorers(session)
    if not scorers:
        raise InvalidInput("no scoring model is in service: train one and promote it")
    params = dict(run.params)
    params["version"] = scorers[0][0].version
    params["assessed_at"] = utcnow().isoformat()
    every = int(params.get("range_size") or RESCORING_RANGE)
    bounds = await _split(runtime, run, params, every)
    await context.app.tasks[RESCORING_CHUNK_TASK].batch_defer_async(*_chunk_jobs(run.id, bounds))
    log.info("portfolio scoring split", extra={"job": str(run.id), "chunks": len(bounds) + 1})
    return None


async def rescore_chunk(
    runtime: Runtime, job_id: uuid.UUID, seq: int, after: uuid.UUID | None, upto: uuid.UUID | None
) -> bool:
    """One range of a split re-scoring; False when it had been done already."""
    from domain.risk.assessment import active_loans, score_loans, scored_by, scoring_for

    async with runtime.sessions() as session, session.begin():
        run = await repo.get(session, job_id)
        if run is None or await repo.chunk_done(session, job_id, seq):
            return False
        version = str(run.params["version"])
        assessed_at = datetime.fromisoformat(run.params["assessed_at"])
        scorer = await scoring_for(runtime.settings.model_dir).scorer_of(session, version)
        loans = await active_loans(session, after=after, upto=upto)
        await score_loans(session, loans, version, scorer, assessed_at)
        counted = await count_chunk(session, job_id, seq)
        if counted is None:  # marked by another attempt meanwhile: this one's writes go
            raise ChunkDoneElsewhere(f"chunk {seq} of job {job_id}")
        done, total = counted
        if done >= total:
            scored = await scored_by(session, version, assessed_at)
            result = {"version": version, "loans": scored, "chunks": total}
            await repo.finish(session, job_id, state=JobState.SUCCEEDED, result=result)
    return True


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
        params={
            "budget_seconds": float(run.params["search_seconds"])
            if run.params.get("search_seconds")
            else None,
            "blend": bool(run.params.get("blend", False)),
        },
        progress=_progress_of(runtime, run),
    )


def _progress_of(runtime: Runtime, run: JobRun) -> Callable[[int, int], Awaitable[None]]:
    """A job's ``progress(done, total)``, each call written in a transaction of its own."""

    async def progress(done: int, total: int) -> None:
        async with runtime.sessions() as session, session.begin():
            await repo.progress(session, run.id, done=done, total=total)

    return progress


async def _keep_output(runtime: Runtime, run: JobRun, file: job_files.NewFile) -> JobFile:
    async with runtime.sessions() as session, session.begin():
        return await job_files.store(
            session,
            runtime.settings,
            file,
            job_id=run.id,
            owner_id=run.requested_by,
            institution_id=run.institution_id,
        )


async def _import(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    """An uploaded file, read back from the database, imported batch by batch (each batch
    one transaction, as the import has always done); rows done of the file's total are
    the job's progress."""
    from domain.imports.report import ReportFile
    from domain.imports.service import import_enterprises

    keys = runtime.settings.keys()
    async with runtime.sessions() as session:
        stored = await job_files.input_of(session, run.id)
        content = await job_files.read(session, keys, stored)
    params = run.params
    every_row = io.StringIO(newline="")
    rows = ReportFile(every_row, is_json=params.get("rows_format") == "json")
    report = await import_enterprises(
        runtime.sessions,
        io.BytesIO(content),
        name=stored.name,
        keys=keys,
        delimiter=str(params.get("delimiter", ",")),
        batch_size=int(params.get("batch_size", DEFAULT_IMPORT_BATCH)),
        actor_id=uuid.UUID(params["actor"]) if params.get("actor") else run.requested_by,
        institution_id=run.institution_id,
        request_id=params.get("request_id"),
        run_id=uuid.UUID(params["import_run"]) if params.get("import_run") else None,
        progress=_progress_of(runtime, run),
        on_row=rows.add,
    )
    counts = {k: v for k, v in report.run_values().items() if isinstance(v, int)}
    rows.close({**counts, "run_id": str(report.run_id), "status": report.status.value})
    # Every row's outcome, where the run keeps only the rows worth a look (up to a cap).
    await _keep_output(
        runtime,
        run,
        job_files.NewFile(
            role=FileRole.OUTPUT,
            name=f"{stored.name}.rows.{'json' if rows.is_json else 'csv'}",
            content_type=rows.content_type,
            content=every_row.getvalue().encode(),
            personal=False,  # credit codes, outcomes and notes that name no person
        ),
    )
    return {
        "importRun": str(report.run_id),
        "status": report.status.value,
        **counts,
        "ignored_columns": list(report.ignored_columns),
        "failed_batches": [b.to_dict() for b in report.batches if not b.landed],
    }


async def _report(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    """The HTML portfolio report over the institutions its requester could analyse when
    asking (kept in the job's parameters), stored as the job's output file."""
    from domain.analytics.report import render
    from domain.analytics.service import (
        PortfolioFilter,
        analyst_of,
        portfolio_summary,
        scope_label,
    )

    params = run.params
    flt = PortfolioFilter(
        start=date.fromisoformat(params["start"]) if params.get("start") else None,
        end=date.fromisoformat(params["end"]) if params.get("end") else None,
        institution_id=uuid.UUID(params["institution"]) if params.get("institution") else None,
    )
    given = params.get("institutions")
    scope = None if given is None else [uuid.UUID(i) for i in given]
    progress = _progress_of(runtime, run)
    async with runtime.sessions() as session:
        summary = await portfolio_summary(session, analyst_of(scope), flt, progress=progress)
        label = await scope_label(session, flt.institution_id, scope)
    page = await asyncio.to_thread(render, summary, scope=label)
    period = summary.period
    stored = await _keep_output(
        runtime,
        run,
        job_files.NewFile(
            role=FileRole.OUTPUT,
            name=f"portfolio-{period.start}-{period.end}.html",
            content_type="text/html; charset=utf-8",
            content=page.encode(),
            personal=True,  # borrowers by name, their exposures
        ),
    )
    return {
        "file": str(stored.id),
        "bytes": stored.size,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


async def _purge(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        return {"purged": await job_files.purge_expired(session)}


async def _seal(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.audit import integrity
    from domain.audit.chain import SealKey

    settings = runtime.settings
    sealed = await integrity.seal(
        runtime.sessions,
        SealKey(settings.audit_signing_key()),
        checkpoint=settings.audit_checkpoint_file,
    )
    return {"sealed": sealed}


async def _reindex(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.privacy.rekey import reindex

    return await reindex(
        runtime.sessions,
        runtime.settings.keys(),
        progress=_progress_of(runtime, run),
        batch=int(run.params.get("batch", 500)),
    )


async def _rekey(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.privacy.rekey import replace_data_keys

    # Keys made before the job was asked for; a retry does not redo those already new.
    return await replace_data_keys(
        runtime.sessions,
        runtime.settings.keys(),
        before=run.created_at,
        progress=_progress_of(runtime, run),
        batch=int(run.params.get("batch", 200)),
    )


async def _request_deadlines(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.privacy.requests import escalate_overdue

    async with runtime.sessions() as session, session.begin():
        return {"escalated": await escalate_overdue(session, now=utcnow())}


async def _retention(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    from domain.audit.chain import SealKey
    from domain.identity.viewer import Viewer
    from domain.privacy.retention import run as run_retention

    # The job acts for whoever asked (the schedule: nobody); its receipt says which.
    viewer = Viewer(user_id=run.requested_by)
    async with runtime.sessions() as session, session.begin():
        receipt = await run_retention(
            session,
            runtime.settings.keys(),
            viewer=viewer,
            seal_key=SealKey(runtime.settings.audit_signing_key()),
        )
    return {
        "receipt": str(receipt.id),
        "scheduleVersion": receipt.schedule_version,
        "purged": {c.value: len(ids) for c, ids in receipt.purged.items()},
        "logsPurged": {stream: rows for stream, (rows, _) in receipt.logs.items()},
    }


async def _close(runtime: Runtime, run: JobRun, context: JobContext) -> dict[str, Any]:
    """The month-end close of one institution's book (all when none is named), its steps
    one after the other (``domain.provisioning.close.STEPS``); each step is progress."""
    from domain.provisioning.close import Close, month_end_close

    params = run.params
    close = Close(
        as_of=date.fromisoformat(params["as_of"]),
        institution_id=uuid.UUID(params["institution"]) if params.get("institution") else None,
    )
    return await month_end_close(runtime.sessions, close, progress=_progress_of(runtime, run))


WORK: Mapping[str, Work] = {
    SCAN: _scan,
    ESCALATION: _escalate,
    AGEING: _age,
    DRIFT: _drift,
    TRAINING: _train,
    IMPORT: _import,
    REPORT: _report,
    PURGE: _purge,
    RESCORING: _rescore,
    SEALING: _seal,
    REINDEX: _reindex,
    REKEY: _rekey,
    REQUEST_DEADLINES: _request_deadlines,
    RETENTION: _retention,
    CLOSE: _close,
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
        await _chunk_job(context, uuid.UUID(job_id), seq, after, upto, SCAN)

    async def rescoring_chunk(
        context: JobContext, job_id: str, seq: int, after: str | None, upto: str | None
    ) -> None:
        await _chunk_job(context, uuid.UUID(job_id), seq, after, upto, RESCORING)

    if schedules.stalled is not None:
        app.periodic(cron=schedules.stalled, periodic_id="stalled")(
            app.task(name="lendgraph.retry_stalled", pass_context=True, queueing_lock="stalled")(
                retry_stalled
            )
        )

    registered.chunk = app.task(
        name=CHUNK_TASK, pass_context=True, queue=CHUNK_QUEUE, retry=CHUNK_RETRY
    )(chunk)
    app.task(name=RESCORING_CHUNK_TASK, pass_context=True, queue=CHUNK_QUEUE, retry=CHUNK_RETRY)(
        rescoring_chunk
    )
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


ChunkWork = Callable[
    ["Runtime", uuid.UUID, int, uuid.UUID | None, uuid.UUID | None], Awaitable[bool]
]
CHUNK_WORK: Mapping[str, ChunkWork] = {SCAN: scan_chunk, RESCORING: rescore_chunk}


async def _chunk_job(
    context: JobContext,
    job_id: uuid.UUID,
    seq: int,
    after: str | None,
    upto: str | None,
    kind: str,
) -> None:
    runtime = _runtime(context)
    started = time.perf_counter()
    outcome = "failed"
    try:
        with tracing.span(f"job {kind} chunk", {"lendgraph.job.id": str(job_id), "chunk": seq}):
            await CHUNK_WORK[kind](
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
        metrics.job_finished(f"{kind}_chunk", outcome, time.perf_counter() - started)
