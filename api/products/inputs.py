from __future__ import annotations

import enum
from decimal import Decimal

import strawberry

from api.inputs import OrderDirection
from api.scalars import Rate
from domain.products.models import ProductType


@strawberry.input(description="Narrow the public catalog. All given conditions must hold.")
class ProductFilter:
    types: list[ProductType] | None = None
    institution_id: strawberry.ID | None = None
    amount: Decimal | None = strawberry.field(
        default=None, description="Only products whose amount range contains this amount."
    )
    term_months: int | None = strawberry.field(
        default=None, description="Only products whose term range contains this term."
    )
    max_rate: Rate | None = strawberry.field(
        default=None, description="Only products whose lowest rate is at most this."
    )
    collateral_required: bool | None = None
    industry: str | None = strawberry.field(
        default=None, description="Only products serving this industry."
    )
    region: str | None = strawberry.field(
        default=None, description="Only products serving this region."
    )


@strawberry.enum
class ProductOrderField(enum.Enum):
    NEWEST = "newest"
    RATE = "rate"
    AMOUNT = "amount"


@strawberry.input
class ProductOrder:
    field: ProductOrderField = ProductOrderField.NEWEST
    direction: OrderDirection = OrderDirection.ASC
