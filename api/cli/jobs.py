"""Background jobs: submit one and follow it, list recent ones; a finished job's output."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity.models import Role
from domain.jobs.errors import JobFailed
from domain.settings import Settings
from kernel.db import create_engine, session_factory
from kernel.errors import NotFound

if TYPE_CHECKING:
    from domain.jobs.files import NewFile
    from domain.jobs.models import JobFile


from api.cli.common import (
    as_of_day,
    console,
    guarded,
    print_json,
    settings_or_exit,
    transact,
    with_sessions,
)

group = typer.Typer(
    help="Background jobs: run one and follow it, list recent ones.", no_args_is_help=True
)

JOB_KINDS = {
    "risk-scan": "risk_scan",
    "escalation": "risk_escalation",
    "ageing": "loan_ageing",
    "drift": "model_drift",
    "training": "model_training",
    "purge-files": "job_files_purge",
    "rescoring": "portfolio_scoring",
    "request-deadlines": "subject_request_escalation",
    "retention": "retention",
    "close": "month_end_close",
}


async def follow(
    settings: Settings,
    kind: str,
    params: dict[str, object],
    *,
    wait: bool,
    files: Sequence[NewFile] = (),
    label: str | None = None,
) -> dict[str, Any]:
    """Submit a job (with its input ``files``) and, unless told not to, show its progress
    until it ends. On SQLite this process runs it (the in-memory queue is this
    process's); on PostgreSQL the workers do, and this only watches its record."""
    from domain.jobs import repository as jobs_repo
    from domain.jobs.models import JobState
    from domain.jobs.queue import JobQueue, Runtime, drain
    from domain.jobs.tasks import Schedules

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    # Schedules are the workers' (or `serve`'s on SQLite), never a command's.
    queue = JobQueue(settings, schedules=Schedules.none())
    try:
        run = await queue.submit(sessions, kind, params=params, trigger="cli", files=files)
        if not wait:
            return {"job": str(run.id), "state": run.state.value}
        runner = (
            asyncio.create_task(drain(queue, Runtime(settings, sessions)))
            if queue.embedded
            else None
        )
        with Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(label or kind, total=None)
            while True:
                async with sessions() as session:
                    row = await jobs_repo.get(session, run.id)
                assert row is not None
                shown = label or row.state
                bar.update(task, completed=row.done, total=row.total, description=shown)
                if row.state in (JobState.SUCCEEDED, JobState.FAILED):
                    break
                if runner is not None and runner.done():
                    runner.result()  # a worker that died says why; one that ended is rerun
                    runner = asyncio.create_task(drain(queue, Runtime(settings, sessions)))
                await asyncio.sleep(0.3)
        if runner is not None:
            await runner
        if row.state is JobState.FAILED:
            raise JobFailed(row.error or "the job failed")
        return {"job": str(row.id), "state": row.state.value, "result": row.result}
    finally:
        await queue.close()
        await engine.dispose()


@group.command("run")
def jobs_run(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOB_KINDS)}.")],
    full: Annotated[
        bool, typer.Option("--full", help="risk-scan: every active loan, changed or not.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="risk-scan, ageing: the day, YYYY-MM-DD.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow it with a progress bar.")] = True,
) -> None:
    """Queue a job now (as its schedule would) and follow its progress."""
    if kind not in JOB_KINDS:
        console.print(f"[red]BAD_USER_INPUT[/red]: no job {kind!r}; one of {', '.join(JOB_KINDS)}")
        raise typer.Exit(2)
    params: dict[str, object] = {"full": True} if full else {}
    if as_of is not None:
        params["as_of"] = as_of_day(as_of).isoformat()
    settings = settings_or_exit()
    print_json(guarded(settings, lambda: follow(settings, JOB_KINDS[kind], params, wait=wait)))


@group.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The newest jobs: kind, state, progress, timestamps, error."""
    from domain.identity.viewer import Viewer
    from domain.jobs import repository as jobs_repo

    operator = Viewer(platform_roles=frozenset({Role.PLATFORM_ADMIN}))
    rows = transact(
        settings_or_exit(),
        lambda session: jobs_repo.list_jobs(session, viewer=operator, first=limit, after=None),
    )
    for row in rows[:limit]:
        progress = f"{row.done}/{row.total}" if row.total is not None else "-"
        typer.echo(
            f"{row.id}  {row.kind:<16} {row.state.value:<9} {progress:>9}  "
            f"{row.created_at.isoformat(timespec='seconds')}  {row.error or ''}".rstrip()
        )


async def output_of(settings: Settings, job_id: str) -> bytes:
    """The content of a finished job's output file (a report, every row of an import)."""
    import uuid

    from domain.jobs import files as job_files
    from domain.jobs import repository as jobs_repo
    from domain.jobs.models import FileRole

    async def read(sessions: async_sessionmaker[AsyncSession]) -> bytes:
        async with sessions() as session:
            found: JobFile | None = await jobs_repo.file_of_job(
                session, uuid.UUID(job_id), FileRole.OUTPUT
            )
            if found is None:
                raise NotFound(f"job {job_id} left no output file")
            return await job_files.read(session, settings.keys(), found)

    return await with_sessions(settings, read)
