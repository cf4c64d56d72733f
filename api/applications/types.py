import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified
from api.context import Context
from api.identity.types import Institution
from api.products.types import Product
from api.risk.types import RiskAssessment
from api.scalars import Rate, rate_or_none
from domain.applications.models import Application as ApplicationRow
from domain.applications.models import ApplicationStatus, DecisionOutcome
from domain.applications.models import Contract as ContractRow
from domain.applications.models import Decision as DecisionRow
from domain.applications.models import Transition as TransitionRow
from domain.products.models import RepaymentMethod
from kernel.errors import NotFound

if TYPE_CHECKING:
    from api.enterprises.types import Enterprise
    from api.lending.types import Loan

ApplicationStatusGQL = strawberry.enum(ApplicationStatus, name="ApplicationStatus")
DecisionOutcomeGQL = strawberry.enum(DecisionOutcome, name="DecisionOutcome")


@classified(
    internal=["outcome", "reasons", "decided_at", "on_appeal", "awaits_second", "annual_rate"]
)
@strawberry.type(description="An officer's decision on an application.")
class Decision:
    outcome: DecisionOutcome
    reasons: str
    decided_at: datetime
    on_appeal: bool = strawberry.field(description="Taken on the re-review of an appeal.")
    awaits_second: bool = strawberry.field(
        description="The first of the two approvals four eyes needed."
    )
    annual_rate: Rate | None

    @classmethod
    def from_row(cls, row: DecisionRow) -> Self:
        return cls(
            outcome=row.outcome,
            reasons=row.reasons,
            decided_at=row.created_at,
            on_appeal=row.on_appeal,
            awaits_second=row.awaits_second,
            annual_rate=rate_or_none(row.annual_rate),
        )


@classified(public=["from_status", "to_status", "at", "note"])
@strawberry.type(description="One move of an application's status, when it happened.")
class ApplicationTransition:
    from_status: ApplicationStatus | None
    to_status: ApplicationStatus
    at: datetime
    note: str

    @classmethod
    def from_row(cls, row: TransitionRow) -> Self:
        return cls(from_status=row.from_status, to_status=row.to_status, at=row.at, note=row.note)


@classified(
    public=["terms_hash", "terms", "generated_at", "accepted_at"],
)
@strawberry.type(
    description="The terms an approval offers. Sign them by passing `termsHash` to "
    "signContract: the hash proves which terms were accepted."
)
class Contract:
    terms_hash: str = strawberry.field(description="SHA-256 of the terms as canonical JSON.")
    terms: JSON = strawberry.field(description="Amount, rate, fee and every instalment.")
    generated_at: datetime
    accepted_at: datetime | None

    @classmethod
    def from_row(cls, row: ContractRow) -> Self:
        return cls(
            terms_hash=row.terms_hash,
            terms=cast(JSON, row.terms),
            generated_at=row.generated_at,
            accepted_at=row.accepted_at,
        )


@classified(
    public=["id"],
    internal=[
        "amount",
        "term_months",
        "repayment_method",
        "purpose",
        "status",
        "created_at",
        "submitted_at",
        "decided_at",
        "enterprise",
        "product",
        "institution",
        "risk_assessment",
        "decisions",
        "loan",
        "version",
        "approved_rate",
        "awaiting_second_approval",
        "appeal_reason",
        "appealed_at",
        "timeline",
        "contract",
    ],
)
@strawberry.type(description="An enterprise's application for a product.")
class Application(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    amount: Decimal
    term_months: int
    repayment_method: RepaymentMethod
    purpose: str
    status: ApplicationStatus
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    version: int = strawberry.field(
        description="Changes with every change; pass it as expectedVersion to act on what you saw."
    )
    approved_rate: Rate | None
    awaiting_second_approval: bool = strawberry.field(
        description="One officer approved; four eyes wait for a second, different one."
    )
    appeal_reason: str | None
    appealed_at: datetime | None
    enterprise_id: strawberry.Private[uuid.UUID]
    product_id: strawberry.Private[uuid.UUID]
    institution_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def enterprise(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Enterprise", strawberry.lazy("api.enterprises.types")]:
        from api.enterprises.types import Enterprise

        return await Enterprise.load(info, self.enterprise_id)

    @strawberry.field(description="The product version applied for.")
    async def product(self, info: strawberry.Info[Context, None]) -> Product:
        row = await info.context.loaders.product.load(self.product_id)
        if row is None:
            raise NotFound("product not found")
        return Product.from_row(row)

    @strawberry.field
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        row = await info.context.loaders.institution.load(self.institution_id)
        if row is None:
            raise NotFound("institution not found")
        return Institution.from_row(row)

    @strawberry.field(description="The latest risk assessment.")
    async def risk_assessment(self, info: strawberry.Info[Context, None]) -> RiskAssessment | None:
        row = await info.context.loaders.latest_assessment.load(self.pk)
        return None if row is None else RiskAssessment.from_row(row)

    @strawberry.field(description="Decisions in the order they were taken.")
    async def decisions(self, info: strawberry.Info[Context, None]) -> list[Decision]:
        rows = await info.context.loaders.decisions.load(self.pk)
        return [Decision.from_row(r) for r in rows]

    @strawberry.field
    async def loan(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Loan", strawberry.lazy("api.lending.types")] | None:
        from api.lending.types import Loan

        row = await info.context.loaders.loan_of_application.load(self.pk)
        return None if row is None else Loan.from_row(row)

    @strawberry.field(description="Every status the application went through, oldest first.")
    async def timeline(self, info: strawberry.Info[Context, None]) -> list[ApplicationTransition]:
        rows = await info.context.loaders.transitions.load(self.pk)
        return [ApplicationTransition.from_row(r) for r in rows]

    @strawberry.field(description="The contract an approval generated, once there is one.")
    async def contract(self, info: strawberry.Info[Context, None]) -> Contract | None:
        row = await info.context.loaders.contract.load(self.pk)
        return None if row is None else Contract.from_row(row)

    @classmethod
    def from_row(cls, row: ApplicationRow) -> Self:
        return cls(
            pk=row.id,
            version=row.version,
            approved_rate=rate_or_none(row.approved_rate),
            awaiting_second_approval=row.pending_approval_by is not None,
            appeal_reason=row.appeal_reason,
            appealed_at=row.appealed_at,
            amount=row.amount,
            term_months=row.term_months,
            repayment_method=row.repayment_method,
            purpose=row.purpose,
            status=row.status,
            created_at=row.created_at,
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            enterprise_id=row.enterprise_id,
            product_id=row.product_id,
            institution_id=row.institution_id,
        )
