"""An institution's catalog: drafting, publishing, versioning and retiring products.

A published product is never edited in place: applications point at the exact version
they were made against. Changing it writes a new draft version; publishing that draft
retires the version it replaces, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity.models import Institution, Role
from domain.identity.viewer import Viewer
from domain.lending.schedule import CENT, MAX_TERM_MONTHS
from domain.privacy import preferences
from domain.products import grid
from domain.products.models import (
    DayCount,
    Product,
    ProductMarket,
    ProductStatus,
    ProductType,
    RepaymentMethod,
)
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from privacy.keys import KeyProvider

CATALOG_KEEPERS = frozenset({Role.INSTITUTION_ADMIN})
MAX_AMOUNT = Decimal("1000000000.00")


@dataclass(frozen=True, slots=True)
class Terms:
    """Everything about a product an institution decides."""

    name: str
    type: ProductType
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    min_rate: Decimal
    max_rate: Decimal
    repayment_methods: tuple[RepaymentMethod, ...]
    description: str = ""
    origination_fee_rate: Decimal = Decimal("0")
    collateral_required: bool = False
    min_years_in_business: int | None = None
    industries: tuple[str, ...] = field(default_factory=tuple)
    regions: tuple[str, ...] = field(default_factory=tuple)
    min_annual_revenue: Decimal | None = None
    max_debt_to_asset: Decimal | None = None
    # Charges and interest (domain.lending.charges); the defaults charge nothing extra.
    day_count: DayCount = DayCount.THIRTY_360
    grace_days: int = 0
    late_fee_fixed: Decimal = Decimal("0.00")
    late_fee_rate: Decimal = Decimal("0")
    late_fee_cap: Decimal | None = None
    penalty_rate: Decimal = Decimal("0")
    penalty_cap_multiple: Decimal | None = None

    def problems(self) -> list[tuple[str, str]]:
        """What is wrong, as (field of the terms, why); empty: nothing."""
        found: list[tuple[str, str]] = []
        if not 2 <= len(self.name.strip()) <= 200:
            found.append(("name", "2 to 200 characters"))
        if len(self.description) > 5000:
            found.append(("description", "at most 5,000 characters"))
        if not (
            Decimal(0) < self.min_amount <= self.max_amount <= MAX_AMOUNT
            and self.min_amount == self.min_amount.quantize(CENT)
            and self.max_amount == self.max_amount.quantize(CENT)
        ):
            found.append(
                ("minAmount", f"0 < minAmount <= maxAmount <= {MAX_AMOUNT:,.2f}, in cents")
            )
        if not 1 <= self.min_term_months <= self.max_term_months <= MAX_TERM_MONTHS:
            found.append(
                ("minTermMonths", f"1 <= minTermMonths <= maxTermMonths <= {MAX_TERM_MONTHS}")
            )
        if not Decimal(0) <= self.min_rate <= self.max_rate < 1:
            found.append(("minRate", "0 <= minRate <= maxRate < 1, as decimal fractions"))
        if not Decimal(0) <= self.origination_fee_rate < Decimal("0.1"):
            found.append(("originationFeeRate", "0 to below 0.1"))
        if not self.repayment_methods:
            found.append(("repaymentMethods", "at least one"))
        if self.min_years_in_business is not None and not 0 <= self.min_years_in_business <= 100:
            found.append(("minYearsInBusiness", "0 to 100"))
        if self.min_annual_revenue is not None and self.min_annual_revenue < 0:
            found.append(("minAnnualRevenue", "not negative"))
        if self.max_debt_to_asset is not None and not 0 < self.max_debt_to_asset <= 2:
            found.append(("maxDebtToAsset", "above 0, at most 2"))
        if not 0 <= self.grace_days <= 90:
            found.append(("graceDays", "0 to 90 days"))
        if not (
            Decimal(0) <= self.late_fee_fixed <= MAX_AMOUNT
            and self.late_fee_fixed == self.late_fee_fixed.quantize(CENT)
        ):
            found.append(("lateFeeAmount", "not negative, in cents"))
        if not Decimal(0) <= self.late_fee_rate <= Decimal("0.5"):
            found.append(("lateFeeRate", "0 to 0.5 of the overdue instalment"))
        if self.late_fee_cap is not None and not (
            Decimal(0) <= self.late_fee_cap <= MAX_AMOUNT
            and self.late_fee_cap == self.late_fee_cap.quantize(CENT)
        ):
            found.append(("lateFeeCapAmount", "not negative, in cents"))
        if not Decimal(0) <= self.penalty_rate < 1:
            found.append(("penaltyRate", "0 to below 1, an annual rate"))
        if self.penalty_cap_multiple is not None and not (
            Decimal(0) <= self.penalty_cap_multiple <= 2
        ):
            found.append(("penaltyCapRate", "0 to 2 times the instalment's principal"))
        for label, values in (("industries", self.industries), ("regions", self.regions)):
            if any(not 1 <= len(v.strip()) <= 64 for v in values):
                found.append((label, "each 1 to 64 characters"))
        return found

    def columns(self) -> dict[str, Any]:
        eligibility: dict[str, Any] = {
            "industries": list(dict.fromkeys(v.strip() for v in self.industries)),
            "regions": list(dict.fromkeys(v.strip() for v in self.regions)),
        }
        if self.min_years_in_business is not None:
            eligibility["min_years_in_business"] = self.min_years_in_business
        if self.min_annual_revenue is not None:
            eligibility["min_annual_revenue"] = str(self.min_annual_revenue)
        if self.max_debt_to_asset is not None:
            eligibility["max_debt_to_asset"] = str(self.max_debt_to_asset)
        return {
            "name": self.name.strip(),
            "type": self.type,
            "description": self.description,
            "min_amount": self.min_amount,
            "max_amount": self.max_amount,
            "min_term_months": self.min_term_months,
            "max_term_months": self.max_term_months,
            "min_rate": self.min_rate,
            "max_rate": self.max_rate,
            "origination_fee_rate": self.origination_fee_rate,
            "repayment_methods": [m.value for m in dict.fromkeys(self.repayment_methods)],
            "collateral_required": self.collateral_required,
            "eligibility": eligibility,
            "day_count": self.day_count,
            "grace_days": self.grace_days,
            "late_fee_fixed": self.late_fee_fixed,
            "late_fee_rate": self.late_fee_rate,
            "late_fee_cap": self.late_fee_cap,
            "penalty_rate": self.penalty_rate,
            "penalty_cap_multiple": self.penalty_cap_multiple,
        }


def _keeper(viewer: Viewer, institution_id: uuid.UUID) -> None:
    if not viewer.institution_roles.get(institution_id, frozenset()) & CATALOG_KEEPERS:
        raise Forbidden("only the institution's admins keep its catalog")


def _checked(terms: Terms) -> dict[str, Any]:
    problems = terms.problems()
    if problems:
        # The terms are the input's ``terms`` (createProduct, changeProduct).
        raise InvalidInput.of_problems(problems, under="terms")
    return terms.columns()


async def create_product(
    session: AsyncSession,
    *,
    viewer: Viewer,
    institution_id: uuid.UUID,
    code: str,
    terms: Terms,
    request_id: str | None = None,
) -> Product:
    _keeper(viewer, institution_id)
    code = code.strip().upper()
    if not code.replace("-", "").isalnum() or not 2 <= len(code) <= 32:
        raise InvalidInput("code: 2 to 32 letters, digits or dashes", field="code")
    taken = await session.scalar(
        select(func.count())
        .select_from(Product)
        .where(Product.institution_id == institution_id, Product.code == code)
    )
    if taken:
        raise Conflict(f"the institution already has a product {code}")
    product = Product(
        institution_id=institution_id,
        code=code,
        version=1,
        status=ProductStatus.DRAFT,
        **_checked(terms),
    )
    session.add(product)
    await session.flush()
    await _sync_markets(session, product)
    _audit(session, "product.created", product, viewer, request_id)
    return product


async def change_product(
    session: AsyncSession,
    *,
    viewer: Viewer,
    product_id: uuid.UUID,
    terms: Terms,
    request_id: str | None = None,
) -> Product:
    """Edit a draft in place; a published product gets a new draft version instead."""
    product = await _own(session, viewer, product_id)
    columns = _checked(terms)
    if product.status is ProductStatus.RETIRED:
        raise InvalidInput("a retired product is not changed; create a new one", field="productId")
    if product.status is ProductStatus.DRAFT:
        for name, value in columns.items():
            setattr(product, name, value)
        await session.flush()
        await _sync_markets(session, product)
        _audit(session, "product.changed", product, viewer, request_id)
        return product
    newest = await session.scalar(
        select(func.max(Product.version)).where(
            Product.institution_id == product.institution_id, Product.code == product.code
        )
    )
    if newest != product.version:
        raise Conflict(
            f"version {newest} of {product.code} exists already; change that one instead"
        )
    draft = Product(
        institution_id=product.institution_id,
        code=product.code,
        version=product.version + 1,
        status=ProductStatus.DRAFT,
        **columns,
    )
    session.add(draft)
    await session.flush()
    await _sync_markets(session, draft)
    _audit(session, "product.versioned", draft, viewer, request_id, replaces=str(product.id))
    return draft


async def publish_product(
    session: AsyncSession,
    *,
    viewer: Viewer,
    product_id: uuid.UUID,
    request_id: str | None = None,
    keys: KeyProvider | None = None,
) -> Product:
    """Open a draft for applications. With ``keys``, announce it by mail to the people
    who switched marketing on (domain.privacy.preferences), in the same transaction."""
    product = await _own(session, viewer, product_id)
    if product.status is not ProductStatus.DRAFT:
        raise InvalidInput(
            f"only a draft is published; this one is {product.status.value}", field="productId"
        )
    previous = (
        await session.scalars(
            select(Product).where(
                Product.institution_id == product.institution_id,
                Product.code == product.code,
                Product.status == ProductStatus.PUBLISHED,
            )
        )
    ).all()
    for old in previous:
        old.status = ProductStatus.RETIRED
    product.status = ProductStatus.PUBLISHED
    product.published_at = utcnow()
    await session.flush()
    _audit(
        session,
        "product.published",
        product,
        viewer,
        request_id,
        retired=[str(p.id) for p in previous],
    )
    if keys is not None:
        await preferences.send_marketing(
            session,
            keys,
            subject=f"New on LendGraph: {product.name}",
            body=f"{product.name} is now open for applications. "
            "You receive this because you switched marketing mail on; switch it off "
            "in your privacy preferences at any time.",
        )
    return product


async def retire_product(
    session: AsyncSession, *, viewer: Viewer, product_id: uuid.UUID, request_id: str | None = None
) -> Product:
    product = await _own(session, viewer, product_id)
    if product.status is not ProductStatus.PUBLISHED:
        raise InvalidInput(
            f"only a published product is retired; this one is {product.status.value}",
            field="productId",
        )
    product.status = ProductStatus.RETIRED
    await session.flush()
    _audit(session, "product.retired", product, viewer, request_id)
    return product


async def set_pricing_grid(
    session: AsyncSession,
    *,
    viewer: Viewer,
    product_id: uuid.UUID,
    bands: Sequence[grid.Band],
    request_id: str | None = None,
) -> Product:
    """Publish the product's risk-based rates; they apply to quotes from now on."""
    product = await _own(session, viewer, product_id)
    if product.status is ProductStatus.RETIRED:
        raise InvalidInput("a retired product is not priced any more", field="productId")
    product.pricing_grid = [b.stored() for b in grid.checked(product, bands)]
    await session.flush()
    _audit(session, "product.priced", product, viewer, request_id, bands=product.pricing_grid)
    return product


async def set_four_eyes_threshold(
    session: AsyncSession,
    *,
    viewer: Viewer,
    institution_id: uuid.UUID,
    threshold: Decimal,
    request_id: str | None = None,
) -> Institution:
    """Approvals of amounts above the threshold need a second, different officer."""
    _keeper(viewer, institution_id)
    if threshold < 0 or threshold != threshold.quantize(CENT) or threshold > MAX_AMOUNT:
        raise InvalidInput(f"threshold: 0 to {MAX_AMOUNT:,.2f}, in cents", field="threshold")
    institution = await session.get(Institution, institution_id)
    if institution is None:
        raise NotFound("no such institution")
    before = institution.four_eyes_threshold
    institution.four_eyes_threshold = threshold
    await session.flush()
    record(
        session,
        action="institution.four_eyes_threshold",
        entity_type="institution",
        entity_id=institution.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        before=str(before),
        after=str(threshold),
    )
    return institution


async def _own(session: AsyncSession, viewer: Viewer, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("no such product")
    _keeper(viewer, product.institution_id)
    return product


async def _sync_markets(session: AsyncSession, product: Product) -> None:
    """Mirror the industries and regions served into rows the catalog filters on."""
    await session.execute(delete(ProductMarket).where(ProductMarket.product_id == product.id))
    rows = [
        {"product_id": product.id, "dimension": dimension, "value": value}
        for dimension, key in (("industry", "industries"), ("region", "regions"))
        for value in product.eligibility.get(key) or []
    ]
    if rows:
        await session.execute(insert(ProductMarket), rows)


def _audit(
    session: AsyncSession,
    action: str,
    product: Product,
    viewer: Viewer,
    request_id: str | None,
    **detail: Any,
) -> None:
    record(
        session,
        action=action,
        entity_type="product",
        entity_id=product.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        code=product.code,
        version=product.version,
        **detail,
    )
