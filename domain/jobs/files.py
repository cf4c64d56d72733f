"""Jobs' files in the database: an upload a job reads, a report it writes.

Any worker on any machine reads and writes them with no shared disk. A file that can
hold personal data (an import's rows, a report's borrowers) is sealed with the envelope
encryption of personal values: a data key of the file's own, wrapped by the master key,
the content bound to its row by the associated data. Purging a file deletes the row and
shreds its key, so a copy of the row left in a backup does not open either.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.jobs import repository as repo
from domain.jobs.models import FileRole, JobFile
from domain.settings import Settings
from kernel.base import new_id, utcnow
from kernel.errors import InvalidInput, NotFound
from privacy import keystore, vault
from privacy.keys import KeyProvider

TABLE = "job_files"
COLUMN = "content"
SUBJECT_TYPE = "job_file"


class FileTooLarge(InvalidInput):
    """A file over the deployment's limit (``LENDGRAPH_JOB_FILE_MAX_BYTES``)."""


class FileCorrupted(Exception):
    """Stored content whose digest is not the one recorded: never handed out."""


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file to keep with a job."""

    role: FileRole
    name: str
    content_type: str
    content: bytes
    personal: bool  # sealed at rest when it can hold personal data


async def store(
    session: AsyncSession,
    settings: Settings,
    file: NewFile,
    *,
    job_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    institution_id: uuid.UUID | None,
    now: datetime | None = None,
) -> JobFile:
    """Keep ``file`` with job ``job_id`` (in the caller's transaction), within the
    deployment's size limit and until its retention ends."""
    max_bytes = settings.job_file_max_bytes
    if len(file.content) > max_bytes:
        raise FileTooLarge(
            f"the file is {len(file.content)} bytes; at most {max_bytes} are kept", field="file"
        )
    now = now or utcnow()
    file_id = new_id()
    content = file.content
    if file.personal:
        key = await keystore.create(session, settings.keys(), file_id, SUBJECT_TYPE)
        content = vault.seal_bytes(key, content, table=TABLE, column=COLUMN, row_id=file_id)
    row = JobFile(
        id=file_id,
        job_id=job_id,
        role=file.role,
        name=file.name[:255],
        content_type=file.content_type[:100],
        size=len(file.content),
        sha256=hashlib.sha256(file.content).hexdigest(),
        sealed=file.personal,
        content=content,
        owner_id=owner_id,
        institution_id=institution_id,
        created_at=now,
        expires_at=now + timedelta(days=settings.job_file_retention_days),
    )
    session.add(row)
    await session.flush()
    return row


async def read(session: AsyncSession, keys: KeyProvider, row: JobFile) -> bytes:
    """The plain content of a stored file, its digest checked."""
    content = bytes(row.content)
    if row.sealed:
        found = await keystore.unwrap_many(session, keys, [row.id])
        key = found[row.id]
        if key is None:
            raise NotFound(f"the file {row.name!r} has been purged")
        content = vault.unseal_bytes(key, content, table=TABLE, column=COLUMN, row_id=row.id)
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise FileCorrupted(f"job file {row.id}: the content is not what was stored")
    return content


async def input_of(session: AsyncSession, job_id: uuid.UUID) -> JobFile:
    row = await repo.file_of_job(session, job_id, FileRole.INPUT)
    if row is None:
        raise NotFound(f"job {job_id} has no input file (purged, or never stored)")
    return row


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete files past their retention and shred their keys; the number purged."""
    now = now or utcnow()
    expired = await repo.expired_files(session, now=now)
    if not expired:
        return 0
    await repo.delete_files(session, expired)
    for file_id in expired:
        await keystore.shred(session, file_id, now=now)
    return len(expired)
