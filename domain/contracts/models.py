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
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.contracts.amendment import HolidayInterest
from kernel.base import Base, IdMixin, Money, Rate, StrEnum, UTCDateTime, utcnow


class AmendmentStatus(enum.Enum):
    PROPOSED = "proposed"  # offered, waiting for the borrower's signature
    ACCEPTED = "accepted"  # signed: the loan runs on its schedule from the effective date
    WITHDRAWN = "withdrawn"  # replaced by a later proposal, or taken back


class TerminationKind(enum.Enum):
    CANCELLATION = "cancellation"  # a signed contract never paid out
    EARLY_SETTLEMENT = "early_settlement"  # the borrower paid the loan off early
    ACCELERATION = "acceleration"  # default: the institution called the whole balance due


class LoanAmendment(IdMixin, Base):
    """A change to a signed loan contract, proposed by the institution and signed by the
    borrower against the hash of the new terms (the whole new schedule)."""

    __tablename__ = "loan_amendments"
    __table_args__ = (
        Index(None, "loan_id", "proposed_at"),
        Index(None, "institution_id", "id"),
        CheckConstraint("top_up >= 0", name="top_up_non_negative"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    # Copied from the loan so tenant scoping is one indexed column.
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    status: Mapped[AmendmentStatus] = mapped_column(StrEnum(AmendmentStatus))
    effective_on: Mapped[date] = mapped_column(Date)
    annual_rate: Mapped[Decimal | None] = mapped_column(Rate())
    extra_months: Mapped[int] = mapped_column(default=0)
    holiday_months: Mapped[int] = mapped_column(default=0)
    holiday_interest: Mapped[HolidayInterest | None] = mapped_column(StrEnum(HolidayInterest))
    instalment: Mapped[Decimal | None] = mapped_column(Money())
    top_up: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    # Forbearance: concessions granted to a borrower in financial difficulty.
    forborne: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    # The hash of the schedule the terms were computed from: a payment or another
    # amendment meanwhile makes the terms stale, and they can no longer be signed.
    basis_hash: Mapped[str] = mapped_column(String(64))
    contract_version: Mapped[int] = mapped_column()  # the version signing would make
    proposed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ContractVersion(IdMixin, Base):
    """A loan's contract as it stood from a day: version 1 is the contract signed at
    origination, each accepted amendment adds the next. Never changed once written."""

    __tablename__ = "loan_contract_versions"
    __table_args__ = (UniqueConstraint("loan_id", "number"),)

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    effective_on: Mapped[date] = mapped_column(Date)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    amendment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("loan_amendments.id", ondelete="RESTRICT")
    )
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoanTermination(IdMixin, Base):
    """How a contract ended before its time: cancelled, settled early or accelerated.

    The reason is free text about the borrower's affairs (like a collection note), so
    personal data: sealed under the enterprise's data key, bound to the row
    (``domain.contracts.termination.seal_reason``), and shredded with the enterprise.
    """

    __tablename__ = "loan_terminations"
    __table_args__ = (
        Index(None, "application_id"),
        Index(None, "loan_id"),
        Index(None, "institution_id", "id"),
    )

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    loan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    # Whose data key seals the reason: the borrower's.
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    kind: Mapped[TerminationKind] = mapped_column(StrEnum(TerminationKind))
    on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    # Sealed; None when none was given (a settlement) or once the enterprise is erased.
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
