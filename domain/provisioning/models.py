"""A loan's stage and expected credit loss at one close date."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, Money, Rate


class LoanStage(Base):
    """One loan's IFRS 9 stage at a close date and the expected credit loss it carries.

    Written set-wise by ``domain.provisioning.service.stage_book``; a rerun for the same
    date replaces the row. ``ecl`` is ``pd x lgd x ead`` of the stored, rounded figures
    (``pd_12m`` in stage 1, ``pd_lifetime`` in stages 2 and 3), to the cent.
    """

    __tablename__ = "loan_stages"
    __table_args__ = (
        CheckConstraint("stage BETWEEN 1 AND 3", name="stage_1_to_3"),
        Index(None, "institution_id", "as_of", "stage"),
        Index(None, "as_of", "loan_id"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    # Copied from the loan: tenant scoping is one indexed column.
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    stage: Mapped[int] = mapped_column()
    # Why: current, dpd_30, pd_increase, forborne, dpd_90, written_off, accelerated.
    reason: Mapped[str] = mapped_column(String(16))
    days_past_due: Mapped[int] = mapped_column()
    pd_origination: Mapped[Decimal | None] = mapped_column(Rate())
    pd_12m: Mapped[Decimal] = mapped_column(Rate())
    pd_lifetime: Mapped[Decimal] = mapped_column(Rate())
    lgd: Mapped[Decimal] = mapped_column(Rate())
    ead: Mapped[Decimal] = mapped_column(Money())
    ecl: Mapped[Decimal] = mapped_column(Money())
