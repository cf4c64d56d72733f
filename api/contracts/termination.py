"""Ending a contract before its time through GraphQL: cancel, settle early, accelerate."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

import strawberry

from api.access import classified, mutation
from api.applications.types import Application
from api.context import Context
from api.identity.types import InvalidInputError
from api.lending.types import Loan, Repayment
from api.outcomes import ConflictError, InvalidTransition, perform, pk_of
from domain.contracts import termination as service
from domain.contracts.models import LoanTermination as TerminationRow
from domain.contracts.models import TerminationKind

TerminationKindGQL = strawberry.enum(TerminationKind, name="TerminationKind")


@classified(
    internal=["kind", "terminated_on", "amount", "recorded_at"],
    personal=["reason"],
    sealed_in="loan_terminations",
    sealed=["reason"],
)
@strawberry.type(description="How a contract ended before its time.")
class LoanTermination:
    # The reason is the enterprise's personal data, sealed under its data key and bound
    # to this row (what the sealed field's extension opens it with).
    pk: strawberry.Private[uuid.UUID]
    subject_pk: strawberry.Private[uuid.UUID]
    # The enterprise's owner: the borrower reads the reason as their own data.
    owner_id: strawberry.Private[uuid.UUID | None]
    kind: TerminationKind
    terminated_on: date
    amount: Decimal = strawberry.field(
        description="Paid to settle, or called due by an acceleration; 0.00 for a cancellation."
    )
    reason: str | None = strawberry.field(
        description="Why, as given: personal data, masked unless your role and purpose may "
        "read it; null for a settlement, and once the borrower's data is erased."
    )
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: TerminationRow, *, owner_id: uuid.UUID | None) -> Self:
        return cls(
            pk=row.id,
            subject_pk=row.enterprise_id,
            owner_id=owner_id,
            kind=row.kind,
            terminated_on=row.on,
            amount=row.amount,
            reason=row.reason,
            recorded_at=row.at,
        )


async def terminations_of(
    info: strawberry.Info[Context, None], rows: Sequence[TerminationRow]
) -> list[LoanTermination]:
    """The rows as served, each with its enterprise's owner (the enterprise as the viewer
    may see it: none, and no one reads the reason as their own)."""
    enterprises = await info.context.loaders.enterprise.load_many(
        [row.enterprise_id for row in rows]
    )
    return [
        LoanTermination.from_row(row, owner_id=None if found is None else found.owner_id)
        for row, found in zip(rows, enterprises, strict=True)
    ]


@classified(internal=["as_of", "principal", "interest_due", "fees", "total_amount"])
@strawberry.type(
    description="What settles a loan on a day: all principal, and the interest and fees "
    "due by then; those not yet due are waived. Settle with settleLoan and totalAmount."
)
class PayoffQuote:
    as_of: date
    principal: Decimal
    interest_due: Decimal
    fees: Decimal = strawberry.field(
        description="Fees and charges due: the schedule's fees, late fees, penalty interest."
    )
    total_amount: Decimal

    @classmethod
    def of(cls, found: service.PayoffQuote) -> Self:
        return cls(
            as_of=found.as_of,
            principal=found.principal,
            interest_due=found.interest,
            fees=found.fees,
            total_amount=found.total,
        )


@strawberry.input
class CancelContractInput:
    application_id: strawberry.ID
    reason: str
    expected_version: int | None = None


@strawberry.input
class SettleLoanInput:
    loan_id: strawberry.ID
    quoted_amount: Decimal = strawberry.field(
        description="The payoffQuote's totalAmount for paidOn: a stale quote is refused."
    )
    idempotency_key: str
    paid_on: date | None = strawberry.field(default=None, description="Today when left out.")


@strawberry.input
class AccelerateLoanInput:
    loan_id: strawberry.ID
    reason: str
    accelerated_on: date | None = strawberry.field(default=None, description="Today when left out.")


@classified(public=["application", "termination"])
@strawberry.type(description="A signed contract cancelled before the payout.")
class ContractCancelled:
    application: Application
    termination: LoanTermination


@classified(public=["loan", "repayment", "termination"])
@strawberry.type(description="The loan settled early and closed.")
class LoanSettled:
    loan: Loan
    repayment: Repayment
    termination: LoanTermination


@classified(public=["loan", "termination"])
@strawberry.type(description="The whole balance called due.")
class LoanAccelerated:
    loan: Loan
    termination: LoanTermination


CancelContractResult = Annotated[
    ContractCancelled | InvalidTransition | ConflictError | InvalidInputError,
    strawberry.union("CancelContractResult"),
]
SettleLoanResult = Annotated[
    LoanSettled | ConflictError | InvalidInputError,
    strawberry.union("SettleLoanResult"),
]
AccelerateLoanResult = Annotated[
    LoanAccelerated | ConflictError | InvalidInputError, strawberry.union("AccelerateLoanResult")
]


@strawberry.type
class TerminationMutations:
    @mutation(
        "cancelContract",
        description="Cancel a signed contract before the money is paid out: the borrower "
        "or the institution's credit staff.",
    )
    async def cancel_contract(
        self, info: strawberry.Info[Context, None], input: CancelContractInput
    ) -> CancelContractResult:
        pk = pk_of(input.application_id, "Application", field="applicationId")
        result: Any = await perform(
            info,
            lambda s, a: service.cancel_contract(
                s, a, pk, reason=input.reason, expected_version=input.expected_version
            ),
        )
        if isinstance(result, tuple):
            application, termination = result
            (served,) = await terminations_of(info, [termination])
            return ContractCancelled(
                application=Application.from_row(application), termination=served
            )
        refused: CancelContractResult = result
        return refused

    @mutation(
        "settleLoan",
        description="Early settlement: take the payoff quoted for the day; the loan closes.",
    )
    async def settle_loan(
        self, info: strawberry.Info[Context, None], input: SettleLoanInput
    ) -> SettleLoanResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")
        result: Any = await perform(
            info,
            lambda s, a: service.settle_early(
                s,
                a,
                pk,
                quoted_amount=input.quoted_amount,
                idempotency_key=input.idempotency_key,
                paid_on=input.paid_on,
            ),
        )
        if isinstance(result, service.Settled):
            (served,) = await terminations_of(info, [result.termination])
            return LoanSettled(
                loan=Loan.from_row(result.loan),
                repayment=Repayment.from_row(result.recorded.repayment),
                termination=served,
            )
        refused: SettleLoanResult = result
        return refused

    @mutation(
        "accelerateLoan",
        description="On default, call the whole balance due: every later instalment's "
        "principal falls due on the day; interest not yet earned is waived.",
    )
    async def accelerate_loan(
        self, info: strawberry.Info[Context, None], input: AccelerateLoanInput
    ) -> AccelerateLoanResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")
        result: Any = await perform(
            info,
            lambda s, a: service.accelerate(
                s, a, pk, reason=input.reason, accelerated_on=input.accelerated_on
            ),
        )
        if isinstance(result, tuple):
            loan, termination = result
            (served,) = await terminations_of(info, [termination])
            return LoanAccelerated(loan=Loan.from_row(loan), termination=served)
        refused: AccelerateLoanResult = result
        return refused
