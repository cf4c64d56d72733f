"""A loan's collateral, guarantees and newest staging, as GraphQL types."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.scalars import Rate
from domain.collateral import policy
from domain.collateral.models import CollateralItem as ItemRow
from domain.collateral.models import (
    CollateralKind,
    CollateralStatus,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.collateral.models import CollateralValuation as ValuationRow
from domain.collateral.models import Guarantee as GuaranteeRow
from domain.provisioning.models import LoanStage

CollateralKindGQL = strawberry.enum(CollateralKind, name="CollateralKind")
CollateralStatusGQL = strawberry.enum(CollateralStatus, name="CollateralStatus")
GuaranteeKindGQL = strawberry.enum(GuaranteeKind, name="GuaranteeKind")
GuaranteeStatusGQL = strawberry.enum(GuaranteeStatus, name="GuaranteeStatus")


@classified(internal=["market_value", "valued_on", "source", "recorded_at"])
@strawberry.type(description="One valuation of a collateral item.")
class CollateralValuation:
    market_value: Decimal
    valued_on: date
    source: str = strawberry.field(description="Who valued it, or how.")
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: ValuationRow) -> Self:
        return cls(
            market_value=row.market_value,
            valued_on=row.valued_on,
            source=row.source,
            recorded_at=row.recorded_at,
        )


@classified(
    public=["id"],
    internal=[
        "kind",
        "description",
        "market_value",
        "valued_on",
        "valuation_source",
        "status",
        "haircut_rate",
        "covered_value",
        "pledged_at",
        "ended_at",
        "version",
        "valuations",
    ],
)
@strawberry.type(description="An asset pledged for a loan, at its latest valuation.")
class CollateralItem(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: CollateralKind
    description: str
    market_value: Decimal = strawberry.field(description="The latest valuation.")
    valued_on: date
    valuation_source: str
    status: CollateralStatus
    pledged_at: datetime
    ended_at: datetime | None = strawberry.field(description="When it was released or realised.")
    version: int = strawberry.field(description="Pass it back as expectedVersion.")

    @strawberry.field(
        description="The share of the value that does not cover the loan: the policy's "
        "haircut for the kind (see Expected credit loss in the API guide)."
    )
    def haircut_rate(self) -> Rate:
        return Rate(policy.HAIRCUT[self.kind].quantize(Decimal("0.000001")))

    @strawberry.field(
        description="What the item covers now: the value less the haircut while PLEDGED, else 0."
    )
    def covered_value(self) -> Decimal:
        if self.status is not CollateralStatus.PLEDGED:
            return policy.ZERO
        return policy.covered_value(self.market_value, policy.HAIRCUT[self.kind])

    @strawberry.field(description="Every valuation, oldest first (the latest is the value).")
    async def valuations(self, info: strawberry.Info[Context, None]) -> list[CollateralValuation]:
        rows = await info.context.loaders.collateral_valuations.load(self.pk)
        return [CollateralValuation.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: ItemRow) -> Self:
        return cls(
            pk=row.id,
            kind=row.kind,
            description=row.description,
            market_value=row.market_value,
            valued_on=row.valued_on,
            valuation_source=row.valuation_source,
            status=row.status,
            pledged_at=row.pledged_at,
            ended_at=row.ended_at,
            version=row.version,
        )


@classified(
    public=["id"],
    internal=["kind", "amount", "covered_amount", "status", "added_at", "ended_at", "version"],
    personal=["guarantor_name", "guarantor_identity"],
    sealed_in="loan_guarantees",
    sealed=["guarantor_name", "guarantor_identity"],
)
@strawberry.type(description="A third party's promise to pay up to an amount of a loan.")
class Guarantee(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    # The guarantor is personal data sealed under the borrowing enterprise's data key.
    subject_pk: strawberry.Private[uuid.UUID]
    kind: GuaranteeKind
    guarantor_name: str | None = strawberry.field(
        description="Personal data: masked unless your role and purpose may read it."
    )
    guarantor_identity: str | None = strawberry.field(
        description="The guarantor's identity (or registration) number, an external "
        "reference; personal data, masked unless your role and purpose may read it."
    )
    amount: Decimal = strawberry.field(description="The most the guarantor promised to pay.")
    status: GuaranteeStatus
    added_at: datetime
    ended_at: datetime | None = strawberry.field(description="When it was released or called.")
    version: int = strawberry.field(description="Pass it back as expectedVersion.")

    @strawberry.field(
        description="What the guarantee covers now: the amount less the policy's haircut "
        "for the kind while ACTIVE, else 0."
    )
    def covered_amount(self) -> Decimal:
        if self.status is not GuaranteeStatus.ACTIVE:
            return policy.ZERO
        return policy.covered_value(self.amount, policy.GUARANTEE_HAIRCUT[self.kind])

    @classmethod
    def from_row(cls, row: GuaranteeRow) -> Self:
        return cls(
            pk=row.id,
            subject_pk=row.enterprise_id,
            kind=row.kind,
            guarantor_name=row.guarantor_name,
            guarantor_identity=row.guarantor_identity,
            amount=row.amount,
            status=row.status,
            added_at=row.added_at,
            ended_at=row.ended_at,
            version=row.version,
        )


@classified(
    internal=[
        "as_of",
        "stage",
        "reason",
        "days_past_due",
        "twelve_month_default_rate",
        "lifetime_default_rate",
        "loss_given_default",
        "exposure",
        "expected_loss",
    ]
)
@strawberry.type(description="A loan's IFRS 9 stage and expected credit loss at its newest close.")
class LoanCreditLoss:
    as_of: date = strawberry.field(description="The close date.")
    stage: int = strawberry.field(description="1, 2 or 3.")
    reason: str = strawberry.field(
        description="The rule that staged it: current, dpd_30, pd_increase, forborne, "
        "dpd_90, written_off or accelerated."
    )
    days_past_due: int
    twelve_month_default_rate: Rate = strawberry.field(description="The PD over 12 months.")
    lifetime_default_rate: Rate = strawberry.field(description="The PD over the loan's life.")
    loss_given_default: Rate = strawberry.field(
        description="The LGD used: from the loan's own collateral and guarantees when it "
        "has any on record, else its product's."
    )
    exposure: Decimal = strawberry.field(description="The exposure at default (EAD).")
    expected_loss: Decimal = strawberry.field(description="PD x LGD x EAD, to the cent.")

    @classmethod
    def from_row(cls, row: LoanStage) -> Self:
        return cls(
            as_of=row.as_of,
            stage=row.stage,
            reason=row.reason,
            days_past_due=row.days_past_due,
            twelve_month_default_rate=Rate(row.pd_12m),
            lifetime_default_rate=Rate(row.pd_lifetime),
            loss_given_default=Rate(row.lgd),
            exposure=row.ead,
            expected_loss=row.ecl,
        )
