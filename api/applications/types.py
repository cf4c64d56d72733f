import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.identity.types import Institution
from api.products.types import Product
from api.risk.types import RiskAssessment
from domain.applications.models import Application as ApplicationRow
from domain.applications.models import ApplicationStatus, DecisionOutcome
from domain.applications.models import Decision as DecisionRow
from domain.errors import NotFound
from domain.products.models import RepaymentMethod

if TYPE_CHECKING:
    from api.enterprises.types import Enterprise
    from api.lending.types import Loan

ApplicationStatusGQL = strawberry.enum(ApplicationStatus, name="ApplicationStatus")
DecisionOutcomeGQL = strawberry.enum(DecisionOutcome, name="DecisionOutcome")


@classified(internal=["outcome", "reasons", "decided_at"])
@strawberry.type(description="An officer's decision on an application.")
class Decision:
    outcome: DecisionOutcome
    reasons: str
    decided_at: datetime

    @classmethod
    def from_row(cls, row: DecisionRow) -> Self:
        return cls(outcome=row.outcome, reasons=row.reasons, decided_at=row.created_at)


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

    @classmethod
    def from_row(cls, row: ApplicationRow) -> Self:
        return cls(
            pk=row.id,
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
