"""Tables of bulk imports: each run, its batches, and the rows worth a look."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.imports.cleaning import Outcome
from kernel.base import Base, IdMixin, StrEnum, UTCDateTime, utcnow


class ImportStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    # Some batches failed; the others landed. Importing the file again completes it.
    PARTIAL = "partial"
    FAILED = "failed"


class RowEffect(enum.StrEnum):
    """What a row did to the database."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"  # its batch did not land
    NONE = "none"  # rejected: nothing written


class ImportRun(IdMixin, Base):
    """One import of one file, with its summary; updated in each batch's transaction,
    so what it says landed did land."""

    __tablename__ = "import_runs"
    __table_args__ = (Index(None, "institution_id", "id"),)

    kind: Mapped[str] = mapped_column(String(32))
    source_name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[ImportStatus] = mapped_column(StrEnum(ImportStatus, 16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who ran it: plain ids, like the audit log's, so the record outlives the account.
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    # The institution whose admin uploaded it; NULL for an operator's CLI run.
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="SET NULL")
    )
    rows_total: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    fixed: Mapped[int] = mapped_column(default=0)
    flagged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    batches_landed: Mapped[int] = mapped_column(default=0)
    batches_failed: Mapped[int] = mapped_column(default=0)
    # [{index, first_row, last_row, rows, status, error}], one per batch: bounded by
    # the file's length over the batch size.
    batches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    ignored_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(1000))
    # Row results are stored for rows that are not plainly accepted, up to a cap.
    row_results_truncated: Mapped[bool] = mapped_column(default=False)


class ImportRowResult(IdMixin, Base):
    """A row that was fixed, flagged, rejected or lost with its batch, and why.

    The notes name fields and amounts, never a personal value.
    """

    __tablename__ = "import_row_results"
    __table_args__ = (Index(None, "run_id", "row_number"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column()
    unified_social_credit_code: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[Outcome] = mapped_column(StrEnum(Outcome, 16))
    effect: Mapped[RowEffect] = mapped_column(StrEnum(RowEffect, 16))
    # [{"outcome": "fixed", "text": "..."}]
    notes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
