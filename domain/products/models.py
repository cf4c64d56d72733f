from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, Money, Rate, StrEnum, TimestampMixin, UTCDateTime


class ProductType(enum.Enum):
    WORKING_CAPITAL_LOAN = "working_capital_loan"
    TERM_LOAN = "term_loan"
    EQUIPMENT_LEASING = "equipment_leasing"
    FACTORING = "factoring"
    CREDIT_LINE = "credit_line"


class ProductStatus(enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class RepaymentMethod(enum.Enum):
    ANNUITY = "annuity"  # equal instalments
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_ONLY = "interest_only"  # interest monthly, principal at maturity


class DayCount(enum.Enum):
    """How days are counted into years for interest (see ``domain.lending.daycount``)."""

    ACT_365F = "act_365f"  # actual days / 365, leap years included
    ACT_360 = "act_360"  # actual days / 360
    THIRTY_360 = "thirty_360"  # 30/360 (ISDA 2006 4.16(f), "Bond Basis")


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("institution_id", "code", "version"),
        CheckConstraint("min_amount > 0 AND min_amount <= max_amount", name="amount_range"),
        CheckConstraint(
            "min_term_months > 0 AND min_term_months <= max_term_months", name="term_range"
        ),
        CheckConstraint("min_rate >= 0 AND min_rate <= max_rate", name="rate_range"),
        Index(None, "status", "min_rate", "id"),
        Index(None, "status", "max_amount", "id"),
        Index(None, "institution_id", "status"),
    )

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(default=1)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ProductType] = mapped_column(StrEnum(ProductType))
    status: Mapped[ProductStatus] = mapped_column(StrEnum(ProductStatus))
    description: Mapped[str] = mapped_column(Text, default="")
    min_amount: Mapped[Decimal] = mapped_column(Money())
    max_amount: Mapped[Decimal] = mapped_column(Money())
    min_term_months: Mapped[int] = mapped_column()
    max_term_months: Mapped[int] = mapped_column()
    min_rate: Mapped[Decimal] = mapped_column(Rate())
    max_rate: Mapped[Decimal] = mapped_column(Rate())
    origination_fee_rate: Mapped[Decimal] = mapped_column(Rate())
    repayment_methods: Mapped[list[str]] = mapped_column(JSON)
    collateral_required: Mapped[bool] = mapped_column(default=False)
    # Eligibility rules: min_years_in_business, industries, regions,
    # min_annual_revenue and max_debt_to_asset (decimals as strings).
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The risk-based pricing grid (domain.products.grid): bands of PD with their rates;
    # None: the product publishes none, and quotes use its "from" rate.
    pricing_grid: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Charges and interest (domain.lending.charges); the defaults are the terms every
    # product had before they existed: 30/360 months, no late fee, no penalty interest.
    day_count: Mapped[DayCount] = mapped_column(
        StrEnum(DayCount), default=DayCount.THIRTY_360, server_default="thirty_360"
    )
    # Days after a due date before a late fee is charged or penalty interest runs.
    grace_days: Mapped[int] = mapped_column(default=0, server_default="0")
    # Late fee per overdue instalment: fixed + rate x what the instalment still owes,
    # at most the cap (None: no cap).
    late_fee_fixed: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0.00"), server_default="0"
    )
    late_fee_rate: Mapped[Decimal] = mapped_column(
        Rate(), default=Decimal("0.000000"), server_default="0"
    )
    late_fee_cap: Mapped[Decimal | None] = mapped_column(Money())
    # Penalty interest, annual, on overdue principal; an instalment's penalty interest
    # stops at cap_multiple x its principal (None: no cap; 1.0 is the in duplum rule).
    penalty_rate: Mapped[Decimal] = mapped_column(
        Rate(), default=Decimal("0.000000"), server_default="0"
    )
    penalty_cap_multiple: Mapped[Decimal | None] = mapped_column(Rate())


class ProductMarket(Base):
    """An industry or region a product serves, one row each, so the catalog filters in SQL.

    A product with no row for a dimension serves all of it. The rows mirror the
    ``industries`` and ``regions`` of its eligibility rules.
    """

    __tablename__ = "product_markets"
    __table_args__ = (Index(None, "dimension", "value"),)

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
