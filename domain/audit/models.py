from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.base import Base, IdMixin, UTCDateTime, utcnow


class AuditEntry(IdMixin, Base):
    """What happened, who did it, to what. Rows are only ever inserted.

    The actor is a plain id, not a foreign key, so the record outlives the account.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity_type", "entity_id"), Index(None, "at"))

    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
