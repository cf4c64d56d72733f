from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.products.models import RepaymentMethod
from kernel.base import Base, IdMixin, Money, Rate, StrEnum, TimestampMixin, UTCDateTime, utcnow

ZERO = Decimal("0.00")


class EarlyRepaymentChoice(enum.Enum):
    SHORTER_TERM = "shorter_term"
    LOWER_INSTALMENT = "lower_instalment"


class LoanStatus(enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"
    WRITTEN_OFF = "written_off"


class DelinquencyBucket(enum.Enum):
    CURRENT = "current"
    DPD_1_30 = "dpd_1_30"
    DPD_31_60 = "dpd_31_60"
    DPD_61_90 = "dpd_61_90"
    DPD_90_PLUS = "dpd_90_plus"


class Loan(IdMixin, TimestampMixin, Base):
    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint("principal > 0", name="principal_positive"),
        CheckConstraint("outstanding_principal >= 0", name="outstanding_non_negative"),
        CheckConstraint("days_past_due >= 0", name="dpd_non_negative"),
        Index(None, "institution_id", "id"),
        Index(None, "enterprise_id", "id"),
        Index(None, "status", "delinquency_bucket"),
        Index(None, "updated_at"),
        Index(None, "status", "id"),
        # The live book per borrower (portfolio concentration and expected loss), read
        # from the index alone in borrower order on PostgreSQL: no sort, no hash. Every
        # change to a loan already rewrites its index entries (``updated_at`` is indexed).
        Index(
            "ix_loans_active_by_borrower",
            "enterprise_id",
            postgresql_include=["outstanding_principal", "institution_id", "product_id"],
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), unique=True
    )
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="RESTRICT")
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    principal: Mapped[Decimal] = mapped_column(Money())
    annual_rate: Mapped[Decimal] = mapped_column(Rate())
    term_months: Mapped[int] = mapped_column()
    repayment_method: Mapped[RepaymentMethod] = mapped_column(StrEnum(RepaymentMethod))
    disbursed_on: Mapped[date] = mapped_column(Date)
    maturity_on: Mapped[date] = mapped_column(Date)
    status: Mapped[LoanStatus] = mapped_column(StrEnum(LoanStatus))
    outstanding_principal: Mapped[Decimal] = mapped_column(Money())
    days_past_due: Mapped[int] = mapped_column(default=0)
    delinquency_bucket: Mapped[DelinquencyBucket] = mapped_column(StrEnum(DelinquencyBucket))
    closed_on: Mapped[date | None] = mapped_column(Date)
    # The day the ageing job last brought days past due up to date.
    aged_on: Mapped[date | None] = mapped_column(Date)
    written_off_on: Mapped[date | None] = mapped_column(Date)
    # The claim was sold (a SALE workout case): the loan is CLOSED, and what is paid
    # from then on is the buyer's, so repayments are refused (LOAN_SOLD).
    sold_on: Mapped[date | None] = mapped_column(Date)
    # The day the daily accrual (domain.lending.charges) has brought interest income,
    # penalty interest and late fees up to; None: nothing accrued yet (as of payout).
    accrued_through: Mapped[date | None] = mapped_column(Date)

    # Forbearance granted (a forborne amendment signed): an ECL staging input.
    forborne: Mapped[bool] = mapped_column(default=False, server_default=false())
    write_off_reason: Mapped[str | None] = mapped_column(Text)
    written_off_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    version: Mapped[int] = mapped_column(default=1)
    # Moved by every change, ORM or bulk: what an incremental risk scan looks at.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class Installment(IdMixin, Base):
    """One row of a loan's repayment schedule."""

    __tablename__ = "schedule_installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "sequence"),
        CheckConstraint("principal_paid <= principal_due", name="principal_not_overpaid"),
        CheckConstraint("interest_paid <= interest_due", name="interest_not_overpaid"),
        CheckConstraint("fee_paid <= fee_due", name="fee_not_overpaid"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column()
    due_on: Mapped[date] = mapped_column(Date)
    principal_due: Mapped[Decimal] = mapped_column(Money())
    interest_due: Mapped[Decimal] = mapped_column(Money())
    fee_due: Mapped[Decimal] = mapped_column(Money())
    principal_paid: Mapped[Decimal] = mapped_column(Money())
    interest_paid: Mapped[Decimal] = mapped_column(Money())
    fee_paid: Mapped[Decimal] = mapped_column(Money())
    settled_on: Mapped[date | None] = mapped_column(Date)
    # Charges for paying late (domain.lending.charges): the late fee, charged once on
    # the day the grace period ran out, and penalty interest accrued on overdue principal.
    late_fee_due: Mapped[Decimal] = mapped_column(Money(), default=ZERO, server_default="0")
    late_fee_paid: Mapped[Decimal] = mapped_column(Money(), default=ZERO, server_default="0")
    late_fee_charged_on: Mapped[date | None] = mapped_column(Date)
    penalty_due: Mapped[Decimal] = mapped_column(Money(), default=ZERO, server_default="0")
    penalty_paid: Mapped[Decimal] = mapped_column(Money(), default=ZERO, server_default="0")


class Repayment(IdMixin, TimestampMixin, Base):
    __tablename__ = "repayments"
    __table_args__ = (
        UniqueConstraint("loan_id", "idempotency_key"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "principal_part + interest_part + fee_part = amount", name="allocation_adds_up"
        ),
        Index(None, "loan_id", "paid_on"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_on: Mapped[date] = mapped_column(Date)
    principal_part: Mapped[Decimal] = mapped_column(Money())
    interest_part: Mapped[Decimal] = mapped_column(Money())
    # Every fee and charge paid: the schedule's fees, late fees and penalty interest.
    fee_part: Mapped[Decimal] = mapped_column(Money())
    # Of fee_part, what went to late fees and to penalty interest.
    late_fee_part: Mapped[Decimal] = mapped_column(Money(), default=ZERO, server_default="0")
    penalty_part: Mapped[Decimal] = mapped_column(Money(), default=ZERO, server_default="0")
    # Principal paid ahead of its due dates, and how the schedule was recomputed for it.
    prepaid_principal: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    early_choice: Mapped[EarlyRepaymentChoice | None] = mapped_column(StrEnum(EarlyRepaymentChoice))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The schedule lines and loan figures the allocation changed from (see
    # domain.lending.reversal); None on payments recorded before reversals existed.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A bounced payment: reversed on that day, with the reason; its allocation undone.
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversal_reason: Mapped[str | None] = mapped_column(Text)
    reversed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
