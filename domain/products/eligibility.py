"""Who may apply for a product: pure functions over the product's rules and the
facts known about an enterprise.

A product's ``eligibility`` JSON holds optional rules: ``min_years_in_business``,
``industries`` and ``regions`` (an empty list serves everyone), and
``min_annual_revenue`` and ``max_debt_to_asset`` (decimals stored as strings).
A rule that is absent does not restrict. Thresholds are inclusive: revenue equal
to the minimum, or a ratio equal to the cap, is accepted. Unknown facts never pass
a rule that needs them: the reason says what is missing, so the owner knows what
to file. Reasons come back in a fixed order, one per rule, in plain English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.products.models import Product, ProductStatus

RATIO_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class EnterpriseFacts:
    industry: str
    region: str
    founded_on: date
    annual_revenue: Decimal | None  # from the profile or latest statement; None = unknown
    total_assets: Decimal | None  # latest financial statement; None = none filed
    total_liabilities: Decimal | None
    has_collateral: bool | None = None  # None = not stated

    def years_in_business(self, as_of: date) -> int:
        """Full years since founding; a year counts from its anniversary day on.

        A business founded on 29 February completes its year on 1 March in common
        years. A founding date after ``as_of`` counts as zero years.
        """
        years = as_of.year - self.founded_on.year
        if (as_of.month, as_of.day) < (self.founded_on.month, self.founded_on.day):
            years -= 1
        return max(years, 0)

    def debt_to_asset(self) -> Decimal | None:
        """Liabilities over assets, four places half-up; None when it cannot be known."""
        if self.total_assets is None or self.total_liabilities is None:
            return None
        if self.total_assets <= 0:
            return None
        ratio = self.total_liabilities / self.total_assets
        return ratio.quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Rules:
    """A product's eligibility JSON, parsed once."""

    min_years_in_business: int | None
    industries: tuple[str, ...]
    regions: tuple[str, ...]
    min_annual_revenue: Decimal | None
    max_debt_to_asset: Decimal | None

    @classmethod
    def of(cls, product: Product) -> Rules:
        raw: dict[str, Any] = product.eligibility or {}
        years = raw.get("min_years_in_business")
        return cls(
            min_years_in_business=None if years is None else int(years),
            industries=tuple(raw.get("industries") or ()),
            regions=tuple(raw.get("regions") or ()),
            min_annual_revenue=_decimal(raw.get("min_annual_revenue")),
            max_debt_to_asset=_decimal(raw.get("max_debt_to_asset")),
        )


def ineligibility(product: Product, facts: EnterpriseFacts, *, as_of: date) -> tuple[str, ...]:
    """Human-readable reasons the enterprise may not apply; empty means eligible."""
    rules = Rules.of(product)
    reasons: list[str] = []
    if product.status is not ProductStatus.PUBLISHED:
        reasons.append("the product is not open for applications")

    if rules.min_years_in_business is not None:
        years = facts.years_in_business(as_of)
        if years < rules.min_years_in_business:
            reasons.append(
                f"in business {_years(years)}; the product asks for at least"
                f" {_years(rules.min_years_in_business)}"
            )

    if rules.industries and facts.industry not in rules.industries:
        reasons.append(
            f"industry {facts.industry} is not served (serves: {', '.join(rules.industries)})"
        )
    if rules.regions and facts.region not in rules.regions:
        reasons.append(f"region {facts.region} is not served (serves: {', '.join(rules.regions)})")

    if rules.min_annual_revenue is not None:
        minimum = rules.min_annual_revenue
        if facts.annual_revenue is None:
            reasons.append(f"annual revenue unknown; the product asks for at least {minimum:,.2f}")
        elif facts.annual_revenue < minimum:
            reasons.append(
                f"annual revenue {facts.annual_revenue:,.2f} is below the product's"
                f" minimum of {minimum:,.2f}"
            )

    if rules.max_debt_to_asset is not None:
        reason = _debt_to_asset_reason(facts, cap=rules.max_debt_to_asset)
        if reason:
            reasons.append(reason)

    if product.collateral_required and facts.has_collateral is False:
        reasons.append("the product requires collateral, and the enterprise has none to offer")
    return tuple(reasons)


def percent(ratio: Decimal) -> str:
    """A ratio as a percentage with two decimals, rounded half-up: 0.061678 -> 6.17%."""
    return f"{ratio.quantize(RATIO_PLACES, rounding=ROUND_HALF_UP):.2%}"


def _debt_to_asset_reason(facts: EnterpriseFacts, *, cap: Decimal) -> str | None:
    ratio = facts.debt_to_asset()
    if ratio is not None:
        # The rounded ratio is judged, so the figure shown is the figure compared.
        if ratio <= cap:
            return None
        return f"debt-to-asset ratio {percent(ratio)} is above the product's cap of {percent(cap)}"
    if facts.total_assets is None and facts.total_liabilities is None:
        return f"no financial statement filed; the product caps debt-to-asset at {percent(cap)}"
    if facts.total_assets is not None and facts.total_assets <= 0:
        return (
            "the latest financial statement shows no positive assets; the product caps"
            f" debt-to-asset at {percent(cap)}"
        )
    return (
        "the latest financial statement lacks total assets or liabilities; the product caps"
        f" debt-to-asset at {percent(cap)}"
    )


def _years(n: int) -> str:
    return f"{n} year" if n == 1 else f"{n} years"


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))
