from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.products.models import RepaymentMethod
from kernel.base import Base, IdMixin, Money, Rate, StrEnum, TimestampMixin, UTCDateTime, utcnow


class ApplicationStatus(enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    MORE_INFO_REQUESTED = "more_info_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPEALED = "appealed"
    CONTRACT_SIGNED = "contract_signed"
    DISBURSED = "disbursed"
    WITHDRAWN = "withdrawn"


class DecisionOutcome(enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_INFO = "request_info"


class Application(IdMixin, TimestampMixin, Base):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term_months > 0", name="term_positive"),
        Index(None, "institution_id", "id"),
        Index(None, "enterprise_id", "id"),
        Index(None, "status", "id"),
    )

    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="RESTRICT")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    # Copied from the product so tenant scoping is one indexed column, not a join.
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    amount: Mapped[Decimal] = mapped_column(Money())
    term_months: Mapped[int] = mapped_column()
    repayment_method: Mapped[RepaymentMethod] = mapped_column(StrEnum(RepaymentMethod))
    purpose: Mapped[str] = mapped_column(String(500))
    status: Mapped[ApplicationStatus] = mapped_column(StrEnum(ApplicationStatus))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the latest decision
    # Kept by every move (``states.REACHED_BIT``), for the portfolio funnel: the statuses
    # the time line has been in, and when it first reached a decision.
    reached: Mapped[int] = mapped_column(default=0, server_default="0")
    first_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The nominal rate an approval set, within the product's range.
    approved_rate: Mapped[Decimal | None] = mapped_column(Rate())
    # Four eyes: the first officer's approval waits here for a second, different one.
    pending_approval_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    appeal_reason: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Optimistic locking: concurrent decisions collide on this column.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Decision(IdMixin, TimestampMixin, Base):
    __tablename__ = "decisions"
    __table_args__ = (Index(None, "application_id", "created_at"),)

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    officer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    outcome: Mapped[DecisionOutcome] = mapped_column(StrEnum(DecisionOutcome))
    reasons: Mapped[str] = mapped_column(Text)
    risk_assessment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("risk_assessments.id", ondelete="SET NULL")
    )
    # Taken on the re-review an appeal asked for.
    on_appeal: Mapped[bool] = mapped_column(default=False)
    # The first of two approvals four eyes needed: it did not decide alone.
    awaits_second: Mapped[bool] = mapped_column(default=False)
    annual_rate: Mapped[Decimal | None] = mapped_column(Rate())


class Transition(IdMixin, Base):
    """Every change of an application's status, when and by whom: the time line."""

    __tablename__ = "application_transitions"
    __table_args__ = (Index(None, "application_id", "at"),)

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    from_status: Mapped[ApplicationStatus | None] = mapped_column(
        StrEnum(ApplicationStatus, name="from_status")
    )
    to_status: Mapped[ApplicationStatus] = mapped_column(
        StrEnum(ApplicationStatus, name="to_status")
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class Contract(IdMixin, Base):
    """The terms an approval offers; accepted by the applicant against their hash."""

    __tablename__ = "contracts"

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), unique=True
    )
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
