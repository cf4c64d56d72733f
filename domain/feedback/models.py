"""Service ratings and support tickets.

An owner rates the service once per event concerning one of their enterprises (a
decision on an application, a disbursement, a closed risk alert); an owner opens a
ticket about an application or a loan, and the institution's staff answer in its
thread. Comments, subjects and messages are personal data: each sealed under the data
key of its own row (privacy.vault), like every comment.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, StrEnum, UTCDateTime, utcnow

MAX_TEXT = 2000  # characters a person may write in a comment or a message
MAX_SUBJECT = 200


class RatedEvent(enum.Enum):
    APPLICATION_DECISION = "application_decision"
    DISBURSEMENT = "disbursement"
    RISK_ALERT_CLOSED = "risk_alert_closed"


class TicketStatus(enum.Enum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class ServiceRating(IdMixin, Base):
    __tablename__ = "service_ratings"
    __table_args__ = (
        # Once per event: the second rating of one event is refused (ALREADY_RATED).
        UniqueConstraint("event_kind", "event_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        Index(None, "institution_id", "rated_at"),
        Index(None, "enterprise_id", "id"),
    )

    event_kind: Mapped[RatedEvent] = mapped_column(StrEnum(RatedEvent))
    # The application, loan or risk alert rated (its table says event_kind).
    event_id: Mapped[uuid.UUID] = mapped_column()
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    rated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column()
    # Sealed under the row's own data key.
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SupportTicket(IdMixin, Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint("(application_id IS NULL) <> (loan_id IS NULL)", name="about_one_thing"),
        Index(None, "institution_id", "status", "id"),
        Index(None, "institution_id", "opened_at"),
        Index(None, "enterprise_id", "id"),
    )

    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    application_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    loan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Sealed under the row's own data key.
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(StrEnum(TicketStatus))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class SupportMessage(IdMixin, Base):
    __tablename__ = "support_messages"
    __table_args__ = (Index(None, "ticket_id", "at"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_staff: Mapped[bool] = mapped_column()
    # Sealed under the row's own data key.
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
