"""The job queue: a procrastinate App over the deployment's database.

On PostgreSQL the queue is procrastinate's own tables (installed by migration 0018) and
``lendgraph worker`` processes, on any number of machines, run the jobs; web workers only
defer them. On SQLite there is no server to hold a queue that several processes share,
and a single writer could not use several workers anyway: the queue is procrastinate's
InMemoryConnector, run by the one process that serves (``serve`` allows one worker on
SQLite), so the same tasks, schedules and retries run there with nothing installed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import procrastinate
from procrastinate.testing import InMemoryConnector
from sqlalchemy import make_url, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.jobs import files as job_files
from domain.jobs import repository as repo
from domain.jobs import tasks
from domain.jobs.files import NewFile
from domain.jobs.models import JobRun, JobState
from domain.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """What a task needs from the process running it."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]


def connector_for(settings: Settings) -> procrastinate.BaseConnector:
    if not settings.database_url.startswith("postgresql"):
        return InMemoryConnector()
    # The same database as the service, through psycopg 3 (procrastinate's driver).
    url = make_url(settings.database_url).set(drivername="postgresql")
    return procrastinate.PsycopgConnector(
        conninfo=url.render_as_string(hide_password=False),
        min_size=1,
        max_size=max(2, settings.db_pool_size // 2),
    )


class JobQueue:
    """The App, its tasks and schedules; ``submit`` records a job and defers it."""

    def __init__(
        self,
        settings: Settings,
        *,
        connector: procrastinate.BaseConnector | None = None,
        schedules: tasks.Schedules | None = None,
    ) -> None:
        self.settings = settings
        self.embedded = not settings.database_url.startswith("postgresql")
        self.app = procrastinate.App(connector=connector or connector_for(settings))
        self.tasks = tasks.register(self.app, schedules or tasks.Schedules.of(settings))
        self._opened = False
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        async with self._lock:
            if not self._opened:
                await self.app.open_async()
                self._opened = True

    async def close(self) -> None:
        async with self._lock:
            if self._opened:
                await self.app.close_async()
                self._opened = False

    async def submit(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        trigger: str,
        requested_by: uuid.UUID | None = None,
        institution_id: uuid.UUID | None = None,
        files: Sequence[NewFile] = (),
    ) -> JobRun:
        """Record a job (queued) with its input ``files`` and defer its task; the record
        is what the API shows. The files land with the record or not at all."""
        task = self.tasks.on_demand[kind]
        async with sessions() as session, session.begin():
            run = JobRun(
                kind=kind,
                state=JobState.QUEUED,
                trigger=trigger,
                params=params or {},
                requested_by=requested_by,
                institution_id=institution_id,
                done=0,
                attempts=0,
            )
            session.add(run)
            await session.flush()
            for file in files:
                await job_files.store(
                    session,
                    self.settings,
                    file,
                    job_id=run.id,
                    owner_id=requested_by,
                    institution_id=institution_id,
                )
        await self.open()
        try:
            queue_id = await task.defer_async(job_id=str(run.id))
        except Exception as exc:  # the record must not stay queued for a job never deferred
            async with sessions() as session, session.begin():
                await repo.finish(session, run.id, state=JobState.FAILED, error=repr(exc))
            raise
        async with sessions() as session, session.begin():
            await session.execute(
                update(JobRun).where(JobRun.id == run.id).values(queue_job_id=queue_id)
            )
        run.queue_job_id = queue_id
        return run

    async def run_worker(
        self,
        runtime: Runtime,
        *,
        concurrency: int = 1,
        queues: Iterable[str] | None = None,
        wait: bool = True,
        name: str | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        await self.open()
        await self.app.run_worker_async(
            concurrency=concurrency,
            # None (every queue) is what procrastinate expects for "all", despite its hint.
            queues=list(queues) if queues else None,  # type: ignore[arg-type]
            wait=wait,
            name=name or "lendgraph",
            install_signal_handlers=install_signal_handlers,
            additional_context={"runtime": runtime},
            # Our records keep the history; the queue keeps what is still to do.
            delete_jobs="successful",
            # Fallback polling: LISTEN/NOTIFY wakes workers at once on PostgreSQL.
            fetch_job_polling_interval=1.0 if self.embedded else 5.0,
        )


async def drain(queue: JobQueue, runtime: Runtime, *, queues: Iterable[str] | None = None) -> None:
    """Run every job queued now and those they defer, then return (the CLI on SQLite)."""
    await queue.run_worker(runtime, queues=queues, wait=False, install_signal_handlers=False)


class InProcessRunner:
    """The embedded default's worker, as a task of the serving process."""

    def __init__(self, queue: JobQueue, runtime: Runtime) -> None:
        self.queue = queue
        self.runtime = runtime
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.queue.open()
        self._task = asyncio.create_task(
            self.queue.run_worker(self.runtime, install_signal_handlers=False, name="in-process"),
            name="job-runner",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.queue.close()
