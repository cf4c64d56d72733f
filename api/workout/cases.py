"""Workout cases through GraphQL: the list, opening and working one, collection activity."""

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry import relay

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import ConflictError, perform, pk_of
from api.relay import Connection, ListingRequest, decode_pk, encode_pk, listed_for
from domain.settings import Settings
from domain.workout import cases as service
from domain.workout import claims
from domain.workout.models import CollectionContact as ContactRow
from domain.workout.models import (
    ContactChannel,
    ContactOutcome,
    WorkoutOutcome,
    WorkoutState,
    WorkoutStrategy,
)
from domain.workout.models import PromiseToPay as PromiseRow
from domain.workout.models import WorkoutCase as CaseRow
from kernel.base import utcnow

if TYPE_CHECKING:
    from api.lending.types import Loan
    from api.risk.alerts import RiskAlert

WorkoutStrategyGQL = strawberry.enum(WorkoutStrategy, name="WorkoutStrategy")
WorkoutStateGQL = strawberry.enum(WorkoutState, name="WorkoutState")
WorkoutOutcomeGQL = strawberry.enum(WorkoutOutcome, name="WorkoutOutcome")
# Not "...Channel": "channel" elsewhere (consents) is free text, and an enum word must
# name one enum only (tests/api/test_conventions.py).
ContactChannelGQL = strawberry.enum(ContactChannel, name="ContactMethod")
ContactOutcomeGQL = strawberry.enum(ContactOutcome, name="ContactOutcome")


@strawberry.enum(description="Kept, broken or still pending: read from the repayments.")
class PromiseStatus(enum.Enum):
    PENDING = "PENDING"
    KEPT = "KEPT"
    BROKEN = "BROKEN"


@strawberry.enum
class WorkoutAction(enum.Enum):
    START = "start"
    ASSIGN = "assign"
    RESOLVE = "resolve"
    CLOSE = "close"
    CANCEL = "cancel"


@classified(
    public=["id"],
    internal=["channel", "outcome", "contacted_at", "recorded_by_id"],
    personal=["note"],
    sealed_in="collection_contacts",
    sealed=["note"],
)
@strawberry.type(description="One attempt to reach the borrower about a workout case.")
class CollectionContact(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    # The note is the enterprise's personal data, sealed under its data key.
    subject_pk: strawberry.Private[uuid.UUID]
    channel: ContactChannel
    outcome: ContactOutcome
    contacted_at: datetime
    recorded_by_id: strawberry.ID | None
    note: str | None = strawberry.field(
        description="What was said: personal data, masked unless your role and purpose may read it."
    )

    @classmethod
    def from_row(cls, row: ContactRow) -> Self:
        return cls(
            pk=row.id,
            subject_pk=row.enterprise_id,
            channel=row.channel,
            outcome=row.outcome,
            contacted_at=row.contacted_at,
            recorded_by_id=encode_pk(row.recorded_by, "User"),
            note=row.note,
        )


@classified(
    public=["id"],
    internal=["made_on", "promised_on", "amount", "recorded_at", "amount_paid", "status"],
)
@strawberry.type(description="The borrower's promise to pay an amount by a day.")
class PromiseToPay(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    made_on: date
    promised_on: date
    amount: Decimal
    recorded_at: datetime

    @strawberry.field(
        description="Repayments standing between madeOn and promisedOn (both included)."
    )
    async def amount_paid(self, info: strawberry.Info[Context, None]) -> Decimal:
        return await info.context.loaders.paid_towards_promise.load(self.pk)

    @strawberry.field(
        description="KEPT once the repayments since the promise reach its amount by "
        "promisedOn; BROKEN after promisedOn without; PENDING before. Evaluated when read."
    )
    async def status(self, info: strawberry.Info[Context, None]) -> PromiseStatus:
        paid = await info.context.loaders.paid_towards_promise.load(self.pk)
        if paid >= self.amount:
            return PromiseStatus.KEPT
        return PromiseStatus.BROKEN if utcnow().date() > self.promised_on else PromiseStatus.PENDING

    @classmethod
    def from_row(cls, row: PromiseRow) -> Self:
        return cls(
            pk=row.id,
            made_on=row.made_on,
            promised_on=row.promised_on,
            amount=row.amount,
            recorded_at=row.recorded_at,
        )


@classified(
    public=["id"],
    internal=[
        "strategy",
        "state",
        "owner_id",
        "opened_at",
        "due_on",
        "overdue",
        "outcome",
        "recovered_amount",
        "resolved_at",
        "closed_at",
        "version",
        "filed_on",
        "court",
        "court_reference",
        "legal_cost_amount",
        "judgment_amount",
        "buyer",
        "sale_amount",
        "sale_profit",
        "loan",
        "alerts",
        "contacts",
        "promises",
    ],
)
@strawberry.type(
    description="A loan in difficulty being worked out: strategy, owner, SLA and activity."
)
class WorkoutCase(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    loan_id: strawberry.Private[uuid.UUID]
    strategy: WorkoutStrategy
    state: WorkoutState
    owner_id: strawberry.ID | None
    opened_at: datetime
    due_on: date = strawberry.field(description="The SLA: opened on plus the strategy's days.")
    outcome: WorkoutOutcome | None
    recovered_amount: Decimal | None
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int = strawberry.field(description="Pass it back as expectedVersion.")
    filed_on: date | None = strawberry.field(description="LEGAL_ACTION: the claim's filing day.")
    court: str | None
    court_reference: str | None = strawberry.field(description="The court's case reference.")
    legal_cost_amount: Decimal | None = strawberry.field(
        description="LEGAL_ACTION: costs charged to the loan so far (as fees due)."
    )
    judgment_amount: Decimal | None = strawberry.field(
        description="LEGAL_ACTION resolved as JUDGMENT: what the court awarded."
    )
    buyer: str | None = strawberry.field(description="SALE: to whom the claim was sold.")
    sale_amount: Decimal | None = strawberry.field(description="SALE: the price.")
    sale_profit: Decimal | None = strawberry.field(
        description="SALE: the price less the carrying amount net of allowance, as booked: "
        "a gain when positive, a loss when negative."
    )

    @strawberry.field(description="Live (OPEN or IN_PROGRESS) and past its due day.")
    def overdue(self) -> bool:
        live = self.state in (WorkoutState.OPEN, WorkoutState.IN_PROGRESS)
        return live and self.due_on < utcnow().date()

    @strawberry.field
    async def loan(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Loan", strawberry.lazy("api.lending.types")] | None:
        from api.lending.types import Loan

        row = await info.context.loaders.loan.load(self.loan_id)
        return None if row is None else Loan.from_row(row)

    @strawberry.field(description="The early-warning alerts whose disposal led here.")
    async def alerts(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["RiskAlert", strawberry.lazy("api.risk.alerts")]]:
        from api.risk.alerts import RiskAlert

        links = await info.context.loaders.workout_case_alerts.load(self.pk)
        rows = await info.context.loaders.alert.load_many([link.alert_id for link in links])
        return [RiskAlert.from_row(r) for r in rows if r is not None]

    @strawberry.field(description="Contact attempts, oldest first.")
    async def contacts(self, info: strawberry.Info[Context, None]) -> list[CollectionContact]:
        rows = await info.context.loaders.collection_contacts.load(self.pk)
        return [CollectionContact.from_row(r) for r in rows]

    @strawberry.field(description="Promises to pay, oldest first.")
    async def promises(self, info: strawberry.Info[Context, None]) -> list[PromiseToPay]:
        rows = await info.context.loaders.promises_to_pay.load(self.pk)
        return [PromiseToPay.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: CaseRow) -> Self:
        return cls(
            pk=row.id,
            loan_id=row.loan_id,
            strategy=row.strategy,
            state=row.state,
            owner_id=encode_pk(row.owner_id, "User"),
            opened_at=row.opened_at,
            due_on=row.due_on,
            outcome=row.outcome,
            recovered_amount=row.recovered_amount,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            version=row.version,
            filed_on=row.filed_on,
            court=row.court,
            court_reference=row.court_reference,
            legal_cost_amount=row.legal_costs,
            judgment_amount=row.judgment_amount,
            buyer=row.buyer,
            sale_amount=row.sale_price,
            sale_profit=row.sale_result,
        )


@strawberry.input
class WorkoutCaseFilter:
    states: list[WorkoutState] | None = None
    strategies: list[WorkoutStrategy] | None = None
    state: WorkoutState | None = None
    strategy: WorkoutStrategy | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="true: live cases past their due day; false: the others."
    )
    owner_id: strawberry.ID | None = None
    loan_id: strawberry.ID | None = None


def _domain_filter(flt: WorkoutCaseFilter | None) -> service.CaseFilter:
    if flt is None:
        return service.CaseFilter()
    today = utcnow().date()
    states = list(flt.states or []) + ([flt.state] if flt.state else [])
    strategies = list(flt.strategies or []) + ([flt.strategy] if flt.strategy else [])
    return service.CaseFilter(
        states=states or None,
        strategies=strategies or None,
        owner_id=decode_pk(flt.owner_id, "User", field="filter.ownerId"),
        loan_id=decode_pk(flt.loan_id, "Loan", field="filter.loanId"),
        overdue_on=today if flt.overdue is True else None,
        not_overdue_on=today if flt.overdue is False else None,
    )


def listing_request(
    settings: Settings,
    first: int | None = None,
    after: str | None = None,
    filter: WorkoutCaseFilter | None = None,
) -> ListingRequest[service.CaseFilter]:
    return ListingRequest.read(
        settings, keyset=service.NEWEST, flt=_domain_filter(filter), first=first, after=after
    )


@classified(internal=["workout_cases"])
@strawberry.type
class WorkoutCaseQueries:
    @strawberry.field(description="Workout cases of your institution's book, newest first.")
    async def workout_cases(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: WorkoutCaseFilter | None = None,
    ) -> Connection[WorkoutCase]:
        ctx = info.context
        asked = listing_request(ctx.settings, first, after, filter)
        return await listed_for(
            ctx.sessions,
            ctx.viewer,
            asked,
            service.list_cases,
            service.count_cases,
            WorkoutCase.from_row,
        )


@strawberry.input
class OpenWorkoutCaseInput:
    loan_id: strawberry.ID
    strategy: WorkoutStrategy
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Credit staff of the loan's institution; you when left out."
    )


@strawberry.input
class UpdateWorkoutCaseInput:
    case_id: strawberry.ID
    action: WorkoutAction = strawberry.field(
        description="START (OPEN to IN_PROGRESS), ASSIGN (with ownerId), RESOLVE (with "
        "outcome; a WRITE_OFF case with reason, which writes the loan off; a LEGAL_ACTION "
        "case as JUDGMENT with judgmentAmount; a SALE case as CLAIM_SOLD with buyer and "
        "saleAmount, which closes the loan as sold), CLOSE (a "
        "resolved case), CANCEL (a live case)."
    )
    owner_id: strawberry.ID | None = None
    outcome: WorkoutOutcome | None = None
    recovered_amount: Decimal | None = None
    reason: str = strawberry.field(default="", description="Why the loan is written off.")
    expected_version: int | None = None
    judgment_amount: Decimal | None = None
    buyer: str | None = strawberry.field(default=None, description="At most 200 characters.")
    sale_amount: Decimal | None = strawberry.field(default=None, description="The price.")


@strawberry.input
class RecordLegalActionInput:
    case_id: strawberry.ID
    filed_on: date = strawberry.field(description="Between the disbursement and today.")
    court: str = strawberry.field(description="At most 200 characters.")
    reference: str = strawberry.field(description="The court's case reference; at most 100.")
    cost_amount: Decimal = strawberry.field(
        description="Legal costs charged to the loan now (added to the fee due of its "
        "first unsettled installment); 0 for none."
    )
    expected_version: int = strawberry.field(
        description="The case's version: a retry of a call already applied is a "
        "ConflictError, never a second charge."
    )


@strawberry.input
class RecordCollectionContactInput:
    case_id: strawberry.ID
    channel: ContactChannel
    outcome: ContactOutcome
    note: str = strawberry.field(default="", description="At most 1000 characters; sealed.")


@strawberry.input
class RecordPromiseToPayInput:
    case_id: strawberry.ID
    promised_on: date = strawberry.field(description="Today or later.")
    amount: Decimal


WorkoutCaseResult = Annotated[
    WorkoutCase | ConflictError | InvalidInputError, strawberry.union("WorkoutCaseResult")
]
RecordCollectionContactResult = Annotated[
    CollectionContact | InvalidInputError, strawberry.union("RecordCollectionContactResult")
]
RecordPromiseToPayResult = Annotated[
    PromiseToPay | InvalidInputError, strawberry.union("RecordPromiseToPayResult")
]


@strawberry.type
class WorkoutCaseMutations:
    @mutation(
        "openWorkoutCase",
        description="Open a workout case for an active loan of your institution's book.",
    )
    async def open_workout_case(
        self, info: strawberry.Info[Context, None], input: OpenWorkoutCaseInput
    ) -> WorkoutCaseResult:
        loan_id = pk_of(input.loan_id, "Loan", field="loanId")
        owner_id = decode_pk(input.owner_id, "User", field="ownerId")
        result: Any = await perform(
            info,
            lambda s, a: service.open_case(
                s, a, loan_id=loan_id, strategy=input.strategy, owner_id=owner_id
            ),
        )
        return WorkoutCase.from_row(result) if isinstance(result, CaseRow) else result

    @mutation(
        "updateWorkoutCase",
        description="Work a case: start, assign, resolve, close or cancel it.",
    )
    async def update_workout_case(
        self, info: strawberry.Info[Context, None], input: UpdateWorkoutCaseInput
    ) -> WorkoutCaseResult:
        change = service.CaseChange(
            case_id=pk_of(input.case_id, "WorkoutCase", field="caseId"),
            action=input.action.value,
            owner_id=decode_pk(input.owner_id, "User", field="ownerId"),
            outcome=input.outcome,
            recovered_amount=input.recovered_amount,
            reason=input.reason,
            expected_version=input.expected_version,
            judgment_amount=input.judgment_amount,
            buyer=input.buyer,
            sale_price=input.sale_amount,
        )
        result: Any = await perform(info, lambda s, a: service.update_case(s, a, change))
        return WorkoutCase.from_row(result) if isinstance(result, CaseRow) else result

    @mutation(
        "recordLegalAction",
        description="Record the filing of a LEGAL_ACTION case and charge its costs to the loan.",
    )
    async def record_legal_action(
        self, info: strawberry.Info[Context, None], input: RecordLegalActionInput
    ) -> WorkoutCaseResult:
        case_id = pk_of(input.case_id, "WorkoutCase", field="caseId")
        result: Any = await perform(
            info,
            lambda s, a: claims.record_legal_action(
                s,
                a,
                case_id=case_id,
                filed_on=input.filed_on,
                court=input.court,
                reference=input.reference,
                costs=input.cost_amount,
                expected_version=input.expected_version,
            ),
        )
        return WorkoutCase.from_row(result) if isinstance(result, CaseRow) else result

    @mutation(
        "recordCollectionContact",
        description="Record an attempt to reach the borrower on a live case.",
    )
    async def record_collection_contact(
        self, info: strawberry.Info[Context, None], input: RecordCollectionContactInput
    ) -> RecordCollectionContactResult:
        case_id = pk_of(input.case_id, "WorkoutCase", field="caseId")
        result: Any = await perform(
            info,
            lambda s, a: service.record_contact(
                s,
                a,
                case_id=case_id,
                channel=input.channel,
                outcome=input.outcome,
                note=input.note,
            ),
        )
        return CollectionContact.from_row(result) if isinstance(result, ContactRow) else result

    @mutation(
        "recordPromiseToPay",
        description="Record the borrower's promise to pay an amount by a day.",
    )
    async def record_promise_to_pay(
        self, info: strawberry.Info[Context, None], input: RecordPromiseToPayInput
    ) -> RecordPromiseToPayResult:
        case_id = pk_of(input.case_id, "WorkoutCase", field="caseId")
        result: Any = await perform(
            info,
            lambda s, a: service.record_promise(
                s, a, case_id=case_id, promised_on=input.promised_on, amount=input.amount
            ),
        )
        return PromiseToPay.from_row(result) if isinstance(result, PromiseRow) else result
