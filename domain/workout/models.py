from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.base import Base, IdMixin, Money, UTCDateTime, utcnow


class Recovery(IdMixin, Base):
    """Money received on a loan after it was written off. Repayments no longer apply
    (the schedule is closed by the write-off); the recovery is recorded and booked."""

    __tablename__ = "loan_recoveries"
    __table_args__ = (
        UniqueConstraint("loan_id", "idempotency_key"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index(None, "loan_id", "received_on"),
        Index(None, "institution_id", "id"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    idempotency_key: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money())
    received_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
