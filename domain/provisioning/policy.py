"""The provisioning policy: staging thresholds, loss given default, the PD term structure.

Policy data with documented defaults (docs/api.md, "Expected credit loss"):

- **Stage 2**, a significant increase in credit risk since origination, when any of:
  ``days_past_due >= SICR_DPD`` (30, the IFRS 9 rebuttable presumption, 5.5.11); the
  borrower's 12-month PD now is at least ``SICR_PD_FACTOR`` (2.0) times its PD at
  origination (a doubling: a relative test, as most lenders apply); the loan is
  forborne (``Loan.forborne``, set when a forborne amendment is signed).
- **Stage 3**, credit-impaired, when ``days_past_due >= DEFAULT_DPD`` (90, the
  rebuttable presumption of default, B5.5.37), the loan is written off, or the
  institution accelerated it (called the whole balance due on default).
- **Stage 1** otherwise.

The PD term structure is derived from the champion model's 12-month PD under a constant
hazard: the probability of surviving a year is ``1 - pd12``, so over ``t`` years it is
``(1 - pd12) ** t`` and the PD over ``t`` years is ``1 - (1 - pd12) ** t``. The loan's
remaining life ``t`` is the days to maturity / 365.25, at least one month
(``MIN_HORIZON_YEARS``). Stage 1 takes the PD over ``min(1, t)`` (a loan with less than
a year left has no more than its lifetime), stages 2 takes the PD over ``t``; stage 3 is
in default, PD 1. A borrower never assessed takes ``UNRATED_PD``.

Loss given default by product type and collateral (``LGD``): unsecured claims at 45%,
the Basel foundation IRB figure for senior unsecured claims; secured products (those
that require collateral) at 25%, as ``domain.risk.whatif`` takes the covered part;
leases (the lessor owns the asset) and factoring (the receivable is the collateral)
lower. A product type left out takes ``DEFAULT_LGD``.

A loan with collateral or guarantees of its own on record (``domain.collateral``: any
item or guarantee, pledged or since released) takes its LGD from them instead
(``lgd_with_cover``): the part of the exposure they cover (pledged items at market value
less the haircut of their kind, active guarantees at their amount less the haircut of
theirs: ``domain.collateral.policy``) takes ``SECURED_LGD`` (25%, the foundation IRB's
figure for secured claims, as ``domain.risk.whatif`` takes the covered part), the rest
the product type's unsecured LGD; the covered part never takes more than the unsecured
figure (a lease's 30% is not raised by its collateral). Cover beyond the exposure
counts for nothing. The result is rounded to six decimals, half up. A worked example:
an EAD of 100,000.00 on a term loan (unsecured 45%), a building valued 80,000.00 (40%
haircut: 48,000.00), a cash deposit of 10,000.00 (0%: 10,000.00) and a personal
guarantee of 20,000.00 (60%: 8,000.00) cover 66,000.00; the LGD is
(66,000 x 0.25 + 34,000 x 0.45) / 100,000 = 0.318000. Release the building and the
cover is 18,000.00: (18,000 x 0.25 + 82,000 x 0.45) / 100,000 = 0.414000. A loan
without any record keeps ``lgd_of`` exactly; one whose records cover nothing any more
takes the unsecured figure, even for a product that requires collateral.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from domain.products.models import ProductType

SICR_DPD = 30
DEFAULT_DPD = 90
SICR_PD_FACTOR = Decimal("2.0")
UNRATED_PD = Decimal("0.050000")
MIN_HORIZON_YEARS = 1 / 12
DAYS_PER_YEAR = 365.25
DEFAULT_LGD = Decimal("0.450000")

# (product type, secured) -> LGD.
LGD: dict[tuple[ProductType, bool], Decimal] = {
    (ProductType.WORKING_CAPITAL_LOAN, False): Decimal("0.450000"),
    (ProductType.WORKING_CAPITAL_LOAN, True): Decimal("0.250000"),
    (ProductType.TERM_LOAN, False): Decimal("0.450000"),
    (ProductType.TERM_LOAN, True): Decimal("0.250000"),
    (ProductType.CREDIT_LINE, False): Decimal("0.450000"),
    (ProductType.CREDIT_LINE, True): Decimal("0.300000"),
    (ProductType.EQUIPMENT_LEASING, False): Decimal("0.300000"),
    (ProductType.EQUIPMENT_LEASING, True): Decimal("0.200000"),
    (ProductType.FACTORING, False): Decimal("0.350000"),
    (ProductType.FACTORING, True): Decimal("0.200000"),
}

RATE = Decimal("0.000001")
CENT = Decimal("0.01")
ONE = Decimal("1.000000")


def lgd_of(product_type: ProductType | None, secured: bool) -> Decimal:
    if product_type is None:
        return DEFAULT_LGD
    return LGD.get((product_type, secured), DEFAULT_LGD)


SECURED_LGD = Decimal("0.250000")


def lgd_with_cover(product_type: ProductType | None, cover: Decimal, ead: Decimal) -> Decimal:
    """The LGD of an exposure ``ead`` of which ``cover`` is covered (see the module
    docstring): the covered part at ``SECURED_LGD``, the rest at the product's
    unsecured LGD, weighted by amount."""
    unsecured = lgd_of(product_type, secured=False)
    if ead <= 0:
        return unsecured
    covered = min(max(cover, Decimal(0)), ead)
    secured = min(SECURED_LGD, unsecured)
    blended = (covered * secured + (ead - covered) * unsecured) / ead
    return blended.quantize(RATE, ROUND_HALF_UP)


def pd_over(pd12: Decimal, years: float) -> Decimal:
    """The PD over ``years`` under a constant hazard: ``1 - (1 - pd12) ** years``,
    rounded to six decimals."""
    survive = 1.0 - float(pd12)
    if survive <= 0.0:
        return ONE
    return Decimal(repr(1.0 - math.pow(survive, years))).quantize(RATE, ROUND_HALF_UP)


def remaining_years(days_to_maturity: int) -> float:
    return max(days_to_maturity / DAYS_PER_YEAR, MIN_HORIZON_YEARS)
