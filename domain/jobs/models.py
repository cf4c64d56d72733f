"""The record of each background job: what the API shows, on either database.

procrastinate's own tables (PostgreSQL only) say what is queued and which worker holds
it; this record says what a person asked for and how far it got, and outlives the queue
row. Chunks of a split job leave one marker each, written in the transaction that counts
them, so a chunk run twice (a retry after a lost acknowledgement) counts once.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, StrEnum, UTCDateTime, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobRun(IdMixin, Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index(None, "institution_id", "id"),)

    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[JobState] = mapped_column(StrEnum(JobState, 16), default=JobState.QUEUED)
    # schedule (a periodic job), api (a mutation), cli (an operator).
    trigger: Mapped[str] = mapped_column(String(16))
    # Plain ids, like the audit log's, so the record outlives the account.
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="SET NULL")
    )
    # procrastinate's job id (PostgreSQL) or the in-process runner's; for operators.
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger())
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text())
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FileRole(enum.StrEnum):
    INPUT = "input"  # what the job reads (an upload)
    OUTPUT = "output"  # what it made (a report)


class JobFile(IdMixin, Base):
    """A job's input or output file, in the database: any worker on any machine reads an
    upload and writes an output with no shared disk.

    Content that can hold personal data is sealed under a data key of the file's own
    (``data_keys``, subject type ``job_file``), so purging a file shreds its key as
    erasure does. ``sha256`` is of the plain content, checked when it is read back.
    Owner and institution are the job's, copied so a file is scoped without a join.
    """

    __tablename__ = "job_files"
    __table_args__ = (Index(None, "job_id", "role"), Index(None, "expires_at"))

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job_runs.id", ondelete="CASCADE"))
    role: Mapped[FileRole] = mapped_column(StrEnum(FileRole, 8))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger())
    sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bool] = mapped_column()
    content: Mapped[bytes] = mapped_column(LargeBinary())
    owner_id: Mapped[uuid.UUID | None] = mapped_column()
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobChunk(Base):
    """A chunk of a split job that has finished: present once, whatever ran it twice."""

    __tablename__ = "job_chunks"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("job_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
