"""Every SQL statement of the product catalog."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.models import Institution
from domain.identity.viewer import Viewer
from domain.products.models import Product, ProductMarket, ProductStatus, ProductType
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (Product.id,), descending=True)
RATE_ASC = Keyset("rate_asc", (Product.min_rate, Product.id))
RATE_DESC = Keyset("rate_desc", (Product.min_rate, Product.id), descending=True)
AMOUNT_ASC = Keyset("amount_asc", (Product.max_amount, Product.id))
AMOUNT_DESC = Keyset("amount_desc", (Product.max_amount, Product.id), descending=True)


@dataclass(frozen=True, slots=True)
class ProductFilter:
    types: Sequence[ProductType] | None = None
    institution_id: uuid.UUID | None = None
    amount: Decimal | None = None
    term_months: int | None = None
    max_rate: Decimal | None = None
    collateral_required: bool | None = None
    industry: str | None = None
    region: str | None = None


def _serves(dimension: str, value: str) -> Any:
    """The product serves ``value``: it lists it, or lists nothing for the dimension."""
    listed = select(ProductMarket.product_id).where(
        ProductMarket.product_id == Product.id, ProductMarket.dimension == dimension
    )
    return or_(~listed.exists(), listed.where(ProductMarket.value == value).exists())


CENT = Decimal("0.01")


def _largest(column: Any) -> Decimal:
    """The largest value a ScaledDecimal column holds: 999.999999 for Numeric(9, 6)."""
    precision: int = column.type.precision
    scale: int = column.type.scale
    return Decimal(10) ** (precision - scale) - Decimal(10) ** -scale


def offered_by_active(rows: type[Product] = Product) -> ColumnElement[bool]:
    """The product's institution is not suspended: a suspension takes it off the shelf."""
    return ~(
        select(Institution.id)
        .where(Institution.id == rows.institution_id, Institution.suspended_at.is_not(None))
        .exists()
    )


def catalog(flt: ProductFilter) -> Select[Any]:
    """The published products a catalog page shows, filtered (unordered)."""
    stmt = select(Product).where(Product.status == ProductStatus.PUBLISHED, offered_by_active())
    if flt.types:
        stmt = stmt.where(Product.type.in_(flt.types))
    if flt.institution_id is not None:
        stmt = stmt.where(Product.institution_id == flt.institution_id)
    if flt.amount is not None:
        if abs(flt.amount) > _largest(Product.max_amount):
            stmt = stmt.where(false())  # no stored range reaches it
        else:
            # Amounts are stored to the cent, so for any amount (a fraction of a cent too,
            # which a money column would refuse to bind) min <= amount exactly when min <=
            # its floor to the cent, and amount <= max when its ceiling is.
            floor = flt.amount.quantize(CENT, rounding=ROUND_FLOOR)
            ceiling = flt.amount.quantize(CENT, rounding=ROUND_CEILING)
            stmt = stmt.where(Product.min_amount <= floor, Product.max_amount >= ceiling)
    if flt.term_months is not None:
        stmt = stmt.where(
            Product.min_term_months <= flt.term_months, Product.max_term_months >= flt.term_months
        )
    if flt.max_rate is not None:
        # A bound the rate column cannot hold (and would refuse to bind) is beyond every
        # stored rate: above them all it keeps every product, below them all none.
        largest = _largest(Product.min_rate)
        if flt.max_rate < -largest:
            stmt = stmt.where(false())
        elif flt.max_rate <= largest:
            stmt = stmt.where(Product.min_rate <= flt.max_rate)
    if flt.collateral_required is not None:
        stmt = stmt.where(Product.collateral_required == flt.collateral_required)
    if flt.industry is not None:
        stmt = stmt.where(_serves("industry", flt.industry))
    if flt.region is not None:
        stmt = stmt.where(_serves("region", flt.region))
    return stmt


async def list_catalog(
    session: AsyncSession,
    *,
    flt: ProductFilter,
    keyset: Keyset,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[Product]:
    stmt = keyset.apply(catalog(flt), after=after, limit=first + 1)
    rows = (await session.scalars(stmt)).all()
    return page_from(rows, first)


async def count_catalog(session: AsyncSession, *, flt: ProductFilter) -> int:
    stmt = select(func.count()).select_from(catalog(flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


def visible(viewer: Viewer, rows: type[Product] = Product) -> ColumnElement[bool]:
    """The published and retired catalog is public; drafts stay with their institution,
    and a suspended institution's products with it and the platform."""
    public = and_(rows.status != ProductStatus.DRAFT, offered_by_active(rows))
    if viewer.sees_all_tenants:
        return true()
    if viewer.institution_ids:
        return or_(public, rows.institution_id.in_(viewer.institution_ids))
    return public


async def products_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Product]:
    stmt = select(Product).where(Product.id.in_(ids), visible(viewer))
    return (await session.scalars(stmt)).all()


async def published_products(session: AsyncSession, *, limit: int) -> Sequence[Product]:
    """The open catalog, for recommendations: small by nature, capped all the same."""
    stmt = (
        select(Product)
        .where(Product.status == ProductStatus.PUBLISHED, offered_by_active())
        .order_by(Product.min_rate, Product.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()
