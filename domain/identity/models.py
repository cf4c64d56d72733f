from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, Money, StrEnum, TimestampMixin, UTCDateTime, utcnow

# Room for the longest plaintext (an email, 254 characters) once sealed and encoded.
SEALED_LENGTH = 400
# The user columns holding sealed personal values.
USER_SEALED_COLUMNS = ("email", "display_name")
# The institution columns holding its contact person's sealed values.
INSTITUTION_SEALED_COLUMNS = ("contact_name", "contact_email", "contact_phone")


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
    VERIFICATION_OFFICER = "verification_officer"


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
    licence_number: Mapped[str | None] = mapped_column(String(64))
    # Regions the institution is licensed to lend in (its head office is ``region``); None
    # for one onboarded before they were recorded.
    regions: Mapped[list[str] | None] = mapped_column(JSON)
    # The onboarding contact, a person: sealed under the institution's data key.
    contact_name: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    contact_email: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    contact_phone: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    # A suspended institution's products leave the catalog and its staff and systems
    # lose its roles at once (domain.identity.repository reads it with every viewer).
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspension_reason: Mapped[str | None] = mapped_column(String(500))


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    # Sealed with the person's data key (privacy.vault); found by the blind index.
    email: Mapped[str] = mapped_column(String(SEALED_LENGTH))
    email_bidx: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(SEALED_LENGTH))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[UserStatus] = mapped_column(StrEnum(UserStatus))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The base32 TOTP secret, sealed like a personal value (people.set_mfa_secret): a
    # copy of the database must not hand out second factors. Set when enrolment starts,
    # trusted once mfa_enrolled_at is set.
    mfa_secret: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    mfa_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The TOTP time step last accepted: a code is good once.
    mfa_last_step: Mapped[int | None] = mapped_column(BigInteger)


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


class AuthSession(IdMixin, TimestampMixin, Base):
    """One login: the family its refresh tokens rotate within. Revoking it ends them all."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index(None, "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    client_address: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(IdMixin, TimestampMixin, Base):
    """A refresh token, stored as its SHA-256; ``used_at`` marks it rotated."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index(None, "session_id"),)

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TokenPurpose(enum.Enum):
    CONFIRM_ACCOUNT = "confirm_account"
    STAFF_INVITATION = "staff_invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password


class OneTimeToken(IdMixin, TimestampMixin, Base):
    """An emailed token (account confirmation, staff invitation): single use, expiring."""

    __tablename__ = "one_time_tokens"

    purpose: Mapped[TokenPurpose] = mapped_column(StrEnum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    role: Mapped[Role | None] = mapped_column(StrEnum(Role))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(IdMixin, TimestampMixin, Base):
    """Mail waiting for a sender. No mail server exists; ``lendgraph outbox`` reads it.

    The address and the body (which carries a token) are sealed under the recipient's
    data key, like every personal value; the subject line holds nothing personal.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "sent_at", "created_at"),)

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(SEALED_LENGTH))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(6000))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RecoveryCode(IdMixin, TimestampMixin, Base):
    __tablename__ = "recovery_codes"
    __table_args__ = (Index(None, "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ServiceAccount(IdMixin, TimestampMixin, Base):
    """A partner institution's system: client credentials and the scopes it may ask for."""

    __tablename__ = "service_accounts"
    __table_args__ = (Index(None, "institution_id"),)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed logins per key (``account:<email>`` or ``address:<ip>``) and the lock they earn.

    Keyed by the email asked for, not the user, so an unknown address is throttled
    exactly like a known one and the answer tells nothing about who has an account.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PolicyRule(IdMixin, Base):
    """One Casbin line (``p`` or ``g``), in the column layout Casbin adapters share."""

    __tablename__ = "authz_rules"
    __table_args__ = (UniqueConstraint("ptype", "v0", "v1", "v2", "v3", "v4"),)

    ptype: Mapped[str] = mapped_column(String(2))
    v0: Mapped[str] = mapped_column(String(128))
    v1: Mapped[str] = mapped_column(String(128))
    v2: Mapped[str] = mapped_column(String(128))
    v3: Mapped[str] = mapped_column(String(128), default="")
    v4: Mapped[str] = mapped_column(String(128), default="")


class PolicyVersion(Base):
    """A counter every worker reads per request; a policy change bumps it."""

    __tablename__ = "authz_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column()
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PolicyChange(IdMixin, Base):
    """A proposed change of the authorization policy: a ``p`` rule added, or a rule removed.

    One that widens access waits ``pending`` for a second platform admin
    (``domain.four_eyes``); one that narrows is ``active`` at once. ``rule_id`` is the
    rule it added (once applied) or the rule it removes; the rule's values are kept so
    a rollback can put a removed rule back.
    """

    __tablename__ = "authz_changes"
    __table_args__ = (Index(None, "status", "id"),)

    kind: Mapped[str] = mapped_column(String(8))  # add | remove
    rule_id: Mapped[uuid.UUID | None] = mapped_column()
    ptype: Mapped[str] = mapped_column(String(2))
    v0: Mapped[str] = mapped_column(String(128))
    v1: Mapped[str] = mapped_column(String(128))
    v2: Mapped[str] = mapped_column(String(128))
    v3: Mapped[str] = mapped_column(String(128), default="")
    v4: Mapped[str] = mapped_column(String(128), default="")
    widens: Mapped[bool] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RoleGrantChange(IdMixin, Base):
    """A role proposed for a person: it is held only once a second admin approves.

    Granting widens access, so it waits ``pending`` (``domain.four_eyes``) for another
    admin entitled to grant in the same place (the institution, or the platform);
    revoking narrows and applies at once, without a row here.
    """

    __tablename__ = "role_grant_changes"
    __table_args__ = (Index(None, "status", "id"), Index(None, "institution_id", "id"))

    user_id: Mapped[uuid.UUID] = mapped_column()
    role: Mapped[Role] = mapped_column(StrEnum(Role))
    institution_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
