"""An unsaved product for the pure product functions, with the overrides a test needs."""

from __future__ import annotations

import uuid
from decimal import Decimal

from domain.products.models import DayCount, Product, ProductStatus, ProductType


def unsaved_product(**overrides: object) -> Product:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "institution_id": uuid.uuid4(),
        "code": "WCL",
        "name": "Working capital",
        "type": ProductType.WORKING_CAPITAL_LOAN,
        "status": ProductStatus.PUBLISHED,
        "min_amount": Decimal("50000.00"),
        "max_amount": Decimal("2000000.00"),
        "min_term_months": 6,
        "max_term_months": 36,
        "min_rate": Decimal("0.060000"),
        "max_rate": Decimal("0.120000"),
        "origination_fee_rate": Decimal("0.000000"),
        "repayment_methods": ["annuity", "equal_principal"],
        "collateral_required": False,
        "eligibility": {},
        # What the column defaults to when stored; a transient product has none yet.
        "day_count": DayCount.THIRTY_360,
    }
    values.update(overrides)
    return Product(**values)
