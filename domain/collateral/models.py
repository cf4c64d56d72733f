from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, Money, StrEnum, UTCDateTime, utcnow


class CollateralKind(enum.Enum):
    """What an item is; its haircut is the kind's (domain/collateral/policy.py)."""

    REAL_ESTATE = "real_estate"
    VEHICLE = "vehicle"
    EQUIPMENT = "equipment"
    INVENTORY = "inventory"
    RECEIVABLES = "receivables"
    CASH_DEPOSIT = "cash_deposit"
    OTHER = "other"


class CollateralStatus(enum.Enum):
    """PLEDGED -> RELEASED (given back) or REALISED (sold or taken to recover a loss)."""

    PLEDGED = "pledged"
    RELEASED = "released"
    REALISED = "realised"


class GuaranteeKind(enum.Enum):
    PERSONAL = "personal"  # a person, often the owner or a relative
    CORPORATE = "corporate"  # another enterprise, often a parent
    GUARANTEE_SCHEME = "guarantee_scheme"  # a public or mutual guarantee scheme


class GuaranteeStatus(enum.Enum):
    """ACTIVE -> RELEASED (the guarantor is let go) or CALLED (the guarantor was asked
    to pay)."""

    ACTIVE = "active"
    RELEASED = "released"
    CALLED = "called"


MAX_DESCRIPTION = 500
MAX_SOURCE = 200
MAX_GUARANTOR_NAME = 200
MAX_GUARANTOR_IDENTITY = 40
# The sealed, encoded forms of the longest name and identity number (UTF-8 can take four
# bytes a character; the nonce and tag add 28 and base64 a third).
SEALED_NAME_LENGTH = 1200
SEALED_IDENTITY_LENGTH = 300


class CollateralItem(IdMixin, Base):
    """An asset pledged for a loan, at its latest valuation (every valuation, this one
    included, is a ``CollateralValuation``)."""

    __tablename__ = "collateral_items"
    __table_args__ = (
        CheckConstraint("market_value > 0", name="market_value_positive"),
        Index(None, "loan_id", "status"),
        Index(None, "institution_id", "id"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    # Copied from the loan so row scoping is the loan's, on the item's own columns.
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    kind: Mapped[CollateralKind] = mapped_column(StrEnum(CollateralKind))
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION))
    market_value: Mapped[Decimal] = mapped_column(Money())
    valued_on: Mapped[date] = mapped_column(Date)
    valuation_source: Mapped[str] = mapped_column(String(MAX_SOURCE))
    status: Mapped[CollateralStatus] = mapped_column(StrEnum(CollateralStatus))
    pledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    pledged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # released or realised
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class CollateralValuation(IdMixin, Base):
    """One valuation of an item: the first at pledging, one more per revaluation."""

    __tablename__ = "collateral_valuations"
    __table_args__ = (
        CheckConstraint("market_value > 0", name="market_value_positive"),
        Index(None, "item_id", "valued_on"),
    )

    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collateral_items.id", ondelete="CASCADE")
    )
    market_value: Mapped[Decimal] = mapped_column(Money())
    valued_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(MAX_SOURCE))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Guarantee(IdMixin, Base):
    """A promise by a third party to pay up to ``amount`` of the loan. The guarantor's
    name and identity number are personal data, sealed under the borrowing enterprise's
    data key (erasing the enterprise shreds them), each bound to this row."""

    __tablename__ = "loan_guarantees"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index(None, "loan_id", "status"),
        Index(None, "institution_id", "id"),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    enterprise_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE")
    )
    kind: Mapped[GuaranteeKind] = mapped_column(StrEnum(GuaranteeKind))
    guarantor_name: Mapped[str | None] = mapped_column(String(SEALED_NAME_LENGTH))
    guarantor_identity: Mapped[str | None] = mapped_column(String(SEALED_IDENTITY_LENGTH))
    amount: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[GuaranteeStatus] = mapped_column(StrEnum(GuaranteeStatus))
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # released or called
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
