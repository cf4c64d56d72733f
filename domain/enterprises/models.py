from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.identity.models import SEALED_LENGTH
from domain.verification.models import VerificationLevel
from kernel.base import Base, IdMixin, Money, StrEnum, TimestampMixin, UTCDateTime, utcnow

# The enterprise columns holding sealed personal values, and the plaintext length
# each accepts.
SEALED_COLUMNS: dict[str, int] = {
    "legal_representative_name": 100,
    "legal_representative_id_number": 18,
    "contact_phone": 20,
    "contact_email": 254,
    "bank_account_number": 32,
}


class Enterprise(IdMixin, TimestampMixin, Base):
    __tablename__ = "enterprises"
    __table_args__ = (
        CheckConstraint("employee_count >= 0", name="employee_count_non_negative"),
        Index(None, "industry", "id"),
        Index(None, "region", "id"),
        Index(None, "updated_at"),
        # What the portfolio analytics join each borrower to, read from the index alone
        # (domain.analytics.repository.borrowers). PostgreSQL only: SQLite has no
        # INCLUDE, and the index would only repeat its primary key there.
        Index(
            "ix_enterprises_profile",
            "id",
            postgresql_include=["industry", "region", "pd_in_force"],
        ).ddl_if(dialect="postgresql"),
    )

    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Unified social credit code (GB 32100-2015), 18 characters with a check digit.
    unified_social_credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    founded_on: Mapped[date] = mapped_column(Date)
    employee_count: Mapped[int] = mapped_column()
    annual_revenue: Mapped[Decimal | None] = mapped_column(Money())
    # Personal values, sealed with the enterprise's data key (privacy.vault): what is
    # stored is ciphertext bound to this table, column and row, never the value.
    legal_representative_name: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    legal_representative_id_number: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    contact_phone: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    contact_email: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    bank_account_number: Mapped[str | None] = mapped_column(String(SEALED_LENGTH))
    # Blind index of the legal representative's id number: exact lookups, no decryption.
    legal_representative_id_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    # The PD of the newest champion assessment and when it was made: what the portfolio's
    # expected loss reads per borrower, kept as assessments come in
    # (``domain.risk.repository.keep_pd_in_force``); not a profile change.
    pd_in_force: Mapped[float | None] = mapped_column()
    pd_assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What a verification officer found (domain.verification); the policy gates on it.
    verification_level: Mapped[VerificationLevel] = mapped_column(
        StrEnum(VerificationLevel),
        default=VerificationLevel.UNVERIFIED,
        server_default=VerificationLevel.UNVERIFIED.value,
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FinancialStatement(IdMixin, TimestampMixin, Base):
    """One fiscal year of an enterprise's accounts, in CNY."""

    __tablename__ = "financial_statements"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "fiscal_year"),
        CheckConstraint("total_assets = total_liabilities + equity", name="balance_sheet_balances"),
        CheckConstraint("total_assets >= 0", name="assets_non_negative"),
        CheckConstraint("current_assets <= total_assets", name="current_assets_within_total"),
        CheckConstraint(
            "current_liabilities <= total_liabilities", name="current_liabilities_within_total"
        ),
        Index(None, "updated_at"),
    )

    # A restated year changes in place: the risk scan looks for it by this.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    fiscal_year: Mapped[int] = mapped_column()
    revenue: Mapped[Decimal] = mapped_column(Money())
    cost_of_sales: Mapped[Decimal] = mapped_column(Money())
    operating_profit: Mapped[Decimal] = mapped_column(Money())
    interest_expense: Mapped[Decimal] = mapped_column(Money())
    net_profit: Mapped[Decimal] = mapped_column(Money())
    total_assets: Mapped[Decimal] = mapped_column(Money())
    current_assets: Mapped[Decimal] = mapped_column(Money())
    total_liabilities: Mapped[Decimal] = mapped_column(Money())
    current_liabilities: Mapped[Decimal] = mapped_column(Money())
    equity: Mapped[Decimal] = mapped_column(Money())
    operating_cash_flow: Mapped[Decimal] = mapped_column(Money())
