import uuid
from datetime import datetime
from decimal import Decimal
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.identity.types import Institution
from api.scalars import Rate, rate_or_none
from domain.products.grid import Band, bands_of
from domain.products.models import DayCount, ProductStatus, ProductType, RepaymentMethod
from domain.products.models import Product as ProductRow
from domain.products.pricing import Quote, Unavailable
from domain.products.recommend import Recommendation
from kernel.errors import NotFound

ProductTypeGQL = strawberry.enum(ProductType, name="ProductType")
ProductStatusGQL = strawberry.enum(ProductStatus, name="ProductStatus")
RepaymentMethodGQL = strawberry.enum(RepaymentMethod, name="RepaymentMethod")
DayCountGQL = strawberry.enum(
    DayCount,
    name="DayCount",
    description="ACT_365F: actual days over 365; ACT_360: actual days over 360; THIRTY_360: "
    "30/360 (ISDA 2006 4.16(f)), every schedule month 30 days.",
)


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
    max_debt_to_asset: Rate | None


@classified(public=["max_probability_of_default", "annual_rate", "secured_annual_rate"])
@strawberry.type(
    description="One band of a pricing grid: the rate for applicants with a PD up to its bound."
)
class PricingBand:
    max_probability_of_default: float
    annual_rate: Rate
    secured_annual_rate: Rate | None = strawberry.field(
        description="The rate when collateral or a guarantee is offered; null: the same."
    )

    @classmethod
    def of(cls, band: Band) -> Self:
        return cls(
            max_probability_of_default=band.max_probability_of_default,
            annual_rate=Rate(band.annual_rate),
            secured_annual_rate=rate_or_none(band.secured_annual_rate),
        )


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
        "pricing_grid",
        "day_count",
        "grace_days",
        "late_fee_amount",
        "late_fee_rate",
        "late_fee_cap_amount",
        "penalty_rate",
        "penalty_cap_rate",
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
    min_rate: Rate = strawberry.field(description="Lowest annual rate, a decimal fraction.")
    max_rate: Rate = strawberry.field(description="Highest annual rate, a decimal fraction.")
    origination_fee_rate: Rate
    repayment_methods: list[RepaymentMethod]
    collateral_required: bool
    eligibility: Eligibility
    published_at: datetime | None
    pricing_grid: list[PricingBand] = strawberry.field(
        description="Risk-based rates by estimated probability of default; empty: none published."
    )
    day_count: DayCount = strawberry.field(
        description="How interest counts days: each schedule period and the daily accrual."
    )
    grace_days: int = strawberry.field(
        description="Days after a due date before a late fee or penalty interest applies."
    )
    late_fee_amount: Decimal = strawberry.field(
        description="Late fee per overdue instalment: this, plus lateFeeRate x what the "
        "instalment still owes, at most lateFeeCapAmount."
    )
    late_fee_rate: Rate
    late_fee_cap_amount: Decimal | None = strawberry.field(description="None: no cap.")
    penalty_rate: Rate = strawberry.field(
        description="Penalty interest, annual, on overdue principal after the grace period."
    )
    penalty_cap_rate: Rate | None = strawberry.field(
        description="An instalment's penalty interest stops at this multiple of its "
        "principal, as a decimal (1.0: the in duplum rule); none: no cap."
    )
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
            min_rate=Rate(row.min_rate),
            max_rate=Rate(row.max_rate),
            origination_fee_rate=Rate(row.origination_fee_rate),
            repayment_methods=[RepaymentMethod(m) for m in row.repayment_methods],
            collateral_required=row.collateral_required,
            eligibility=Eligibility(
                min_years_in_business=rules.get("min_years_in_business"),
                industries=list(rules.get("industries") or []),
                regions=list(rules.get("regions") or []),
                min_annual_revenue=_decimal(rules.get("min_annual_revenue")),
                max_debt_to_asset=rate_or_none(_decimal(rules.get("max_debt_to_asset"))),
            ),
            published_at=row.published_at,
            pricing_grid=[PricingBand.of(b) for b in bands_of(row)],
            day_count=row.day_count,
            grace_days=row.grace_days,
            late_fee_amount=row.late_fee_fixed,
            late_fee_rate=Rate(row.late_fee_rate),
            late_fee_cap_amount=row.late_fee_cap,
            penalty_rate=Rate(row.penalty_rate),
            penalty_cap_rate=rate_or_none(row.penalty_cap_multiple),
            institution_id=row.institution_id,
        )


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@classified(
    public=[
        "product",
        "available",
        "reasons",
        "repayment_method",
        "annual_rate",
        "first_instalment",
        "largest_instalment",
        "total_interest",
        "fees",
        "total_cost",
        "total_repaid",
        "effective_annual_rate",
    ]
)
@strawberry.type(
    description="What a product would cost for an amount and term, at its lowest rate and "
    "with its cheapest repayment method; or why it does not fit."
)
class ProductQuote:
    product: Product
    available: bool
    reasons: list[str] = strawberry.field(description="Why the product does not fit, if not.")
    repayment_method: RepaymentMethod | None
    annual_rate: Rate | None = strawberry.field(description="Nominal, the product's 'from'.")
    first_instalment: Decimal | None
    largest_instalment: Decimal | None
    total_interest: Decimal | None
    fees: Decimal | None
    total_cost: Decimal | None = strawberry.field(description="Interest and fees.")
    total_repaid: Decimal | None
    effective_annual_rate: Rate | None = strawberry.field(
        description="The annual rate the payments, fees included, really cost."
    )

    @classmethod
    def of(cls, product: Product, found: Quote | Unavailable) -> Self:
        if isinstance(found, Unavailable):
            return cls(
                product=product,
                available=False,
                reasons=list(found.reasons),
                repayment_method=None,
                annual_rate=None,
                first_instalment=None,
                largest_instalment=None,
                total_interest=None,
                fees=None,
                total_cost=None,
                total_repaid=None,
                effective_annual_rate=None,
            )
        return cls(
            product=product,
            available=True,
            reasons=[],
            repayment_method=found.method,
            annual_rate=Rate(found.annual_rate),
            first_instalment=found.first_instalment,
            largest_instalment=found.largest_instalment,
            total_interest=found.total_interest,
            fees=found.fees,
            total_cost=found.total_cost,
            total_repaid=found.total_repaid,
            effective_annual_rate=Rate(found.effective_annual_rate),
        )


@classified(public=["product", "eligible", "rank", "reasons", "quote"])
@strawberry.type(
    description="A product ranked for an enterprise: eligible ones first, cheapest first; "
    "with the reasons it is recommended, or why the enterprise may not apply."
)
class ProductRecommendation:
    product: Product
    eligible: bool
    rank: int
    reasons: list[str]
    quote: ProductQuote | None = strawberry.field(
        description="What it would cost, when an amount and term were given and fit."
    )

    @classmethod
    def of(cls, found: Recommendation) -> Self:
        product = Product.from_row(found.product)
        return cls(
            product=product,
            eligible=found.eligible,
            rank=found.rank,
            reasons=list(found.reasons),
            quote=None if found.quote is None else ProductQuote.of(product, found.quote),
        )
