from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.base import Base, IdMixin, Money, Rate, StrEnum, TimestampMixin, UTCDateTime


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
