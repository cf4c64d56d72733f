from __future__ import annotations

import enum
import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.lending.models import DelinquencyBucket
from kernel.base import Base, Money, StrEnum


class RollState(enum.Enum):
    """Where a loan in a bucket at one month end is at the next."""

    CURRENT = "current"
    DPD_1_30 = "dpd_1_30"
    DPD_31_60 = "dpd_31_60"
    DPD_61_90 = "dpd_61_90"
    DPD_90_PLUS = "dpd_90_plus"
    CLOSED = "closed"  # repaid: off the book
    WRITTEN_OFF = "written_off"


class LoanBucketSnapshot(Base):
    """An active loan as the ageing job left it at the end of a month.

    The loans table keeps only the present; roll rates and vintage curves need the
    past, so every month end keeps one row per loan then active (written set-wise by
    ``domain.analytics.service.snapshot_month``, and by the seed).
    """

    __tablename__ = "loan_bucket_snapshots"
    __table_args__ = (
        Index(None, "month_end", "institution_id"),
        # Vintage curves ask each loan's first month end in default: only those rows.
        Index(
            "ix_loan_bucket_snapshots_defaulted",
            "loan_id",
            "month_end",
            sqlite_where=text("delinquency_bucket = 'dpd_90_plus'"),
            postgresql_where=text("delinquency_bucket = 'dpd_90_plus'"),
        ),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    # Copied from the loan so tenant scoping is one indexed column, not a join.
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    delinquency_bucket: Mapped[DelinquencyBucket] = mapped_column(StrEnum(DelinquencyBucket))
    days_past_due: Mapped[int] = mapped_column()
    outstanding_principal: Mapped[Decimal] = mapped_column(Money())
    # The borrower's PD in force at the month end (its newest champion assessment made
    # by then; None: never assessed): the expected loss at a past date reads it here.
    probability_of_default: Mapped[float | None] = mapped_column()
    # Where the loan was at the next month end (its bucket, or closed / written off once
    # off the book), set when that month end is taken; None until then. Roll rates are
    # then one pass over a month, not a join of two.
    next_state: Mapped[RollState | None] = mapped_column(StrEnum(RollState))
