"""The keystore's table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, UTCDateTime, utcnow


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
