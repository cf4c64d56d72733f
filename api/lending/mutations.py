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
from domain.lending import reversal, service
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
