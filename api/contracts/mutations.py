"""Changing a signed loan contract: proposed by the institution, signed by the borrower."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from api.access import classified, mutation
from api.context import Context
from api.contracts.types import ContractVersion, LoanAmendment
from api.identity.types import InvalidInputError
from api.lending.types import Loan
from api.outcomes import ConflictError, TermsChanged, perform, pk_of
from api.scalars import Rate
from domain.contracts import service
from domain.contracts.amendment import Change, HolidayInterest
from domain.contracts.models import LoanAmendment as AmendmentRow
from domain.lending.schedule import ZERO


@strawberry.input(description="A payment holiday: months without instalments.")
class PaymentHolidayInput:
    months: int
    interest: HolidayInterest = strawberry.field(
        description="CAPITALISED adds the holiday's interest to the principal; DEFERRED "
        "bills it with the last instalment."
    )


@strawberry.input(
    description="What changes from effectiveOn; give at least one of the changes. "
    "A restructuring gives several at once."
)
class ProposeLoanAmendmentInput:
    loan_id: strawberry.ID
    effective_on: date = strawberry.field(
        description="The instalments due from this day on are rebuilt; today or later."
    )
    reason: str
    annual_rate: Rate | None = strawberry.field(default=None, description="A new rate.")
    extra_months: int = strawberry.field(default=0, description="Months added to the term.")
    payment_holiday: PaymentHolidayInput | None = None
    new_instalment: Decimal | None = strawberry.field(
        default=None, description="A new level instalment (annuities); the term follows."
    )
    top_up_amount: Decimal | None = strawberry.field(
        default=None, description="More money lent, paid out on the effective date."
    )
    forborne: bool = strawberry.field(
        default=False, description="Concessions to a borrower in financial difficulty."
    )


@strawberry.input
class AcceptLoanAmendmentInput:
    amendment_id: strawberry.ID
    terms_hash: str = strawberry.field(description="The termsHash of the terms you accept.")


@classified(public=["amendment", "loan", "contract_version"])
@strawberry.type(description="The amendment signed; the loan runs on its schedule.")
class LoanAmendmentAccepted:
    amendment: LoanAmendment
    loan: Loan
    contract_version: ContractVersion


ProposeLoanAmendmentResult = Annotated[
    LoanAmendment | ConflictError | InvalidInputError,
    strawberry.union("ProposeLoanAmendmentResult"),
]
AcceptLoanAmendmentResult = Annotated[
    LoanAmendmentAccepted | TermsChanged | ConflictError | InvalidInputError,
    strawberry.union("AcceptLoanAmendmentResult"),
]


def change_from(input: ProposeLoanAmendmentInput) -> Change:
    holiday = input.payment_holiday
    return Change(
        effective_on=input.effective_on,
        annual_rate=input.annual_rate,
        extra_months=input.extra_months,
        holiday_months=0 if holiday is None else holiday.months,
        holiday_interest=HolidayInterest.CAPITALISED if holiday is None else holiday.interest,
        instalment=input.new_instalment,
        top_up=ZERO if input.top_up_amount is None else input.top_up_amount,
    )


@strawberry.type
class ContractMutations:
    @mutation(
        "proposeLoanAmendment",
        description="Offer the borrower new terms for a signed loan: rate, term, payment "
        "holiday, instalment or top-up, from a day on. A newer proposal replaces one "
        "still waiting.",
    )
    async def propose_loan_amendment(
        self, info: strawberry.Info[Context, None], input: ProposeLoanAmendmentInput
    ) -> ProposeLoanAmendmentResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")
        proposal = service.Proposal(
            change=change_from(input), reason=input.reason, forborne=input.forborne
        )
        result: Any = await perform(
            info, lambda s, a: service.propose_amendment(s, a, pk, proposal)
        )
        return LoanAmendment.from_row(result) if isinstance(result, AmendmentRow) else result

    @mutation(
        "acceptLoanAmendment",
        description="The borrower signs an amendment by the hash of its terms; the loan "
        "continues on the new schedule from the effective date.",
    )
    async def accept_loan_amendment(
        self, info: strawberry.Info[Context, None], input: AcceptLoanAmendmentInput
    ) -> AcceptLoanAmendmentResult:
        pk = pk_of(input.amendment_id, "LoanAmendment", field="amendmentId")
        result: Any = await perform(
            info,
            lambda s, a: service.accept_amendment(s, a, pk, terms_hash_given=input.terms_hash),
        )
        if isinstance(result, service.Accepted):
            return LoanAmendmentAccepted(
                amendment=LoanAmendment.from_row(result.amendment),
                loan=Loan.from_row(result.loan),
                contract_version=ContractVersion.from_row(result.version),
            )
        refused: AcceptLoanAmendmentResult = result
        return refused
