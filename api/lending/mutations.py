from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.exc import IntegrityError

from api.access import classified, mutation
from api.applications.types import Application
from api.context import Context
from api.identity.types import InvalidInputError
from api.lending.types import Loan, Repayment
from api.outcomes import ConflictError, InvalidTransition, OverpaymentError, perform, pk_of
from domain.applications.models import Application as ApplicationRow
from domain.lending import charges, reversal, service
from domain.lending.models import EarlyRepaymentChoice
from domain.lending.models import Loan as LoanRow


@strawberry.input
class DisburseLoanInput:
    application_id: strawberry.ID
    disbursed_on: date | None = strawberry.field(
        default=None, description="The day the money left (today when left out)."
    )
    expected_version: int | None = None


@strawberry.input
class RecordRepaymentInput:
    loan_id: strawberry.ID
    idempotency_key: str = strawberry.field(
        description="Unique per payment: sending the same key again records nothing new "
        "and answers the first result."
    )
    amount: Decimal
    paid_on: date | None = strawberry.field(default=None, description="Today when left out.")
    early_repayment: EarlyRepaymentChoice = strawberry.field(
        default=EarlyRepaymentChoice.SHORTER_TERM,
        description="What money beyond what is due does to the schedule.",
    )


@strawberry.input
class WriteOffLoanInput:
    loan_id: strawberry.ID
    reason: str
    written_off_on: date | None = None


@strawberry.input
class ReverseRepaymentInput:
    loan_id: strawberry.ID
    idempotency_key: str = strawberry.field(description="The key the payment was recorded with.")
    reason: str = strawberry.field(description="Why the payment is reversed (it bounced, ...).")
    reversed_on: date | None = strawberry.field(default=None, description="Today when left out.")


@classified(public=["repayment", "loan"])
@strawberry.type(description="A payment reversed: its allocation undone, the loan as before it.")
class RepaymentReversed:
    repayment: Repayment
    loan: Loan


@classified(public=["repayment", "loan", "replayed"])
@strawberry.type(description="A repayment as recorded, and the loan after it.")
class RepaymentRecorded:
    repayment: Repayment
    loan: Loan
    replayed: bool = strawberry.field(
        description="The idempotency key had been used: this is the first result again."
    )


@classified(public=["loan", "application"])
@strawberry.type(description="The loan booked by a disbursement, and its application.")
class LoanDisbursed:
    loan: Loan
    application: Application


@strawberry.input
class AccrueInterestInput:
    institution_id: strawberry.ID
    as_of: date | None = strawberry.field(
        default=None, description="Accrue through this day (today when left out)."
    )


@classified(
    public=[
        "as_of",
        "loans",
        "accrued_interest",
        "penalty_interest",
        "late_fees",
        "late_fees_charged",
    ]
)
@strawberry.type(description="What one accrual run posted for an institution's active loans.")
class AccrualRun:
    as_of: date
    loans: int = strawberry.field(description="Loans brought up to asOf (none already there).")
    accrued_interest: Decimal = strawberry.field(description="Interest income accrued.")
    penalty_interest: Decimal = strawberry.field(description="Penalty interest charged.")
    late_fees: Decimal = strawberry.field(description="Late fees charged.")
    late_fees_charged: int


AccrueInterestResult = Annotated[
    AccrualRun | ConflictError | InvalidInputError, strawberry.union("AccrueInterestResult")
]
DisburseLoanResult = Annotated[
    LoanDisbursed | InvalidTransition | ConflictError | InvalidInputError,
    strawberry.union("DisburseLoanResult"),
]
RecordRepaymentResult = Annotated[
    RepaymentRecorded | OverpaymentError | ConflictError | InvalidInputError,
    strawberry.union("RecordRepaymentResult"),
]
ReverseRepaymentResult = Annotated[
    RepaymentReversed | ConflictError | InvalidInputError,
    strawberry.union("ReverseRepaymentResult"),
]
WriteOffLoanResult = Annotated[
    Loan | ConflictError | InvalidInputError, strawberry.union("WriteOffLoanResult")
]


@strawberry.type
class LoanMutations:
    @mutation(
        "disburseLoan",
        description="Pay out a signed contract: the loan and its schedule are booked.",
    )
    async def disburse_loan(
        self, info: strawberry.Info[Context, None], input: DisburseLoanInput
    ) -> DisburseLoanResult:
        pk = pk_of(input.application_id, "Application", field="applicationId")

        async def work(session: Any, actor: Any) -> LoanDisbursed:
            loan = await service.disburse(
                session,
                actor,
                pk,
                disbursed_on=input.disbursed_on,
                expected_version=input.expected_version,
            )
            application = await session.get_one(ApplicationRow, pk)
            return LoanDisbursed(
                loan=Loan.from_row(loan), application=Application.from_row(application)
            )

        result: Any = await perform(info, work)
        return result

    @mutation(
        "recordRepayment",
        description="Record money received: fees, then interest, then principal, oldest "
        "instalment first; more than is due repays principal early.",
    )
    async def record_repayment(
        self, info: strawberry.Info[Context, None], input: RecordRepaymentInput
    ) -> RecordRepaymentResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")

        async def record() -> Any:
            return await perform(
                info,
                lambda s, a: service.record_repayment(
                    s,
                    a,
                    pk,
                    idempotency_key=input.idempotency_key,
                    amount=input.amount,
                    paid_on=input.paid_on,
                    early_choice=input.early_repayment,
                ),
            )

        try:
            result = await record()
        except IntegrityError:
            # The same key arrived twice at once and the other copy committed first:
            # asking again finds it and answers its result, as any retry would.
            result = await record()
        if isinstance(result, service.Recorded):
            return RepaymentRecorded(
                repayment=Repayment.from_row(result.repayment),
                loan=Loan.from_row(result.loan),
                replayed=result.replayed,
            )
        return result

    @mutation(
        "reverseRepayment",
        description="Reverse a payment that bounced: the latest payment standing, its "
        "allocation undone exactly and its journal entry reversed.",
    )
    async def reverse_repayment(
        self, info: strawberry.Info[Context, None], input: ReverseRepaymentInput
    ) -> ReverseRepaymentResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")
        result = await perform(
            info,
            lambda s, a: reversal.reverse_repayment(
                s,
                a,
                pk,
                idempotency_key=input.idempotency_key,
                reason=input.reason,
                reversed_on=input.reversed_on,
            ),
        )
        if isinstance(result, tuple):
            repayment, loan = result
            return RepaymentReversed(
                repayment=Repayment.from_row(repayment), loan=Loan.from_row(loan)
            )
        return result

    @mutation(
        "writeOffLoan",
        description="Write a loan off as lost: an institution admin's or risk officer's "
        "decision, with its reason.",
    )
    async def write_off_loan(
        self, info: strawberry.Info[Context, None], input: WriteOffLoanInput
    ) -> WriteOffLoanResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")
        result = await perform(
            info,
            lambda s, a: service.write_off(
                s, a, pk, reason=input.reason, written_off_on=input.written_off_on
            ),
        )
        return Loan.from_row(result) if isinstance(result, LoanRow) else result

    @mutation(
        "accrueInterest",
        description="Accrue an institution's active loans through a day: interest earned, "
        "penalty interest and late fees past their grace period, each posted once.",
    )
    async def accrue_interest(
        self, info: strawberry.Info[Context, None], input: AccrueInterestInput
    ) -> AccrueInterestResult:
        pk = pk_of(input.institution_id, "Institution", field="institutionId")
        result = await perform(info, lambda s, a: charges.run_accrual(s, a, pk, as_of=input.as_of))
        if isinstance(result, charges.Accrued):
            return AccrualRun(
                as_of=result.as_of,
                loans=result.loans,
                accrued_interest=result.interest,
                penalty_interest=result.penalty,
                late_fees=result.late_fees,
                late_fees_charged=result.late_fees_charged,
            )
        return result
