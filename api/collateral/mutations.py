"""Pledging, revaluing and releasing collateral; adding and releasing guarantees."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from api.access import mutation
from api.collateral.types import CollateralItem, Guarantee
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import ConflictError, perform, pk_of
from domain.collateral import service
from domain.collateral.models import CollateralItem as ItemRow
from domain.collateral.models import CollateralKind, GuaranteeKind
from domain.collateral.models import Guarantee as GuaranteeRow


@strawberry.input
class PledgeCollateralInput:
    loan_id: strawberry.ID
    kind: CollateralKind
    description: str = strawberry.field(description="1 to 500 characters.")
    market_value: Decimal
    valued_on: date = strawberry.field(description="Today or earlier.")
    valuation_source: str = strawberry.field(
        description="Who valued it, or how: 1 to 200 characters."
    )


@strawberry.input
class RevalueCollateralInput:
    collateral_item_id: strawberry.ID
    market_value: Decimal
    valued_on: date = strawberry.field(
        description="Today or earlier, and not before the latest valuation."
    )
    valuation_source: str = strawberry.field(description="1 to 200 characters.")
    expected_version: int | None = None


@strawberry.input
class ReleaseCollateralInput:
    collateral_item_id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class AddGuaranteeInput:
    loan_id: strawberry.ID
    kind: GuaranteeKind
    guarantor_name: str = strawberry.field(description="1 to 200 characters; sealed.")
    guarantor_identity: str | None = strawberry.field(
        default=None,
        description="The guarantor's identity (or registration) number, an external "
        "reference: 1 to 40 characters; sealed.",
    )
    amount: Decimal


@strawberry.input
class ReleaseGuaranteeInput:
    guarantee_id: strawberry.ID
    expected_version: int | None = None


CollateralItemResult = Annotated[
    CollateralItem | ConflictError | InvalidInputError, strawberry.union("CollateralItemResult")
]
GuaranteeResult = Annotated[
    Guarantee | ConflictError | InvalidInputError, strawberry.union("GuaranteeResult")
]


def _item(result: Any) -> CollateralItemResult:
    if isinstance(result, ItemRow):
        return CollateralItem.from_row(result)
    refused: CollateralItemResult = result
    return refused


def _guarantee(result: Any) -> GuaranteeResult:
    if isinstance(result, GuaranteeRow):
        return Guarantee.from_row(result)
    refused: GuaranteeResult = result
    return refused


@strawberry.type
class CollateralMutations:
    @mutation(
        "pledgeCollateral",
        description="Record collateral pledged for an active loan of your institution's book, "
        "at its valuation; its cover lowers the loan's LGD from the next close.",
    )
    async def pledge_collateral(
        self, info: strawberry.Info[Context, None], input: PledgeCollateralInput
    ) -> CollateralItemResult:
        loan_id = pk_of(input.loan_id, "Loan", field="loanId")
        valuation = service.Valuation(
            market_value=input.market_value,
            valued_on=input.valued_on,
            source=input.valuation_source,
        )
        return _item(
            await perform(
                info,
                lambda s, a: service.pledge_collateral(
                    s,
                    a,
                    loan_id=loan_id,
                    kind=input.kind,
                    description=input.description,
                    valuation=valuation,
                ),
            )
        )

    @mutation(
        "revalueCollateral",
        description="Value a pledged item again; every earlier valuation stays readable.",
    )
    async def revalue_collateral(
        self, info: strawberry.Info[Context, None], input: RevalueCollateralInput
    ) -> CollateralItemResult:
        item_id = pk_of(input.collateral_item_id, "CollateralItem", field="collateralItemId")
        valuation = service.Valuation(
            market_value=input.market_value,
            valued_on=input.valued_on,
            source=input.valuation_source,
        )
        return _item(
            await perform(
                info,
                lambda s, a: service.revalue_collateral(
                    s,
                    a,
                    item_id=item_id,
                    valuation=valuation,
                    expected_version=input.expected_version,
                ),
            )
        )

    @mutation(
        "releaseCollateral",
        description="Give a pledged item back: it covers nothing from the next close.",
    )
    async def release_collateral(
        self, info: strawberry.Info[Context, None], input: ReleaseCollateralInput
    ) -> CollateralItemResult:
        item_id = pk_of(input.collateral_item_id, "CollateralItem", field="collateralItemId")
        return _item(
            await perform(
                info,
                lambda s, a: service.release_collateral(
                    s, a, item_id=item_id, expected_version=input.expected_version
                ),
            )
        )

    @mutation(
        "addGuarantee",
        description="Record a guarantee given for an active loan of your institution's book; "
        "the guarantor's name and identity number are sealed.",
    )
    async def add_guarantee(
        self, info: strawberry.Info[Context, None], input: AddGuaranteeInput
    ) -> GuaranteeResult:
        loan_id = pk_of(input.loan_id, "Loan", field="loanId")
        guarantor = service.Guarantor(
            name=input.guarantor_name, identity_number=input.guarantor_identity
        )
        return _guarantee(
            await perform(
                info,
                lambda s, a: service.add_guarantee(
                    s,
                    a,
                    loan_id=loan_id,
                    kind=input.kind,
                    guarantor=guarantor,
                    amount=input.amount,
                ),
            )
        )

    @mutation(
        "releaseGuarantee",
        description="Let a guarantor go: the guarantee covers nothing from the next close.",
    )
    async def release_guarantee(
        self, info: strawberry.Info[Context, None], input: ReleaseGuaranteeInput
    ) -> GuaranteeResult:
        guarantee_id = pk_of(input.guarantee_id, "Guarantee", field="guaranteeId")
        return _guarantee(
            await perform(
                info,
                lambda s, a: service.release_guarantee(
                    s, a, guarantee_id=guarantee_id, expected_version=input.expected_version
                ),
            )
        )
