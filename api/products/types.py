import uuid
from datetime import datetime
from decimal import Decimal
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.identity.types import Institution
from domain.errors import NotFound
from domain.products.models import Product as ProductRow
from domain.products.models import ProductStatus, ProductType, RepaymentMethod

ProductTypeGQL = strawberry.enum(ProductType, name="ProductType")
ProductStatusGQL = strawberry.enum(ProductStatus, name="ProductStatus")
RepaymentMethodGQL = strawberry.enum(RepaymentMethod, name="RepaymentMethod")


@classified(
    public=[
        "min_years_in_business",
        "industries",
        "regions",
        "min_annual_revenue",
        "max_debt_to_asset",
    ]
)
@strawberry.type(description="Who may apply. Empty lists mean no restriction.")
class Eligibility:
    min_years_in_business: int | None
    industries: list[str]
    regions: list[str]
    min_annual_revenue: Decimal | None
    max_debt_to_asset: Decimal | None


@classified(
    public=[
        "id",
        "code",
        "version",
        "name",
        "type",
        "status",
        "description",
        "min_amount",
        "max_amount",
        "min_term_months",
        "max_term_months",
        "min_rate",
        "max_rate",
        "origination_fee_rate",
        "repayment_methods",
        "collateral_required",
        "eligibility",
        "published_at",
        "institution",
    ]
)
@strawberry.type(description="A financing product: loan, leasing, factoring or credit line.")
class Product(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    code: str
    version: int
    name: str
    type: ProductType
    status: ProductStatus
    description: str
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    min_rate: Decimal = strawberry.field(description="Lowest annual rate, a decimal fraction.")
    max_rate: Decimal = strawberry.field(description="Highest annual rate, a decimal fraction.")
    origination_fee_rate: Decimal
    repayment_methods: list[RepaymentMethod]
    collateral_required: bool
    eligibility: Eligibility
    published_at: datetime | None
    institution_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        row = await info.context.loaders.institution.load(self.institution_id)
        if row is None:
            raise NotFound("institution not found")
        return Institution.from_row(row)

    @classmethod
    def from_row(cls, row: ProductRow) -> Self:
        rules = row.eligibility
        return cls(
            pk=row.id,
            code=row.code,
            version=row.version,
            name=row.name,
            type=row.type,
            status=row.status,
            description=row.description,
            min_amount=row.min_amount,
            max_amount=row.max_amount,
            min_term_months=row.min_term_months,
            max_term_months=row.max_term_months,
            min_rate=row.min_rate,
            max_rate=row.max_rate,
            origination_fee_rate=row.origination_fee_rate,
            repayment_methods=[RepaymentMethod(m) for m in row.repayment_methods],
            collateral_required=row.collateral_required,
            eligibility=Eligibility(
                min_years_in_business=rules.get("min_years_in_business"),
                industries=list(rules.get("industries") or []),
                regions=list(rules.get("regions") or []),
                min_annual_revenue=_decimal(rules.get("min_annual_revenue")),
                max_debt_to_asset=_decimal(rules.get("max_debt_to_asset")),
            ),
            published_at=row.published_at,
            institution_id=row.institution_id,
        )


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))
