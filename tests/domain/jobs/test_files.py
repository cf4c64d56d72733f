"""Jobs' files in the database: sealed when personal, checked when read, held to the size
limit, and purged with their keys once their retention ends (by the daily job)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.jobs import files, tasks
from domain.jobs.models import FileRole, JobFile, JobRun, JobState
from domain.jobs.queue import JobQueue, Runtime, drain
from domain.settings import Settings
from kernel.base import utcnow
from privacy.models import DataKey
from tests.api.conftest import make_settings

CONTENT = "legal representative 张三, phone 13812345678\n".encode()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, job_file_retention_days=3)


def a_file(*, personal: bool, content: bytes = CONTENT) -> files.NewFile:
    return files.NewFile(
        role=FileRole.INPUT,
        name="people.csv",
        content_type="text/csv",
        content=content,
        personal=personal,
    )


async def keep(
    session: AsyncSession, settings: Settings, file: files.NewFile, *, now: datetime | None = None
) -> JobFile:
    """``file`` stored with a job of its own."""
    run = JobRun(kind=tasks.IMPORT, state=JobState.QUEUED, trigger="cli", params={})
    session.add(run)
    await session.flush()
    return await files.store(
        session, settings, file, job_id=run.id, owner_id=None, institution_id=None, now=now
    )


async def test_a_personal_file_is_sealed_under_its_own_key_and_opens_whole(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given
    async with sessions() as session, session.begin():
        sealed = await keep(session, settings, a_file(personal=True))
        plain = await keep(session, settings, a_file(personal=False))

    # when
    async with sessions() as session:
        rows = {row.id: row for row in (await session.scalars(select(JobFile))).all()}
        opened = await files.read(session, settings.keys(), rows[sealed.id])
        kept = await files.read(session, settings.keys(), rows[plain.id])
        key = await session.get(DataKey, sealed.id)

    # then
    assert opened == kept == CONTENT
    assert b"13812345678" not in rows[sealed.id].content
    assert rows[plain.id].content == CONTENT
    assert key is not None
    assert key.subject_type == "job_file"
    assert rows[sealed.id].expires_at - rows[sealed.id].created_at == timedelta(days=3)


async def test_content_that_is_not_what_was_stored_is_never_handed_out(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: a plain file whose bytes changed in the database
    async with sessions() as session, session.begin():
        row = await keep(session, settings, a_file(personal=False))
        await session.execute(
            update(JobFile).where(JobFile.id == row.id).values(content=b"tampered")
        )

    # when / then
    async with sessions() as session:
        stored = await session.get(JobFile, row.id)
        assert stored is not None
        with pytest.raises(files.FileCorrupted):
            await files.read(session, settings.keys(), stored)


async def test_a_file_over_the_limit_is_refused(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # given
    settings = make_settings(database_url, job_file_max_bytes=2**16)

    # when / then
    async with sessions() as session, session.begin():
        with pytest.raises(files.FileTooLarge) as refused:
            await keep(session, settings, a_file(personal=True, content=b"x" * (2**16 + 1)))
    assert refused.value.field == "file"


async def test_the_daily_purge_deletes_expired_files_and_shreds_their_keys(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # given: a file kept past its retention, and one still within it
    async with sessions() as session, session.begin():
        old = await keep(session, settings, a_file(personal=True), now=utcnow() - timedelta(days=4))
        fresh = await keep(session, settings, a_file(personal=True))
    queue = JobQueue(settings, schedules=tasks.Schedules.none())

    # when: the purge job runs on the queue
    try:
        purge = await queue.submit(sessions, tasks.PURGE, trigger="schedule")
        await drain(queue, Runtime(settings, sessions))
    finally:
        await queue.close()

    # then
    async with sessions() as session:
        done = await session.get(JobRun, purge.id, populate_existing=True)
        left = (await session.scalars(select(JobFile.id))).all()
        old_key = await session.get(DataKey, old.id)
        fresh_key = await session.get(DataKey, fresh.id)
    assert done is not None
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.result == {"purged": 1}
    assert left == [fresh.id]
    assert old_key is not None
    assert old_key.wrapped is None
    assert old_key.shredded_at is not None
    assert fresh_key is not None
    assert fresh_key.wrapped is not None
    # and the queue schedules it daily, once whatever the number of workers
    assert tasks.Schedules().items()[tasks.PURGE] == "20 1 * * *"
