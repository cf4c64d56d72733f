"""Tables of the privacy layer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.base import Base, UTCDateTime, new_id, utcnow


class DataKey(Base):
    """A subject's data key, wrapped by the master key ``kid``; NULL once shredded."""

    __tablename__ = "data_keys"
    __table_args__ = (Index(None, "kid"),)

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    kid: Mapped[str | None] = mapped_column(String(32))
    wrapped: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessLogEntry(Base):
    """One personal value revealed (not masked) to a viewer. Rows are only inserted.

    Written in one batched insert per request; the viewer is a plain id, not a
    foreign key, so the record outlives the account.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index(None, "subject_id", "id"), Index(None, "viewer_id", "id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    viewer_id: Mapped[uuid.UUID | None] = mapped_column()
    viewer_kind: Mapped[str] = mapped_column(String(16))
    institution_codes: Mapped[str] = mapped_column(String(200), default="")
    subject_id: Mapped[uuid.UUID] = mapped_column()
    object: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
