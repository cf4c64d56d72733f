from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from api.access import classified, mutation
from api.applications.types import Application, Contract
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import (
    ConflictError,
    ConsentRequired,
    FourEyesRequired,
    InvalidTransition,
    NotEligible,
    TermsChanged,
    perform,
    pk_of,
)
from api.scalars import Rate
from domain.applications import service
from domain.applications.models import Application as ApplicationRow
from domain.applications.models import DecisionOutcome
from domain.products.models import RepaymentMethod

_VERSION = "The version you read; if the application changed since, you get Conflict."


@strawberry.input(description="What an enterprise asks a product for.")
class SubmitApplicationInput:
    enterprise_id: strawberry.ID
    product_id: strawberry.ID
    amount: Decimal
    term_months: int
    repayment_method: RepaymentMethod
    purpose: str

    def request(self) -> service.Request:
        return service.Request(
            enterprise_id=pk_of(self.enterprise_id, "Enterprise", field="enterpriseId"),
            product_id=pk_of(self.product_id, "Product", field="productId"),
            amount=self.amount,
            term_months=self.term_months,
            repayment_method=self.repayment_method,
            purpose=self.purpose,
        )


@strawberry.input
class ApplicationActionInput:
    application_id: strawberry.ID
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input
class RequestApplicationInformationInput:
    application_id: strawberry.ID
    question: str
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input
class ProvideApplicationInformationInput:
    application_id: strawberry.ID
    answer: str
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.enum(description="What an officer decides on the credit.")
class CreditDecision(enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"


@strawberry.input
class DecideApplicationInput:
    application_id: strawberry.ID
    decision: CreditDecision
    reasons: str
    annual_rate: Rate | None = strawberry.field(
        default=None,
        description="The nominal rate an approval sets, within the product's range "
        "(its lowest when left out). A second approval confirms the first one's rate.",
    )
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input
class AppealDecisionInput:
    application_id: strawberry.ID
    reason: str
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input
class WithdrawApplicationInput:
    application_id: strawberry.ID
    reason: str = ""
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input
class SignContractInput:
    application_id: strawberry.ID
    terms_hash: str = strawberry.field(description="The termsHash of the contract you read.")
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


def _shown(result: object) -> Any:
    """The application a service returned, as the API shows it; a refusal as it is."""
    return Application.from_row(result) if isinstance(result, ApplicationRow) else result


async def _act(
    info: strawberry.Info[Context, None],
    application_id: strawberry.ID,
    step: Callable[..., Awaitable[Any]],
    **values: Any,
) -> Any:
    """Run one service step on one application, in one transaction, as the viewer."""
    pk = pk_of(application_id, "Application", field="applicationId")
    return _shown(await perform(info, lambda s, a: step(s, a, pk, **values)))


SubmitApplicationResult = Annotated[
    Application
    | NotEligible
    | ConsentRequired
    | InvalidTransition
    | ConflictError
    | InvalidInputError,
    strawberry.union("SubmitApplicationResult"),
]
ReviewApplicationResult = Annotated[
    Application | InvalidTransition | FourEyesRequired | ConflictError | InvalidInputError,
    strawberry.union("ReviewApplicationResult"),
]
DecideApplicationResult = Annotated[
    Application | InvalidTransition | FourEyesRequired | ConflictError | InvalidInputError,
    strawberry.union("DecideApplicationResult"),
]
ApplicantActionResult = Annotated[
    Application | InvalidTransition | ConflictError | InvalidInputError,
    strawberry.union("ApplicantActionResult"),
]
AppealDecisionResult = Annotated[
    Application | InvalidTransition | ConflictError | InvalidInputError,
    strawberry.union("AppealDecisionResult"),
]


@classified(public=["application", "contract"])
@strawberry.type(description="The contract accepted and the application it belongs to.")
class ContractSigned:
    application: Application
    contract: Contract


SignContractResult = Annotated[
    ContractSigned
    | InvalidTransition
    | TermsChanged
    | NotEligible
    | ConflictError
    | InvalidInputError,
    strawberry.union("SignContractResult"),
]


@strawberry.type
class ApplicationMutations:
    @mutation(
        "submitApplication",
        description="Apply for a product: drafted and submitted at once. Needs the "
        "enterprise's consent to credit_assessment by the product's institution.",
    )
    async def submit_application(
        self, info: strawberry.Info[Context, None], input: SubmitApplicationInput
    ) -> SubmitApplicationResult:
        request = input.request()
        result = await perform(info, lambda s, a: service.apply(s, a, request))
        return _shown(result)

    @mutation(
        "createApplicationDraft",
        description="Save an application without sending it; only you see a draft.",
    )
    async def create_application_draft(
        self, info: strawberry.Info[Context, None], input: SubmitApplicationInput
    ) -> SubmitApplicationResult:
        request = input.request()
        result = await perform(info, lambda s, a: service.create_draft(s, a, request))
        return _shown(result)

    @mutation("submitApplicationDraft", description="Send a draft to the institution.")
    async def submit_application_draft(
        self, info: strawberry.Info[Context, None], input: ApplicationActionInput
    ) -> SubmitApplicationResult:
        return await _act(
            info, input.application_id, service.submit, expected_version=input.expected_version
        )

    @mutation(
        "startApplicationReview",
        description="An officer takes a submitted (or appealed) application into review.",
    )
    async def start_application_review(
        self, info: strawberry.Info[Context, None], input: ApplicationActionInput
    ) -> ReviewApplicationResult:
        return await _act(
            info,
            input.application_id,
            service.start_review,
            expected_version=input.expected_version,
        )

    @mutation(
        "requestApplicationInformation",
        description="An officer asks the applicant for more before deciding.",
    )
    async def request_application_information(
        self, info: strawberry.Info[Context, None], input: RequestApplicationInformationInput
    ) -> ReviewApplicationResult:
        return await _act(
            info,
            input.application_id,
            service.request_information,
            question=input.question,
            expected_version=input.expected_version,
        )

    @mutation(
        "provideApplicationInformation",
        description="The applicant answers; the application goes back into review.",
    )
    async def provide_application_information(
        self, info: strawberry.Info[Context, None], input: ProvideApplicationInformationInput
    ) -> ApplicantActionResult:
        return await _act(
            info,
            input.application_id,
            service.provide_information,
            answer=input.answer,
            expected_version=input.expected_version,
        )

    @mutation(
        "decideApplication",
        description="Approve or reject, with reasons. Above the institution's four-eyes "
        "threshold an approval needs a second, different officer; on appeal, an officer "
        "who has not decided on it before.",
    )
    async def decide_application(
        self, info: strawberry.Info[Context, None], input: DecideApplicationInput
    ) -> DecideApplicationResult:
        return await _act(
            info,
            input.application_id,
            service.decide,
            outcome=DecisionOutcome(input.decision.value),
            reasons=input.reasons,
            annual_rate=input.annual_rate,
            expected_version=input.expected_version,
        )

    @mutation(
        "appealDecision",
        description="A rejected applicant appeals once, with a reason.",
    )
    async def appeal_decision(
        self, info: strawberry.Info[Context, None], input: AppealDecisionInput
    ) -> AppealDecisionResult:
        return await _act(
            info,
            input.application_id,
            service.appeal,
            reason=input.reason,
            expected_version=input.expected_version,
        )

    @mutation(
        "withdrawApplication",
        description="The applicant withdraws, at any point before signing the contract.",
    )
    async def withdraw_application(
        self, info: strawberry.Info[Context, None], input: WithdrawApplicationInput
    ) -> ApplicantActionResult:
        return await _act(
            info,
            input.application_id,
            service.withdraw,
            reason=input.reason,
            expected_version=input.expected_version,
        )

    @mutation(
        "signContract",
        description="The applicant accepts the approved terms, named by their hash.",
    )
    async def sign_contract(
        self, info: strawberry.Info[Context, None], input: SignContractInput
    ) -> SignContractResult:
        pk = pk_of(input.application_id, "Application", field="applicationId")
        result = await perform(
            info,
            lambda s, a: service.sign_contract(
                s, a, pk, terms_hash=input.terms_hash, expected_version=input.expected_version
            ),
        )
        if isinstance(result, tuple):
            application, contract = result
            return ContractSigned(
                application=Application.from_row(application), contract=Contract.from_row(contract)
            )
        return result
