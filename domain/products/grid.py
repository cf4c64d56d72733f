"""A product's pricing grid: the annual rate for an applicant's probability of default.

The lender publishes bands, each up to a PD (ascending), with the rate it charges in
that band and, optionally, a lower rate when the loan is secured (collateral or a
guarantee offered). An applicant whose PD is above the last band is outside the
product's risk appetite: no rate is quoted. Rates lie within the product's advertised
range and do not fall as the PD rises, so a riskier applicant never pays less.
Pure functions; rates are Decimal with six places (DESIGN rule 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.products.models import Product
from kernel.errors import InvalidInput

MAX_BANDS = 10
RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Band:
    max_probability_of_default: float
    annual_rate: Decimal
    secured_annual_rate: Decimal | None = None

    def rate(self, *, secured: bool) -> Decimal:
        if secured and self.secured_annual_rate is not None:
            return self.secured_annual_rate
        return self.annual_rate

    def stored(self) -> dict[str, Any]:
        return {
            "maxProbabilityOfDefault": self.max_probability_of_default,
            "annualRate": str(self.annual_rate),
            "securedAnnualRate": (
                None if self.secured_annual_rate is None else str(self.secured_annual_rate)
            ),
        }


def bands_of(product: Product) -> tuple[Band, ...]:
    """The product's grid as stored (empty: it publishes none)."""
    return tuple(
        Band(
            max_probability_of_default=float(b["maxProbabilityOfDefault"]),
            annual_rate=Decimal(b["annualRate"]),
            secured_annual_rate=(
                None if b.get("securedAnnualRate") is None else Decimal(b["securedAnnualRate"])
            ),
        )
        for b in (product.pricing_grid or [])
    )


def checked(product: Product, bands: Sequence[Band]) -> tuple[Band, ...]:
    """The bands if they make a grid for this product; InvalidInput naming the first fault."""
    if not 1 <= len(bands) <= MAX_BANDS:
        raise InvalidInput(f"a grid has 1 to {MAX_BANDS} bands", field="bands")
    previous_pd, previous_rate = 0.0, Decimal(0)
    for n, band in enumerate(bands):
        where = f"bands.{n}"
        if not previous_pd < band.max_probability_of_default <= 1.0:
            raise InvalidInput(
                "each band's maxProbabilityOfDefault is above the previous band's, at most 1",
                field=f"{where}.maxProbabilityOfDefault",
            )
        for name, rate in (
            ("annualRate", band.annual_rate),
            ("securedAnnualRate", band.secured_annual_rate),
        ):
            if rate is None:
                continue
            if (
                rate != rate.quantize(RATE_PLACES)
                or not product.min_rate <= rate <= product.max_rate
            ):
                raise InvalidInput(
                    f"{name} must lie within the product's rates, {product.min_rate} to "
                    f"{product.max_rate}, to six decimals",
                    field=f"{where}.{name}",
                )
        if band.annual_rate < previous_rate:
            raise InvalidInput(
                "a riskier band may not charge less than a safer one", field=f"{where}.annualRate"
            )
        if band.secured_annual_rate is not None and band.secured_annual_rate > band.annual_rate:
            raise InvalidInput(
                "the secured rate may not exceed the band's rate",
                field=f"{where}.securedAnnualRate",
            )
        previous_pd, previous_rate = band.max_probability_of_default, band.annual_rate
    return tuple(bands)


def band_for(bands: Sequence[Band], pd: float) -> Band | None:
    """The first band the PD falls in; None when it is above them all."""
    return next((b for b in bands if pd <= b.max_probability_of_default), None)


@dataclass(frozen=True, slots=True)
class RiskPrice:
    """The rate priced for one applicant, or (``annual_rate`` None) why none is offered."""

    annual_rate: Decimal | None
    reason: str


def risk_price(product: Product, pd: float | None, *, secured: bool) -> RiskPrice:
    """What the product charges an applicant of this PD, and how that was decided."""
    bands = bands_of(product)
    starting = f"{product.min_rate * 100:.2f}%"
    if not bands:
        return RiskPrice(
            product.min_rate,
            f"quoted at the starting rate, {starting}: the lender publishes no pricing grid",
        )
    if pd is None:
        return RiskPrice(
            product.min_rate,
            f"quoted at the starting rate, {starting}: no model is in service to pre-score you",
        )
    band = band_for(bands, pd)
    if band is None:
        return RiskPrice(
            None,
            "your estimated risk of default is above what the lender prices for this product "
            f"(up to {bands[-1].max_probability_of_default:.2%})",
        )
    rate = band.rate(secured=secured)
    how = " secured by what you offered" if secured and band.secured_annual_rate else ""
    # The band is public (the grid is); the PD itself is the lender's and is not shown.
    return RiskPrice(
        rate,
        f"rate {rate * 100:.2f}% from the lender's pricing grid: your estimated risk of "
        f"default falls in its band up to {band.max_probability_of_default:.2%}{how}",
    )
