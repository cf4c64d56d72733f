"""Verification cases, the documents they hold and their history.

A case is an owner's request to have an enterprise verified, or (a dispute) someone's
claim that an enterprise whose credit code another account holds is theirs. Documents
and the officer's reasons are sealed, each under a data key of its own row
(privacy.vault), like every personal value.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, StrEnum, TimestampMixin, UTCDateTime, utcnow

SEALED_NOTE_LENGTH = 2400  # a 1000-character note once sealed and encoded


class VerificationLevel(enum.Enum):
    """What is known of an enterprise, in increasing trust; the policy gates on it."""

    UNVERIFIED = "unverified"
    BASIC = "basic"  # the business licence checked
    VERIFIED = "verified"  # licence, the legal representative's identity and control


LEVEL_ORDER = (VerificationLevel.UNVERIFIED, VerificationLevel.BASIC, VerificationLevel.VERIFIED)


class CaseKind(enum.Enum):
    OWNERSHIP = "ownership"
    DISPUTE = "dispute"


class CaseStatus(enum.Enum):
    SUBMITTED = "submitted"
    MORE_INFO_REQUESTED = "more_info_requested"
    APPROVED = "approved"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset({CaseStatus.SUBMITTED, CaseStatus.MORE_INFO_REQUESTED})


class DocumentKind(enum.Enum):
    BUSINESS_LICENCE = "business_licence"
    LEGAL_REPRESENTATIVE_ID = "legal_representative_id"
    PROOF_OF_CONTROL = "proof_of_control"


class VerificationCase(IdMixin, TimestampMixin, Base):
    __tablename__ = "verification_cases"
    __table_args__ = (
        Index(None, "enterprise_id", "status"),
        Index(None, "claimant_id"),
        Index(None, "status", "created_at", "id"),
    )

    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    # Who asks: the owner, or in a dispute the person claiming the enterprise.
    claimant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[CaseKind] = mapped_column(StrEnum(CaseKind))
    status: Mapped[CaseStatus] = mapped_column(StrEnum(CaseStatus))
    level_granted: Mapped[VerificationLevel | None] = mapped_column(StrEnum(VerificationLevel))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Optimistic locking: two officers deciding at once, one of them loses.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class VerificationDocument(IdMixin, TimestampMixin, Base):
    __tablename__ = "verification_documents"
    __table_args__ = (Index(None, "case_id"),)

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verification_cases.id", ondelete="CASCADE")
    )
    kind: Mapped[DocumentKind] = mapped_column(StrEnum(DocumentKind))
    # Found from the bytes, never from the name the browser sent.
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    # The file, base64 then sealed under the row's own data key.
    content: Mapped[str] = mapped_column(Text)


class VerificationEvent(IdMixin, Base):
    """One step of a case: submitted, documents added, more asked, approved, rejected."""

    __tablename__ = "verification_events"
    __table_args__ = (Index(None, "case_id", "at"),)

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verification_cases.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_status: Mapped[CaseStatus | None] = mapped_column(StrEnum(CaseStatus, name="from_status"))
    to_status: Mapped[CaseStatus] = mapped_column(StrEnum(CaseStatus, name="to_status"))
    # The officer's reasons or the owner's note: sealed under the row's own data key.
    note: Mapped[str | None] = mapped_column(String(SEALED_NOTE_LENGTH))
