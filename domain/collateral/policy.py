"""How much of a loan its collateral and guarantees cover: the haircuts, in one place.

An item covers its latest market value less the haircut of its kind: what a forced sale,
its costs and the fall in value over a long workout are expected to take. A guarantee
covers its amount less the haircut of its kind: the chance the guarantor does not pay
when called, which rises with how much the guarantor's fortunes move with the
borrower's. Only PLEDGED items and ACTIVE guarantees cover anything.

Haircuts (the share of the value that does not cover), and why:

==============  =====  ==========================================================
kind            cut    rationale
==============  =====  ==========================================================
CASH_DEPOSIT    0%     cash held by the lender: Basel III's supervisory haircut for
                       cash in the same currency is 0 (CRE22.52)
REAL_ESTATE     40%    Basel III's foundation IRB asks 140% of real estate for full
                       cover (CRE32.9, about 29%); costs of a forced sale and a
                       long workout add the rest; ``domain.risk.whatif`` cuts 40% too
RECEIVABLES     50%    dilution, and the debtors of a defaulted SME pay late or
                       dispute; the foundation IRB's 125% is for a pledged,
                       monitored pool, which an SME's ledger seldom is
VEHICLE         50%    other physical collateral at 140% (CRE32.9) plus the steep
                       depreciation of a used vehicle over the workout
EQUIPMENT       50%    as vehicles: specialised equipment sells to few buyers
INVENTORY       60%    perishable or obsolete stock, and stock leaves the premises
                       before default (the hardest collateral to realise)
OTHER           70%    anything not valued by a market of its own
==============  =====  ==========================================================

Guarantees, by kind:

==================  =====  ======================================================
GUARANTEE_SCHEME    10%    public or mutual schemes pay out on call (the EU's
                           InvestEU and national SME funds are state-backed)
CORPORATE           40%    a parent or sister company often falls with the borrower
PERSONAL            60%    an owner's guarantee is worth what the owner keeps after
                           the business fails: mostly a commitment, less a payment
==================  =====  ======================================================

These are policy data, as ``domain.provisioning.policy`` is: change a figure here and
the next close uses it for every loan (the haircut is not stored on the item).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from domain.collateral.models import CollateralKind, GuaranteeKind

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

HAIRCUT: Mapping[CollateralKind, Decimal] = {
    CollateralKind.CASH_DEPOSIT: Decimal("0.00"),
    CollateralKind.REAL_ESTATE: Decimal("0.40"),
    CollateralKind.RECEIVABLES: Decimal("0.50"),
    CollateralKind.VEHICLE: Decimal("0.50"),
    CollateralKind.EQUIPMENT: Decimal("0.50"),
    CollateralKind.INVENTORY: Decimal("0.60"),
    CollateralKind.OTHER: Decimal("0.70"),
}

GUARANTEE_HAIRCUT: Mapping[GuaranteeKind, Decimal] = {
    GuaranteeKind.GUARANTEE_SCHEME: Decimal("0.10"),
    GuaranteeKind.CORPORATE: Decimal("0.40"),
    GuaranteeKind.PERSONAL: Decimal("0.60"),
}


def covered_value(value: Decimal, haircut: Decimal) -> Decimal:
    """What ``value`` covers after ``haircut``, to the cent (half up)."""
    return (value * (1 - haircut)).quantize(CENT, ROUND_HALF_UP)


def cover(
    items: Iterable[tuple[CollateralKind, Decimal]],
    guarantees: Iterable[tuple[GuaranteeKind, Decimal]] = (),
) -> Decimal:
    """The cover of pledged items (kind, market value) and active guarantees (kind,
    amount): each value less its kind's haircut, summed.

    >>> from domain.collateral.models import CollateralKind as C, GuaranteeKind as G
    >>> cover([(C.REAL_ESTATE, Decimal("80000.00")), (C.CASH_DEPOSIT, Decimal("10000.00"))],
    ...       [(G.PERSONAL, Decimal("20000.00"))])
    Decimal('66000.00')
    """
    total = ZERO
    for kind, value in items:
        total += covered_value(value, HAIRCUT[kind])
    for guarantee_kind, amount in guarantees:
        total += covered_value(amount, GUARANTEE_HAIRCUT[guarantee_kind])
    return total
