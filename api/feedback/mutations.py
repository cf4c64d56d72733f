"""Rating the service; opening, answering, closing and reopening support tickets."""

from __future__ import annotations

import strawberry
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import mutation
from api.context import Context
from api.feedback.types import (
    EVENT_TYPES,
    RateServiceResult,
    ServiceRating,
    SupportTicket,
    SupportTicketResult,
)
from api.outcomes import ConflictError, perform, pk_of
from api.relay import decode_pk
from domain.applications.service import Actor
from domain.feedback import service
from domain.feedback.models import RatedEvent, TicketStatus


@strawberry.input
class RateServiceInput:
    event_kind: RatedEvent
    event_id: strawberry.ID = strawberry.field(
        description="The Application decided, the Loan paid out, or the RiskAlert closed."
    )
    score: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    comment: str | None = strawberry.field(default=None, description="At most 2000 characters.")


@strawberry.input
class OpenSupportTicketInput:
    application_id: strawberry.ID | None = strawberry.field(
        default=None, description="The application it is about (or loanId)."
    )
    loan_id: strawberry.ID | None = strawberry.field(
        default=None, description="The loan it is about (or applicationId)."
    )
    subject: str = strawberry.field(description="At most 200 characters.")
    message: str = strawberry.field(description="At most 2000 characters.")


@strawberry.input
class PostSupportMessageInput:
    ticket_id: strawberry.ID
    message: str = strawberry.field(description="At most 2000 characters.")
    expected_version: int | None = None


@strawberry.input
class SetSupportTicketStatusInput:
    ticket_id: strawberry.ID
    status: TicketStatus = strawberry.field(
        description="CLOSED (either side), ANSWERED (staff), OPEN (the owner reopens)."
    )
    expected_version: int | None = None


@strawberry.type
class FeedbackMutations:
    @mutation(
        "rateService",
        description="Rate the service (1 to 5, with a comment if you like) after a decision "
        "on your application, a disbursement, or a closed risk alert: once per event.",
    )
    async def rate_service(
        self, info: strawberry.Info[Context, None], input: RateServiceInput
    ) -> RateServiceResult:
        event_id = pk_of(input.event_id, EVENT_TYPES[input.event_kind], field="eventId")

        async def work(session: AsyncSession, actor: Actor) -> ServiceRating:
            row = await service.rate_service(
                session,
                actor.keys,
                viewer=actor.viewer,
                kind=input.event_kind,
                event_id=event_id,
                score=input.score,
                comment=input.comment,
                request_id=actor.request_id,
            )
            return ServiceRating.from_row(row)

        try:
            result: RateServiceResult = await perform(info, work)
        except IntegrityError:  # the same event rated twice at the same moment
            refused = service.AlreadyRated("this event is rated already: one rating per event")
            return ConflictError(message=refused.message, code=refused.code)
        return result

    @mutation(
        "openSupportTicket",
        description="Ask the institution about one of your applications or loans.",
    )
    async def open_support_ticket(
        self, info: strawberry.Info[Context, None], input: OpenSupportTicketInput
    ) -> SupportTicketResult:
        application_id = decode_pk(input.application_id, "Application", field="applicationId")
        loan_id = decode_pk(input.loan_id, "Loan", field="loanId")

        async def work(session: AsyncSession, actor: Actor) -> SupportTicket:
            row = await service.open_ticket(
                session,
                actor.keys,
                viewer=actor.viewer,
                application_id=application_id,
                loan_id=loan_id,
                subject=input.subject,
                message=input.message,
                request_id=actor.request_id,
            )
            return SupportTicket.from_row(row)

        result: SupportTicketResult = await perform(info, work)
        return result

    @mutation(
        "postSupportMessage",
        description="Write in a ticket's thread: staff's messages answer it, the owner's "
        "open it again.",
    )
    async def post_support_message(
        self, info: strawberry.Info[Context, None], input: PostSupportMessageInput
    ) -> SupportTicketResult:
        ticket_id = pk_of(input.ticket_id, "SupportTicket", field="ticketId")

        async def work(session: AsyncSession, actor: Actor) -> SupportTicket:
            row = await service.post_message(
                session,
                actor.keys,
                viewer=actor.viewer,
                ticket_id=ticket_id,
                message=input.message,
                expected_version=input.expected_version,
                request_id=actor.request_id,
            )
            return SupportTicket.from_row(row)

        result: SupportTicketResult = await perform(info, work)
        return result

    @mutation(
        "setSupportTicketStatus",
        description="Close a ticket (either side), mark it answered (staff), or reopen a "
        "closed one (its owner).",
    )
    async def set_support_ticket_status(
        self, info: strawberry.Info[Context, None], input: SetSupportTicketStatusInput
    ) -> SupportTicketResult:
        ticket_id = pk_of(input.ticket_id, "SupportTicket", field="ticketId")

        async def work(session: AsyncSession, actor: Actor) -> SupportTicket:
            row = await service.set_ticket_status(
                session,
                viewer=actor.viewer,
                ticket_id=ticket_id,
                status=input.status,
                expected_version=input.expected_version,
                request_id=actor.request_id,
            )
            return SupportTicket.from_row(row)

        result: SupportTicketResult = await perform(info, work)
        return result
