from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, Money, StrEnum, UTCDateTime, utcnow


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
    # Where the money came from, when it was realised collateral or a called guarantee
    # (domain/collateral: the item is REALISED, the guarantee CALLED, in the same
    # transaction).
    collateral_item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("collateral_items.id", ondelete="SET NULL")
    )
    guarantee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("loan_guarantees.id", ondelete="SET NULL")
    )


class WorkoutStrategy(enum.Enum):
    """How an institution means to work a loan in difficulty out."""

    RESTRUCTURING = "restructuring"
    COLLECTION = "collection"
    LEGAL_ACTION = "legal_action"
    SALE = "sale"
    WRITE_OFF = "write_off"


class WorkoutState(enum.Enum):
    """OPEN -> IN_PROGRESS -> RESOLVED -> CLOSED; OPEN or IN_PROGRESS -> CANCELLED."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class WorkoutOutcome(enum.Enum):
    """What a resolved case came to."""

    RESTRUCTURED = "restructured"  # the borrower signed a forborne amendment
    WRITTEN_OFF = "written_off"  # the loan was written off
    CURED = "cured"  # the borrower caught up
    SETTLED = "settled"  # paid off or a settlement agreed
    JUDGMENT = "judgment"  # a court ruled for the institution
    CLAIM_SOLD = "claim_sold"  # the claim was sold
    UNRECOVERABLE = "unrecoverable"


class ContactChannel(enum.Enum):
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"
    VISIT = "visit"


class ContactOutcome(enum.Enum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    WRONG_CONTACT = "wrong_contact"
    REFUSED = "refused"
    PROMISED = "promised"  # a promise to pay was made
    DISPUTED = "disputed"


MAX_NOTE = 1000
SEALED_NOTE_LENGTH = 2400  # a 1000-character note once sealed and encoded
MAX_COURT = 200
MAX_REFERENCE = 100
MAX_BUYER = 200
LIVE_STATES = (WorkoutState.OPEN, WorkoutState.IN_PROGRESS)


class WorkoutCase(IdMixin, Base):
    """A loan in difficulty and the strategy, owner and deadline of its workout."""

    __tablename__ = "workout_cases"
    __table_args__ = (
        Index(None, "institution_id", "id"),
        Index(None, "loan_id", "state"),
        Index(None, "state", "due_on"),
        CheckConstraint("recovered_amount >= 0", name="recovered_non_negative"),
        CheckConstraint("legal_costs >= 0", name="legal_costs_non_negative"),
        CheckConstraint("judgment_amount >= 0", name="judgment_non_negative"),
        CheckConstraint("sale_price >= 0", name="sale_price_non_negative"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    # Copied from the loan so tenant scoping is one indexed column.
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    strategy: Mapped[WorkoutStrategy] = mapped_column(StrEnum(WorkoutStrategy))
    state: Mapped[WorkoutState] = mapped_column(StrEnum(WorkoutState))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The SLA: a live case past this day is overdue (domain/workout/sla.csv).
    due_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[WorkoutOutcome | None] = mapped_column(StrEnum(WorkoutOutcome))
    recovered_amount: Mapped[Decimal | None] = mapped_column(Money())
    amendment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("loan_amendments.id", ondelete="SET NULL")
    )
    # LEGAL_ACTION (domain/workout/claims.py): the claim filed, what it cost (charged to
    # the loan), what the court awarded.
    filed_on: Mapped[date | None] = mapped_column(Date)
    court: Mapped[str | None] = mapped_column(String(MAX_COURT))
    court_reference: Mapped[str | None] = mapped_column(String(MAX_REFERENCE))
    legal_costs: Mapped[Decimal | None] = mapped_column(Money())
    # When costs were last charged to the loan: a payment recorded before it stands
    # (domain.lending.reversal), since the charge was allocated against what it left.
    legal_costs_charged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    judgment_amount: Mapped[Decimal | None] = mapped_column(Money())
    # SALE: to whom the claim was sold, for what, and the gain (positive) or loss
    # (negative) booked against the carrying amount net of allowance.
    buyer: Mapped[str | None] = mapped_column(String(MAX_BUYER))
    sale_price: Mapped[Decimal | None] = mapped_column(Money())
    sale_result: Mapped[Decimal | None] = mapped_column(Money())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class WorkoutCaseAlert(IdMixin, Base):
    """An early-warning alert whose disposal opened (or joined) a case."""

    __tablename__ = "workout_case_alerts"
    __table_args__ = (UniqueConstraint("alert_id"), Index(None, "case_id"))

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workout_cases.id", ondelete="CASCADE"))
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("risk_alerts.id", ondelete="CASCADE"))


class CollectionContact(IdMixin, Base):
    """One attempt to reach the borrower. The note is personal data, sealed under the
    enterprise's data key (erasing the enterprise shreds it)."""

    __tablename__ = "collection_contacts"
    __table_args__ = (Index(None, "case_id", "contacted_at"), Index(None, "institution_id", "id"))

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workout_cases.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    channel: Mapped[ContactChannel] = mapped_column(StrEnum(ContactChannel))
    outcome: Mapped[ContactOutcome] = mapped_column(StrEnum(ContactOutcome))
    note: Mapped[str | None] = mapped_column(String(SEALED_NOTE_LENGTH))
    contacted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PromiseToPay(IdMixin, Base):
    """The borrower's promise to pay ``amount`` by ``promised_on``; kept or broken is
    read from the repayments when asked (domain/workout/cases.py, ``promise_status``)."""

    __tablename__ = "promises_to_pay"
    __table_args__ = (
        Index(None, "case_id", "made_on"),
        Index(None, "institution_id", "id"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workout_cases.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    made_on: Mapped[date] = mapped_column(Date)
    promised_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
