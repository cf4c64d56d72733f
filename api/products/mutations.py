from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import strawberry

from api.access import classified, mutation
from api.context import Context
from api.identity.types import Institution, InvalidInputError
from api.outcomes import ConflictError, perform, pk_of
from api.products.types import Product
from api.scalars import Rate
from domain.identity.models import Institution as InstitutionRow
from domain.products import grid, service
from domain.products.models import DayCount, ProductType, RepaymentMethod
from domain.products.models import Product as ProductRow


@strawberry.input(description="Everything about a product its institution decides.")
class ProductTermsInput:
    name: str
    type: ProductType
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    min_rate: Rate = strawberry.field(description="Lowest annual rate, a decimal fraction.")
    max_rate: Rate = strawberry.field(description="Highest annual rate, a decimal fraction.")
    repayment_methods: list[RepaymentMethod]
    description: str = ""
    origination_fee_rate: Rate = Rate(Decimal("0"))
    collateral_required: bool = False
    min_years_in_business: int | None = None
    industries: list[str] = strawberry.field(
        default_factory=list, description="Industries served; empty serves all."
    )
    regions: list[str] = strawberry.field(
        default_factory=list, description="Regions served; empty serves all."
    )
    min_annual_revenue: Decimal | None = None
    max_debt_to_asset: Rate | None = None
    day_count: DayCount = strawberry.field(
        default=DayCount.THIRTY_360,
        description="How interest counts days: each schedule period and the daily accrual.",
    )
    grace_days: int = strawberry.field(
        default=0, description="Days after a due date before late charges apply (0 to 90)."
    )
    late_fee_amount: Decimal = strawberry.field(
        default=Decimal("0.00"), description="Late fee per overdue instalment, fixed part."
    )
    late_fee_rate: Rate = strawberry.field(
        default=Rate(Decimal("0")),
        description="Late fee, part in proportion to what the instalment still owes.",
    )
    late_fee_cap_amount: Decimal | None = strawberry.field(
        default=None, description="The most one late fee can be; none: no cap."
    )
    penalty_rate: Rate = strawberry.field(
        default=Rate(Decimal("0")),
        description="Penalty interest, annual, on overdue principal after the grace period.",
    )
    penalty_cap_rate: Rate | None = strawberry.field(
        default=None,
        description="An instalment's penalty interest stops at this multiple of its "
        "principal, as a decimal (1.0: the in duplum rule); none: no cap.",
    )

    def terms(self) -> service.Terms:
        return service.Terms(
            name=self.name,
            type=self.type,
            min_amount=self.min_amount,
            max_amount=self.max_amount,
            min_term_months=self.min_term_months,
            max_term_months=self.max_term_months,
            min_rate=self.min_rate,
            max_rate=self.max_rate,
            repayment_methods=tuple(self.repayment_methods),
            description=self.description,
            origination_fee_rate=self.origination_fee_rate,
            collateral_required=self.collateral_required,
            min_years_in_business=self.min_years_in_business,
            industries=tuple(self.industries),
            regions=tuple(self.regions),
            min_annual_revenue=self.min_annual_revenue,
            max_debt_to_asset=self.max_debt_to_asset,
            day_count=self.day_count,
            grace_days=self.grace_days,
            late_fee_fixed=self.late_fee_amount,
            late_fee_rate=self.late_fee_rate,
            late_fee_cap=self.late_fee_cap_amount,
            penalty_rate=self.penalty_rate,
            penalty_cap_multiple=self.penalty_cap_rate,
        )


@strawberry.input
class CreateProductInput:
    institution_id: strawberry.ID
    code: str = strawberry.field(description="The institution's own code; versions share it.")
    terms: ProductTermsInput


@strawberry.input
class ChangeProductInput:
    product_id: strawberry.ID
    terms: ProductTermsInput


@strawberry.input
class ProductActionInput:
    product_id: strawberry.ID


@strawberry.input
class SetFourEyesThresholdInput:
    institution_id: strawberry.ID
    threshold: Decimal = strawberry.field(
        description="Approvals of larger amounts need a second, different officer."
    )


ProductResult = Annotated[
    Product | ConflictError | InvalidInputError, strawberry.union("ProductResult")
]


@classified(public=["institution", "threshold"])
@strawberry.type(description="The institution's four-eyes threshold as it now stands.")
class FourEyesThresholdSet:
    institution: Institution
    threshold: Decimal


SetFourEyesThresholdResult = Annotated[
    FourEyesThresholdSet | InvalidInputError, strawberry.union("SetFourEyesThresholdResult")
]


@strawberry.input(description="One band of a pricing grid, safest first.")
class PricingBandInput:
    max_probability_of_default: float
    annual_rate: Rate
    secured_annual_rate: Rate | None = None


@strawberry.input
class SetProductPricingGridInput:
    product_id: strawberry.ID
    bands: list[PricingBandInput] = strawberry.field(
        description="1 to 10 bands: PD bounds ascending, rates within the product's range "
        "and not falling as the PD rises."
    )


def _shown(result: Any) -> Any:
    return Product.from_row(result) if isinstance(result, ProductRow) else result


@strawberry.type
class ProductMutations:
    @mutation("createProduct", description="Draft a new product for your institution.")
    async def create_product(
        self, info: strawberry.Info[Context, None], input: CreateProductInput
    ) -> ProductResult:
        institution_id = pk_of(input.institution_id, "Institution", field="institutionId")
        terms = input.terms.terms()
        return _shown(
            await perform(
                info,
                lambda s, a: service.create_product(
                    s,
                    viewer=a.viewer,
                    institution_id=institution_id,
                    code=input.code,
                    terms=terms,
                    request_id=a.request_id,
                ),
            )
        )

    @mutation(
        "changeProduct",
        description="Change a draft in place; changing a published product drafts its next "
        "version, and applications keep the version they were made against.",
    )
    async def change_product(
        self, info: strawberry.Info[Context, None], input: ChangeProductInput
    ) -> ProductResult:
        pk = pk_of(input.product_id, "Product", field="productId")
        terms = input.terms.terms()
        return _shown(
            await perform(
                info,
                lambda s, a: service.change_product(
                    s, viewer=a.viewer, product_id=pk, terms=terms, request_id=a.request_id
                ),
            )
        )

    @mutation(
        "publishProduct",
        description="Open a draft for applications; it retires the version it replaces.",
    )
    async def publish_product(
        self, info: strawberry.Info[Context, None], input: ProductActionInput
    ) -> ProductResult:
        pk = pk_of(input.product_id, "Product", field="productId")
        return _shown(
            await perform(
                info,
                lambda s, a: service.publish_product(
                    s, viewer=a.viewer, product_id=pk, request_id=a.request_id, keys=a.keys
                ),
            )
        )

    @mutation("retireProduct", description="Close a product to new applications.")
    async def retire_product(
        self, info: strawberry.Info[Context, None], input: ProductActionInput
    ) -> ProductResult:
        pk = pk_of(input.product_id, "Product", field="productId")
        return _shown(
            await perform(
                info,
                lambda s, a: service.retire_product(
                    s, viewer=a.viewer, product_id=pk, request_id=a.request_id
                ),
            )
        )

    @mutation(
        "setProductPricingGrid",
        description="Publish a product's risk-based rates: recommendations quote from them.",
    )
    async def set_product_pricing_grid(
        self, info: strawberry.Info[Context, None], input: SetProductPricingGridInput
    ) -> ProductResult:
        pk = pk_of(input.product_id, "Product", field="productId")
        bands = [
            grid.Band(
                max_probability_of_default=b.max_probability_of_default,
                annual_rate=Decimal(b.annual_rate),
                secured_annual_rate=(
                    None if b.secured_annual_rate is None else Decimal(b.secured_annual_rate)
                ),
            )
            for b in input.bands
        ]
        return _shown(
            await perform(
                info,
                lambda s, a: service.set_pricing_grid(
                    s, viewer=a.viewer, product_id=pk, bands=bands, request_id=a.request_id
                ),
            )
        )

    @mutation(
        "setFourEyesThreshold",
        description="Set the amount above which an approval needs two officers.",
    )
    async def set_four_eyes_threshold(
        self, info: strawberry.Info[Context, None], input: SetFourEyesThresholdInput
    ) -> SetFourEyesThresholdResult:
        pk = pk_of(input.institution_id, "Institution", field="institutionId")
        result = await perform(
            info,
            lambda s, a: service.set_four_eyes_threshold(
                s,
                viewer=a.viewer,
                institution_id=pk,
                threshold=input.threshold,
                request_id=a.request_id,
            ),
        )
        if isinstance(result, InstitutionRow):
            return FourEyesThresholdSet(
                institution=Institution.from_row(result), threshold=result.four_eyes_threshold
            )
        return result
