from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.base import Base, IdMixin, Money, StrEnum, TimestampMixin, UTCDateTime


class InstitutionKind(enum.Enum):
    BANK = "bank"
    MICROLENDER = "microlender"
    LEASING_COMPANY = "leasing_company"
    FACTORING_COMPANY = "factoring_company"


class Role(enum.Enum):
    SME_OWNER = "sme_owner"
    LOAN_OFFICER = "loan_officer"
    RISK_OFFICER = "risk_officer"
    INSTITUTION_ADMIN = "institution_admin"
    PARTNER_SERVICE = "partner_service"
    PLATFORM_RISK_OFFICER = "platform_risk_officer"
    PRIVACY_OFFICER = "privacy_officer"
    PLATFORM_ADMIN = "platform_admin"
    AUDITOR = "auditor"


INSTITUTION_ROLES = frozenset(
    {Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN, Role.PARTNER_SERVICE}
)


class UserStatus(enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


class Institution(IdMixin, TimestampMixin, Base):
    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[InstitutionKind] = mapped_column(StrEnum(InstitutionKind))
    region: Mapped[str] = mapped_column(String(64))
    # Approvals above this amount need a second, different officer.
    four_eyes_threshold: Mapped[Decimal] = mapped_column(Money())


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[UserStatus] = mapped_column(StrEnum(UserStatus))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Membership(IdMixin, TimestampMixin, Base):
    """A role held by a user, within one institution or (institution NULL) platform-wide."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "institution_id", "role"),
        Index(None, "institution_id", "role"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    role: Mapped[Role] = mapped_column(StrEnum(Role))
