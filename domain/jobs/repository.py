"""Every SQL statement of the job records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from domain.identity.viewer import Viewer
from domain.jobs.models import FileRole, JobChunk, JobFile, JobRun, JobState
from kernel.base import utcnow
from kernel.pagination import Keyset

NEWEST = Keyset("newest", (JobRun.id,), descending=True)


def scoped(stmt: Select[Any], viewer: Viewer) -> Select[Any]:
    """The platform's oversight roles see every job; staff their institutions' and their own."""
    if viewer.oversees_platform:
        return stmt
    seen: list[ColumnElement[bool]] = []
    if viewer.institution_ids:
        seen.append(JobRun.institution_id.in_(viewer.institution_ids))
    if viewer.user_id is not None:
        seen.append(JobRun.requested_by == viewer.user_id)
    return stmt.where(or_(*seen)) if seen else stmt.where(false())


async def list_jobs(
    session: AsyncSession, *, viewer: Viewer, first: int, after: tuple[Any, ...] | None
) -> Sequence[JobRun]:
    stmt = NEWEST.apply(scoped(select(JobRun), viewer), after=after, limit=first + 1)
    return (await session.scalars(stmt)).all()


async def count_jobs(session: AsyncSession, *, viewer: Viewer) -> int:
    stmt = select(func.count()).select_from(scoped(select(JobRun.id), viewer).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def jobs_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[JobRun]:
    stmt = scoped(select(JobRun).where(JobRun.id.in_(ids)), viewer)
    return (await session.scalars(stmt)).all()


async def get(session: AsyncSession, job_id: uuid.UUID) -> JobRun | None:
    return await session.get(JobRun, job_id, populate_existing=True)


async def running_of_kind(session: AsyncSession, kind: str, *, exclude: uuid.UUID) -> JobRun | None:
    stmt = (
        select(JobRun)
        .where(JobRun.kind == kind, JobRun.state == JobState.RUNNING, JobRun.id != exclude)
        .order_by(JobRun.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def start(session: AsyncSession, job_id: uuid.UUID, *, attempt: int) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.id == job_id)
        .values(
            state=JobState.RUNNING,
            attempts=attempt,
            started_at=func.coalesce(JobRun.started_at, utcnow()),
        )
    )


async def finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    state: JobState,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {"state": state, "finished_at": utcnow()}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error[:4000]
    await session.execute(update(JobRun).where(JobRun.id == job_id).values(**values))


async def progress(
    session: AsyncSession, job_id: uuid.UUID, *, done: int, total: int | None
) -> None:
    await session.execute(update(JobRun).where(JobRun.id == job_id).values(done=done, total=total))


async def set_params(session: AsyncSession, job_id: uuid.UUID, params: dict[str, Any]) -> None:
    await session.execute(update(JobRun).where(JobRun.id == job_id).values(params=params))


async def chunk_done(session: AsyncSession, job_id: uuid.UUID, seq: int) -> bool:
    found = await session.scalar(
        select(JobChunk.seq).where(JobChunk.job_id == job_id, JobChunk.seq == seq)
    )
    return found is not None


async def mark_chunk(session: AsyncSession, job_id: uuid.UUID, seq: int) -> tuple[int, int] | None:
    """Mark a chunk finished and count it on its job: (done, total) after it, or None when
    it was marked already (a second run of the same chunk counts nothing). procrastinate
    runs a job once at a time, and its retry only after the failed run ended; the primary
    key still refuses a second marker. The counting UPDATE locks the job's row, so the
    chunk that makes done reach total is known once."""
    if await chunk_done(session, job_id, seq):
        return None
    session.add(JobChunk(job_id=job_id, seq=seq, finished_at=utcnow()))
    await session.flush()
    row = (
        await session.execute(
            update(JobRun)
            .where(JobRun.id == job_id)
            .values(done=JobRun.done + 1)
            .returning(JobRun.done, JobRun.total)
        )
    ).one()
    return int(row.done), int(row.total or 0)


# ------------------------------------------------------------------------- files


async def file_of_job(session: AsyncSession, job_id: uuid.UUID, role: FileRole) -> JobFile | None:
    stmt = (
        select(JobFile)
        .where(JobFile.job_id == job_id, JobFile.role == role)
        .order_by(JobFile.id)
        .limit(1)
    )
    return await session.scalar(stmt)


async def files_of_jobs(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> Sequence[JobFile]:
    """The files of jobs the caller already holds, without their content (which stays in
    the database until someone downloads it)."""
    stmt = (
        select(JobFile)
        .options(defer(JobFile.content, raiseload=True))
        .where(JobFile.job_id.in_(job_ids))
        .order_by(JobFile.job_id, JobFile.id)
    )
    return (await session.scalars(stmt)).all()


def _visible_files(viewer: Viewer) -> Select[Any]:
    """Files of the jobs ``viewer`` may see (the jobs' row scope)."""
    return scoped(select(JobFile).join(JobRun, JobRun.id == JobFile.job_id), viewer)


async def files_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[JobFile]:
    stmt = _visible_files(viewer).options(defer(JobFile.content, raiseload=True))
    return (await session.scalars(stmt.where(JobFile.id.in_(ids)))).all()


async def file_for(session: AsyncSession, *, viewer: Viewer, file_id: uuid.UUID) -> JobFile | None:
    """A file with its content, if its job is one ``viewer`` may see."""
    found: JobFile | None = await session.scalar(
        _visible_files(viewer).where(JobFile.id == file_id)
    )
    return found


async def expired_files(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    stmt = select(JobFile.id).where(JobFile.expires_at <= now).order_by(JobFile.id)
    return list((await session.scalars(stmt)).all())


async def delete_files(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    await session.execute(delete(JobFile).where(JobFile.id.in_(ids)))
