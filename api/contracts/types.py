"""A loan contract's amendments and versions, as GraphQL types."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified
from api.context import Context
from api.scalars import Rate, rate_or_none
from domain.contracts.amendment import HolidayInterest
from domain.contracts.models import AmendmentStatus
from domain.contracts.models import ContractVersion as VersionRow
from domain.contracts.models import LoanAmendment as AmendmentRow
from domain.contracts.service import change_of
from kernel.errors import NotFound

if TYPE_CHECKING:
    from api.lending.types import Loan

AmendmentStatusGQL = strawberry.enum(AmendmentStatus, name="AmendmentStatus")
HolidayInterestGQL = strawberry.enum(
    HolidayInterest,
    name="HolidayInterest",
    description="A payment holiday's interest: added to the principal, or billed last.",
)


@classified(internal=["sequence", "due_on", "principal_due", "interest_due", "fee_due"])
@strawberry.type(description="One instalment of a contract's terms.")
class ContractInstalment:
    sequence: int
    due_on: date | None = strawberry.field(
        description="Null in an original contract, whose dates follow the payout."
    )
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal


def instalments_of(terms: dict[str, Any]) -> list[ContractInstalment]:
    return [
        ContractInstalment(
            sequence=int(line["sequence"]),
            due_on=date.fromisoformat(line["due_on"]) if "due_on" in line else None,
            principal_due=Decimal(line["principal"]),
            interest_due=Decimal(line["interest"]),
            fee_due=Decimal(line["fee"]),
        )
        for line in terms.get("instalments", [])
    ]


@classified(
    public=["id"],
    internal=[
        "status",
        "kinds",
        "effective_on",
        "annual_rate",
        "extra_months",
        "holiday_months",
        "holiday_interest",
        "new_instalment",
        "top_up_amount",
        "forborne",
        "reason",
        "terms_hash",
        "terms",
        "schedule",
        "contract_version",
        "proposed_at",
        "accepted_at",
        "withdrawn_at",
        "version",
        "loan",
    ],
)
@strawberry.type(
    description="A change to a signed loan contract. The borrower signs it by passing "
    "`termsHash` to acceptLoanAmendment."
)
class LoanAmendment(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    status: AmendmentStatus
    kinds: list[str] = strawberry.field(
        description="rate_change, term_extension, payment_holiday, instalment_change, top_up."
    )
    effective_on: date
    annual_rate: Rate | None = strawberry.field(description="The new rate, when it changes.")
    extra_months: int
    holiday_months: int
    holiday_interest: HolidayInterest | None
    new_instalment: Decimal | None
    top_up_amount: Decimal
    forborne: bool = strawberry.field(
        description="Concessions to a borrower in financial difficulty (forbearance)."
    )
    reason: str
    terms_hash: str = strawberry.field(description="SHA-256 of the terms as canonical JSON.")
    terms: JSON = strawberry.field(description="The whole contract after the change.")
    schedule: list[ContractInstalment] = strawberry.field(
        description="Every instalment of the amended contract."
    )
    contract_version: int = strawberry.field(description="The version signing makes.")
    proposed_at: datetime
    accepted_at: datetime | None
    withdrawn_at: datetime | None
    version: int
    loan_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def loan(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Loan", strawberry.lazy("api.lending.types")]:
        from api.lending.types import Loan

        row = await info.context.loaders.loan.load(self.loan_id)
        if row is None:
            raise NotFound("loan not found")
        return Loan.from_row(row)

    @classmethod
    def from_row(cls, row: AmendmentRow) -> Self:
        return cls(
            pk=row.id,
            status=row.status,
            kinds=list(change_of(row).kinds),
            effective_on=row.effective_on,
            annual_rate=rate_or_none(row.annual_rate),
            extra_months=row.extra_months,
            holiday_months=row.holiday_months,
            holiday_interest=row.holiday_interest,
            new_instalment=row.instalment,
            top_up_amount=row.top_up,
            forborne=row.forborne,
            reason=row.reason,
            terms_hash=row.terms_hash,
            terms=cast(JSON, row.terms),
            schedule=instalments_of(row.terms),
            contract_version=row.contract_version,
            proposed_at=row.proposed_at,
            accepted_at=row.accepted_at,
            withdrawn_at=row.withdrawn_at,
            version=row.version,
            loan_id=row.loan_id,
        )


@classified(
    internal=[
        "number",
        "effective_on",
        "terms_hash",
        "terms",
        "schedule",
        "signed_at",
        "recorded_at",
        "amendment",
    ]
)
@strawberry.type(
    description="A loan's contract as it stood from a day: 1 is the contract signed at "
    "origination, each signed amendment the next."
)
class ContractVersion:
    number: int
    effective_on: date
    terms_hash: str
    terms: JSON
    schedule: list[ContractInstalment]
    signed_at: datetime | None
    recorded_at: datetime
    amendment_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The amendment that made this version; none for 1.")
    async def amendment(self, info: strawberry.Info[Context, None]) -> LoanAmendment | None:
        if self.amendment_id is None:
            return None
        row = await info.context.loaders.amendment.load(self.amendment_id)
        return None if row is None else LoanAmendment.from_row(row)

    @classmethod
    def from_row(cls, row: VersionRow) -> Self:
        return cls(
            number=row.number,
            effective_on=row.effective_on,
            terms_hash=row.terms_hash,
            terms=cast(JSON, row.terms),
            schedule=instalments_of(row.terms),
            signed_at=row.signed_at,
            recorded_at=row.recorded_at,
            amendment_id=row.amendment_id,
        )
