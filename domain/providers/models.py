"""What was fetched from an external data provider, kept as it was answered."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, StrEnum, UTCDateTime, utcnow


class ExternalDataKind(enum.Enum):
    BUSINESS_REGISTRY = "business_registry"
    CREDIT_BUREAU = "credit_bureau"
    BANK_STATEMENT = "bank_statement"


class ExternalDataRecord(IdMixin, Base):
    """One provider answer about one enterprise. Rows are only inserted.

    ``facts`` holds what the answer says that is not personal (figures, statuses, whether
    the registry agrees with the profile); ``personal`` the rest (the legal
    representative's name, an account holder), sealed with the enterprise's data key and
    bound to this row, so erasing the enterprise makes it unreadable. ``content_hash`` is
    SHA-256 of the bytes the provider sent: proof of what was received, byte for byte.
    """

    __tablename__ = "external_data_records"
    __table_args__ = (Index(None, "enterprise_id", "kind", "id"),)

    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    kind: Mapped[ExternalDataKind] = mapped_column(StrEnum(ExternalDataKind))
    source: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[date] = mapped_column(Date)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    personal: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(String(64))
