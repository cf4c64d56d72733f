"""Service ratings and support tickets as owners, staff and oversight see them.

Comments, subjects and messages are personal data, sealed under the data key of their
own row. Whether one is revealed is decided where every personal value is
(api.access, api.disclosure): the reveal permission in the policy, then a lawful basis,
which for these rows is the basis of the enterprise they concern: its owner's own data;
for the institution's staff, the enterprise's consent to the request's purpose for the
institution (it counts only while the owner shares with institutions, the preference
centre's switch) or an active loan with it; platform oversight under a platform role.
"""

import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified
from api.applications.types import Application
from api.context import Context
from api.disclosure import Facts
from api.identity.types import Institution, InvalidInputError
from api.lending.types import Loan
from api.outcomes import ConflictError
from domain.feedback.figures import InstitutionFeedback
from domain.feedback.models import RatedEvent, TicketStatus
from domain.feedback.models import ServiceRating as RatingRow
from domain.feedback.models import SupportMessage as MessageRow
from domain.feedback.models import SupportTicket as TicketRow
from kernel import formats
from kernel.errors import NotFound

RatedEventGQL = strawberry.enum(RatedEvent, name="RatedEvent")
TicketStatusGQL = strawberry.enum(TicketStatus, name="TicketStatus")

EVENT_TYPES = {
    RatedEvent.APPLICATION_DECISION: "Application",
    RatedEvent.DISBURSEMENT: "Loan",
    RatedEvent.RISK_ALERT_CLOSED: "RiskAlert",
}


async def concerning(context: Context, row_id: uuid.UUID, enterprise_id: uuid.UUID) -> None:
    """The disclosure facts of a sealed row: its own data key, and the lawful bases of
    the enterprise it concerns (consents, an active loan, a break-glass grant)."""
    disclosure = context.disclosure
    if disclosure.known(row_id) is not None:
        return
    about = await disclosure.facts(enterprise_id)
    key = await context.loaders.data_key.load(row_id)
    disclosure.learn(
        row_id,
        Facts(key=key, consented=about.consented, contracted=about.contracted, glass=about.glass),
    )


async def _institution(info: strawberry.Info[Context, None], pk: uuid.UUID) -> Institution:
    row = await info.context.loaders.institution.load(pk)
    if row is None:
        raise NotFound("institution not found")
    return Institution.from_row(row)


@classified(
    public=["id"],
    internal=["event_kind", "event_id", "score", "rated_at", "institution"],
    personal=["comment"],
    sealed_in="service_ratings",
    sealed=["comment"],
)
@strawberry.type(description="An owner's rating of the service after an event.")
class ServiceRating(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    owner_id: strawberry.Private[uuid.UUID | None]
    enterprise_id: strawberry.Private[uuid.UUID]
    institution_id: strawberry.Private[uuid.UUID]
    sealed_comment: strawberry.Private[str | None]
    event_kind: RatedEvent
    event_id: strawberry.ID = strawberry.field(
        description="The Application decided, the Loan paid out or the RiskAlert closed."
    )
    score: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    rated_at: datetime

    @strawberry.field(
        description="The owner's words: personal data, shown as the policy says (null once erased)."
    )
    async def comment(self, info: strawberry.Info[Context, None]) -> str | None:
        if self.sealed_comment is not None:
            await concerning(info.context, self.pk, self.enterprise_id)
        return self.sealed_comment

    @strawberry.field(description="The institution whose service was rated.")
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        return await _institution(info, self.institution_id)

    @classmethod
    def from_row(cls, row: RatingRow) -> Self:
        return cls(
            pk=row.id,
            owner_id=row.rated_by,
            enterprise_id=row.enterprise_id,
            institution_id=row.institution_id,
            sealed_comment=row.comment,
            event_kind=row.event_kind,
            event_id=strawberry.ID(formats.global_id(EVENT_TYPES[row.event_kind], row.event_id)),
            score=row.score,
            rated_at=row.rated_at,
        )


@classified(
    internal=["from_staff", "at"],
    personal=["body"],
    sealed_in="support_messages",
    sealed=["body"],
)
@strawberry.type(description="One message of a ticket's thread.")
class SupportMessage:
    pk: strawberry.Private[uuid.UUID]
    owner_id: strawberry.Private[uuid.UUID | None]
    enterprise_id: strawberry.Private[uuid.UUID]
    sealed_body: strawberry.Private[str]
    from_staff: bool = strawberry.field(description="Written by the institution's staff.")
    at: datetime

    @strawberry.field(
        description="The message: personal data, shown as the policy says (null once erased)."
    )
    async def body(self, info: strawberry.Info[Context, None]) -> str | None:
        await concerning(info.context, self.pk, self.enterprise_id)
        return self.sealed_body

    @classmethod
    def from_row(cls, row: MessageRow, ticket: "SupportTicket") -> Self:
        return cls(
            pk=row.id,
            owner_id=ticket.owner_id,
            enterprise_id=ticket.enterprise_id,
            sealed_body=row.body,
            from_staff=row.from_staff,
            at=row.at,
        )


@classified(
    public=["id"],
    internal=[
        "status",
        "version",
        "opened_at",
        "first_answered_at",
        "closed_at",
        "institution",
        "application",
        "loan",
        "messages",
    ],
    personal=["subject"],
    sealed_in="support_tickets",
    sealed=["subject"],
)
@strawberry.type(description="An owner's question about an application or a loan, and its thread.")
class SupportTicket(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    owner_id: strawberry.Private[uuid.UUID | None]
    enterprise_id: strawberry.Private[uuid.UUID]
    institution_id: strawberry.Private[uuid.UUID]
    application_id: strawberry.Private[uuid.UUID | None]
    loan_id: strawberry.Private[uuid.UUID | None]
    sealed_subject: strawberry.Private[str]
    status: TicketStatus
    version: int = strawberry.field(description="Pass it back as expectedVersion.")
    opened_at: datetime
    first_answered_at: datetime | None
    closed_at: datetime | None

    @strawberry.field(
        description="The ticket's subject: personal data, shown as the policy says (null "
        "once erased)."
    )
    async def subject(self, info: strawberry.Info[Context, None]) -> str | None:
        await concerning(info.context, self.pk, self.enterprise_id)
        return self.sealed_subject

    @strawberry.field(description="The institution that answers.")
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        return await _institution(info, self.institution_id)

    @strawberry.field(description="The application it is about, if you may see it.")
    async def application(self, info: strawberry.Info[Context, None]) -> Application | None:
        if self.application_id is None:
            return None
        row = await info.context.loaders.application.load(self.application_id)
        return None if row is None else Application.from_row(row)

    @strawberry.field(description="The loan it is about, if you may see it.")
    async def loan(self, info: strawberry.Info[Context, None]) -> Loan | None:
        if self.loan_id is None:
            return None
        row = await info.context.loaders.loan.load(self.loan_id)
        return None if row is None else Loan.from_row(row)

    @strawberry.field(description="The thread, oldest first.")
    async def messages(self, info: strawberry.Info[Context, None]) -> list[SupportMessage]:
        rows = await info.context.loaders.support_messages.load(self.pk)
        return [SupportMessage.from_row(r, self) for r in rows]

    @classmethod
    def from_row(cls, row: TicketRow) -> Self:
        return cls(
            pk=row.id,
            owner_id=row.opened_by,
            enterprise_id=row.enterprise_id,
            institution_id=row.institution_id,
            application_id=row.application_id,
            loan_id=row.loan_id,
            sealed_subject=row.subject,
            status=row.status,
            version=row.version,
            opened_at=row.opened_at,
            first_answered_at=row.first_answered_at,
            closed_at=row.closed_at,
        )


RateServiceResult = Annotated[
    ServiceRating | ConflictError | InvalidInputError, strawberry.union("RateServiceResult")
]
SupportTicketResult = Annotated[
    SupportTicket | ConflictError | InvalidInputError, strawberry.union("SupportTicketResult")
]


@classified(
    internal=[
        "institution_id",
        "institution_code",
        "ratings",
        "average_score",
        "distribution",
        "tickets_opened",
        "tickets_closed",
        "median_hours_to_first_answer",
    ]
)
@strawberry.type(
    description="Satisfaction and support of one institution in the period: ratings given "
    "and tickets opened or closed in it. Scores and times only, never a comment."
)
class PortfolioFeedback:
    institution_id: strawberry.ID
    institution_code: str
    ratings: int
    average_score: float | None = strawberry.field(description="Null without ratings.")
    distribution: list[int] = strawberry.field(
        description="Ratings of score 1, 2, 3, 4 and 5, in that order."
    )
    tickets_opened: int
    tickets_closed: int = strawberry.field(description="Closed in the period (and still closed).")
    median_hours_to_first_answer: float | None = strawberry.field(
        description="Of the tickets opened in the period that staff answered; null if none."
    )

    @classmethod
    def from_domain(cls, line: InstitutionFeedback) -> Self:
        return cls(
            institution_id=strawberry.ID(
                str(relay.GlobalID("Institution", str(line.institution_id)))
            ),
            institution_code=line.institution_code,
            ratings=line.ratings,
            average_score=line.average_score,
            distribution=list(line.distribution),
            tickets_opened=line.tickets_opened,
            tickets_closed=line.tickets_closed,
            median_hours_to_first_answer=line.median_hours_to_first_answer,
        )
