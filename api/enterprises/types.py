import uuid
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified, protected_fields
from api.context import Context
from api.disclosure import selects_any
from api.providers.types import ExternalDataRecord
from api.relay import Connection, ListingRequest, connection
from api.risk.ratings import CreditRating
from domain.applications import repository as applications_repo
from domain.enterprises.models import SEALED_COLUMNS
from domain.enterprises.models import Enterprise as EnterpriseRow
from domain.enterprises.models import FinancialStatement as StatementRow
from domain.settings import Settings
from domain.verification.models import VerificationLevel
from kernel.errors import NotFound
from kernel.pagination import page_from

if TYPE_CHECKING:
    from api.applications.types import Application


@classified(
    internal=[
        "fiscal_year",
        "revenue",
        "cost_of_sales",
        "operating_profit",
        "interest_expense",
        "net_profit",
        "total_assets",
        "current_assets",
        "total_liabilities",
        "current_liabilities",
        "equity",
        "operating_cash_flow",
    ]
)
@strawberry.type(description="One fiscal year of an enterprise's accounts (CNY).")
class FinancialStatement:
    fiscal_year: int
    revenue: Decimal
    cost_of_sales: Decimal
    operating_profit: Decimal
    interest_expense: Decimal
    net_profit: Decimal
    total_assets: Decimal
    current_assets: Decimal
    total_liabilities: Decimal
    current_liabilities: Decimal
    equity: Decimal
    operating_cash_flow: Decimal

    @classmethod
    def from_row(cls, row: StatementRow) -> Self:
        return cls(
            fiscal_year=row.fiscal_year,
            revenue=row.revenue,
            cost_of_sales=row.cost_of_sales,
            operating_profit=row.operating_profit,
            interest_expense=row.interest_expense,
            net_profit=row.net_profit,
            total_assets=row.total_assets,
            current_assets=row.current_assets,
            total_liabilities=row.total_liabilities,
            current_liabilities=row.current_liabilities,
            equity=row.equity,
            operating_cash_flow=row.operating_cash_flow,
        )


VerificationLevelGQL = strawberry.enum(VerificationLevel, name="VerificationLevel")


@classified(
    public=["id", "name", "industry", "region"],
    internal=[
        "unified_social_credit_code",
        "founded_on",
        "employee_count",
        "financial_statements",
        "applications",
        "latest_rating",
        "rating_history",
        "external_data",
        "verification_level",
    ],
    personal=["legal_representative_name", "contact_phone", "contact_email"],
    sensitive=["annual_revenue", "legal_representative_id_number", "bank_account_number"],
    sealed_in="enterprises",
    sealed=SEALED_COLUMNS,
)
@strawberry.type(description="A small or micro enterprise seeking financing.")
class Enterprise(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    # Whose enterprise it is: its owner's own data is lawfully shown to that owner.
    owner_id: strawberry.Private[uuid.UUID | None]
    name: str
    unified_social_credit_code: str = strawberry.field(
        description="18 characters, check digit per GB 32100-2015."
    )
    industry: str
    region: str
    founded_on: date
    employee_count: int
    annual_revenue: Decimal | None
    legal_representative_name: str | None
    legal_representative_id_number: str | None
    contact_phone: str | None
    contact_email: str | None
    bank_account_number: str | None
    verification_level: VerificationLevel = strawberry.field(
        description="What a verification officer found; it decides what the owner may do."
    )

    @strawberry.field(description="Yearly statements, newest first.")
    async def financial_statements(
        self, info: strawberry.Info[Context, None]
    ) -> list[FinancialStatement]:
        rows = await info.context.loaders.statements.load(self.pk)
        return [FinancialStatement.from_row(r) for r in rows]

    @strawberry.field(description="The grade in force: the newest rating; null until rated.")
    async def latest_rating(self, info: strawberry.Info[Context, None]) -> CreditRating | None:
        row = await info.context.loaders.latest_rating.load(self.pk)
        return None if row is None else CreditRating.from_row(row)

    @strawberry.field(description="Every change of grade, newest first.")
    async def rating_history(self, info: strawberry.Info[Context, None]) -> list[CreditRating]:
        rows = await info.context.loaders.rating_history.load(self.pk)
        return [CreditRating.from_row(r) for r in rows]

    @strawberry.field(
        description="What external providers said of it: the newest answer of each kind."
    )
    async def external_data(self, info: strawberry.Info[Context, None]) -> list[ExternalDataRecord]:
        rows = await info.context.loaders.external_data.load(self.pk)
        return [ExternalDataRecord.from_row(r) for r in rows]

    @strawberry.field(description="This enterprise's applications you may see, newest first.")
    async def applications(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated["Application", strawberry.lazy("api.applications.types")]]:
        from api.applications.types import Application

        ctx = info.context
        # A malformed cursor fails here, before batching.
        size = applications_request(ctx.settings, first, after).first
        rows = await ctx.loaders.applications_of_enterprise.load((self.pk, size, after))
        enterprise_id = self.pk

        async def count() -> int:
            return await ctx.loaders.application_count_of_enterprise.load(enterprise_id)

        return connection(
            page_from(rows, size),
            keyset=applications_repo.NEWEST,
            to_node=Application.from_row,
            count=count,
            after=after,
        )

    @classmethod
    async def load(cls, info: strawberry.Info[Context, None], enterprise_id: uuid.UUID) -> Self:
        """The enterprise a relation points at, through the request's batched loader.

        When its personal fields are asked for, their facts are fetched with the other
        rows' (one batch), so the fields themselves resolve synchronously.
        """
        ctx = info.context
        row = await ctx.loaders.enterprise.load(enterprise_id)
        if row is None:
            raise NotFound("enterprise not found")
        if selects_any(info.selected_fields, PROTECTED_FIELDS):
            await ctx.disclosure.prefetch([row.id])
        return cls.from_row(row)

    @classmethod
    def from_row(cls, row: EnterpriseRow) -> Self:
        return cls(
            pk=row.id,
            owner_id=row.owner_id,
            name=row.name,
            unified_social_credit_code=row.unified_social_credit_code,
            industry=row.industry,
            region=row.region,
            founded_on=row.founded_on,
            employee_count=row.employee_count,
            annual_revenue=row.annual_revenue,
            legal_representative_name=row.legal_representative_name,
            legal_representative_id_number=row.legal_representative_id_number,
            contact_phone=row.contact_phone,
            contact_email=row.contact_email,
            bank_account_number=row.bank_account_number,
            verification_level=row.verification_level,
        )


def applications_request(
    settings: Settings, first: int | None = None, after: str | None = None
) -> ListingRequest[None]:
    """A page of an enterprise's applications, as both executors read its arguments."""
    return ListingRequest.read(
        settings, keyset=applications_repo.NEWEST, flt=None, first=first, after=after
    )


# The GraphQL names of Enterprise's personal and sensitive fields, from their classification.
PROTECTED_FIELDS = protected_fields(Enterprise)
