"""Rating the service after an event, and support tickets between owners and staff.

An owner rates an event once: a decision on an application, a disbursement (a loan),
a closed (resolved) risk alert, each concerning one of their enterprises. An owner
opens a ticket about an application (submitted, so an institution has it) or a loan;
the institution's staff answer in its thread. Comments, subjects and messages are
sealed under the data key of their own row (privacy.vault).

Tickets move OPEN -> ANSWERED (a staff message) -> OPEN (the owner writes again);
either side closes; only the owner reopens a closed ticket.

Services flush and never commit; expected refusals raise DomainError subclasses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.models import Application, ApplicationStatus
from domain.audit.service import record
from domain.enterprises.models import Enterprise
from domain.feedback import repository as repo
from domain.feedback.models import (
    MAX_SUBJECT,
    MAX_TEXT,
    RatedEvent,
    ServiceRating,
    SupportMessage,
    SupportTicket,
    TicketStatus,
)
from domain.identity.viewer import Viewer
from domain.lending.models import Loan
from domain.risk.models import AlertStatus, RiskAlert
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from privacy import keystore, vault
from privacy.keys import KeyProvider

# An application has been decided once it reached one of these (or has a first decision).
DECIDED = frozenset(
    {
        ApplicationStatus.APPROVED,
        ApplicationStatus.REJECTED,
        ApplicationStatus.APPEALED,
        ApplicationStatus.CONTRACT_SIGNED,
        ApplicationStatus.DISBURSED,
    }
)


class AlreadyRated(Conflict):
    code = "ALREADY_RATED"


class NotRatable(InvalidInput):
    """The event is the owner's but has not happened (yet)."""

    code = "NOT_RATABLE"


class TicketClosed(Conflict):
    code = "TICKET_CLOSED"


class InvalidTicketTransition(InvalidInput):
    code = "INVALID_TRANSITION"


@dataclass(frozen=True, slots=True)
class Event:
    kind: RatedEvent
    id: uuid.UUID
    enterprise_id: uuid.UUID
    institution_id: uuid.UUID


def _text(value: str | None, *, field: str, limit: int, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput("must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"at most {limit} characters", field=field)
    return text or None


async def _owned(session: AsyncSession, viewer: Viewer, enterprise_id: uuid.UUID | None) -> bool:
    if enterprise_id is None or viewer.user_id is None:
        return False
    enterprise = await session.get(Enterprise, enterprise_id)
    return enterprise is not None and enterprise.owner_id == viewer.user_id


async def rated_event(
    session: AsyncSession, viewer: Viewer, kind: RatedEvent, event_id: uuid.UUID
) -> Event:
    """The event, if it concerns an enterprise of the viewer and has happened.

    Someone else's event is refused exactly like a missing one: ids leak nothing.
    """
    missing = NotFound("no such event of yours", field="eventId")
    if kind is RatedEvent.APPLICATION_DECISION:
        application = await session.get(Application, event_id)
        if application is None or not await _owned(session, viewer, application.enterprise_id):
            raise missing
        if application.first_decided_at is None and application.status not in DECIDED:
            raise NotRatable("the application has not been decided yet", field="eventId")
        return Event(kind, application.id, application.enterprise_id, application.institution_id)
    if kind is RatedEvent.DISBURSEMENT:
        loan = await session.get(Loan, event_id)  # a loan exists once it is paid out
        if loan is None or not await _owned(session, viewer, loan.enterprise_id):
            raise missing
        return Event(kind, loan.id, loan.enterprise_id, loan.institution_id)
    alert = await session.get(RiskAlert, event_id)
    if alert is None or not await _owned(session, viewer, alert.enterprise_id):
        raise missing
    if alert.status is not AlertStatus.RESOLVED or alert.institution_id is None:
        raise NotRatable("the risk alert is not closed yet", field="eventId")
    assert alert.enterprise_id is not None  # _owned checked it
    return Event(kind, alert.id, alert.enterprise_id, alert.institution_id)


async def rate_service(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    kind: RatedEvent,
    event_id: uuid.UUID,
    score: int,
    comment: str | None,
    request_id: str | None,
    now: datetime | None = None,
) -> ServiceRating:
    if viewer.user_id is None:
        raise Forbidden("only a signed-in owner rates the service")
    if not 1 <= score <= 5:
        raise InvalidInput("a score from 1 to 5", field="score")
    text = _text(comment, field="comment", limit=MAX_TEXT, required=False)
    event = await rated_event(session, viewer, kind, event_id)
    if await repo.rating_of(session, kind, event.id) is not None:
        raise AlreadyRated("this event is rated already: one rating per event")
    rating_id = new_id()
    sealed = None
    if text is not None:
        key = await keystore.create(session, keys, rating_id, "service_rating")
        sealed = vault.seal(key, text, table="service_ratings", column="comment", row_id=rating_id)
    rating = ServiceRating(
        id=rating_id,
        event_kind=kind,
        event_id=event.id,
        enterprise_id=event.enterprise_id,
        institution_id=event.institution_id,
        rated_by=viewer.user_id,
        score=score,
        comment=sealed,
        rated_at=now or utcnow(),
    )
    session.add(rating)
    await session.flush()
    record(
        session,
        action="feedback.service_rated",
        entity_type="service_rating",
        entity_id=rating.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        event_kind=kind.value,
        event_id=str(event.id),
        score=score,
        commented=text is not None,
    )
    return rating


async def _message(
    session: AsyncSession,
    keys: KeyProvider,
    ticket: SupportTicket,
    *,
    author_id: uuid.UUID | None,
    from_staff: bool,
    body: str,
    now: datetime,
) -> SupportMessage:
    message_id = new_id()
    key = await keystore.create(session, keys, message_id, "support_message")
    message = SupportMessage(
        id=message_id,
        ticket_id=ticket.id,
        author_id=author_id,
        from_staff=from_staff,
        body=vault.seal(key, body, table="support_messages", column="body", row_id=message_id),
        at=now,
    )
    session.add(message)
    return message


async def open_ticket(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    application_id: uuid.UUID | None,
    loan_id: uuid.UUID | None,
    subject: str,
    message: str,
    request_id: str | None,
    now: datetime | None = None,
) -> SupportTicket:
    """An owner asks the institution about one of their applications or loans."""
    now = now or utcnow()
    if viewer.user_id is None:
        raise Forbidden("only a signed-in owner opens a ticket")
    if (application_id is None) == (loan_id is None):
        raise InvalidInput("name one application or one loan", field="applicationId")
    title = _text(subject, field="subject", limit=MAX_SUBJECT, required=True)
    body = _text(message, field="message", limit=MAX_TEXT, required=True)
    assert title is not None
    assert body is not None
    about: Application | Loan | None
    if application_id is not None:
        about = await session.get(Application, application_id)
        field = "applicationId"
    else:
        about = await session.get(Loan, loan_id)
        field = "loanId"
    if about is None or not await _owned(session, viewer, about.enterprise_id):
        raise NotFound("no such application or loan of yours", field=field)
    if isinstance(about, Application) and about.status is ApplicationStatus.DRAFT:
        raise InvalidInput("a draft is with no institution yet: submit it first", field=field)
    ticket_id = new_id()
    key = await keystore.create(session, keys, ticket_id, "support_ticket")
    ticket = SupportTicket(
        id=ticket_id,
        enterprise_id=about.enterprise_id,
        institution_id=about.institution_id,
        application_id=application_id,
        loan_id=loan_id,
        opened_by=viewer.user_id,
        subject=vault.seal(key, title, table="support_tickets", column="subject", row_id=ticket_id),
        status=TicketStatus.OPEN,
        opened_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    await _message(
        session, keys, ticket, author_id=viewer.user_id, from_staff=False, body=body, now=now
    )
    await session.flush()
    record(
        session,
        action="support.ticket_opened",
        entity_type="support_ticket",
        entity_id=ticket.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        application_id=str(application_id) if application_id else None,
        loan_id=str(loan_id) if loan_id else None,
    )
    return ticket


async def _ticket(
    session: AsyncSession, viewer: Viewer, ticket_id: uuid.UUID, expected_version: int | None
) -> tuple[SupportTicket, bool]:
    """The ticket (under the viewer's row rule) and whether the viewer acts as its owner."""
    ticket = await repo.ticket_for_update(session, viewer=viewer, ticket_id=ticket_id)
    if ticket is None:
        raise NotFound("no such ticket", field="ticketId")
    owner = await _owned(session, viewer, ticket.enterprise_id)
    if not owner and ticket.institution_id not in viewer.institution_ids:
        # Oversight roles read every ticket; only its owner and its institution write.
        raise Forbidden("only the ticket's owner and its institution's staff write to it")
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict(
            f"the ticket changed since you read it (version {expected_version}, now "
            f"{ticket.version}); reload it and try again"
        )
    return ticket, owner


async def post_message(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    ticket_id: uuid.UUID,
    message: str,
    expected_version: int | None,
    request_id: str | None,
    now: datetime | None = None,
) -> SupportTicket:
    """A message in the thread: the staff's answers it, the owner's opens it again."""
    now = now or utcnow()
    body = _text(message, field="message", limit=MAX_TEXT, required=True)
    assert body is not None
    ticket, owner = await _ticket(session, viewer, ticket_id, expected_version)
    if ticket.status is TicketStatus.CLOSED:
        raise TicketClosed("the ticket is closed: its owner may reopen it")
    staff = not owner
    await _message(
        session, keys, ticket, author_id=viewer.user_id, from_staff=staff, body=body, now=now
    )
    ticket.status = TicketStatus.ANSWERED if staff else TicketStatus.OPEN
    if staff and ticket.first_answered_at is None:
        ticket.first_answered_at = now
    ticket.updated_at = now
    await session.flush()
    record(
        session,
        action="support.message_posted",
        entity_type="support_ticket",
        entity_id=ticket.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        from_staff=staff,
    )
    return ticket


async def set_ticket_status(
    session: AsyncSession,
    *,
    viewer: Viewer,
    ticket_id: uuid.UUID,
    status: TicketStatus,
    expected_version: int | None,
    request_id: str | None,
    now: datetime | None = None,
) -> SupportTicket:
    """Either side closes; staff mark a ticket answered; only the owner reopens."""
    now = now or utcnow()
    ticket, owner = await _ticket(session, viewer, ticket_id, expected_version)
    before = ticket.status
    allowed = {
        (TicketStatus.OPEN, TicketStatus.CLOSED),
        (TicketStatus.ANSWERED, TicketStatus.CLOSED),
    }
    allowed |= {(TicketStatus.CLOSED, TicketStatus.OPEN)} if owner else set()
    allowed |= set() if owner else {(TicketStatus.OPEN, TicketStatus.ANSWERED)}
    if (before, status) not in allowed:
        raise InvalidTicketTransition(
            f"a ticket {before.value} does not become {status.value}"
            + (" (only its owner reopens it)" if status is TicketStatus.OPEN else ""),
            field="status",
        )
    ticket.status = status
    ticket.closed_at = now if status is TicketStatus.CLOSED else None
    ticket.updated_at = now
    await session.flush()
    record(
        session,
        action="support.ticket_status_changed",
        entity_type="support_ticket",
        entity_id=ticket.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        from_status=before.value,
        to_status=status.value,
    )
    return ticket
