"""Support tickets and service ratings: an owner's own, an institution's, everyone's for
the oversight roles; rows scoped in SQL (domain.feedback.repository)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from sqlalchemy import Select

from api.access import classified
from api.context import Context
from api.feedback.types import ServiceRating, SupportTicket
from api.relay import Connection, ListingRequest, decode_pk, listed
from domain.feedback import repository as repo
from domain.feedback.models import RatedEvent, TicketStatus

NodeT = TypeVar("NodeT")


def _listed(
    ctx: Context, stmt: Select[Any], request: ListingRequest[Any], to_node: Callable[[Any], NodeT]
) -> Awaitable[Connection[NodeT]]:
    """A page of a scoped statement's rows and, when asked, their count."""
    return listed(
        ctx.sessions,
        request,
        page=lambda s: repo.page_of(
            s, stmt, keyset=request.keyset, first=request.first, after=request.after
        ),
        count=lambda s: repo.count_of(s, stmt),
        to_node=to_node,
    )


@strawberry.input
class SupportTicketFilter:
    statuses: list[TicketStatus] | None = None
    institution_id: strawberry.ID | None = None


@strawberry.input
class ServiceRatingFilter:
    event_kinds: list[RatedEvent] | None = None
    institution_id: strawberry.ID | None = None


@classified(public=["support_tickets", "service_ratings"])
@strawberry.type
class FeedbackQueries:
    @strawberry.field(
        description="Tickets you may see, newest first: your own (owners), your "
        "institution's (staff), every one (oversight)."
    )
    async def support_tickets(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: SupportTicketFilter | None = None,
    ) -> Connection[SupportTicket]:
        ctx = info.context
        flt = repo.TicketFilter(
            statuses=filter.statuses if filter else None,
            institution_id=decode_pk(
                filter.institution_id if filter else None, "Institution", field="institutionId"
            ),
        )
        request = ListingRequest.read(
            ctx.settings, keyset=repo.NEWEST_TICKETS, flt=flt, first=first, after=after
        )
        stmt = repo.ticket_listing(flt, ctx.viewer)
        return await _listed(ctx, stmt, request, SupportTicket.from_row)

    @strawberry.field(
        description="Ratings you may see, newest first: your own (owners), your "
        "institution's (staff), every one (oversight)."
    )
    async def service_ratings(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: ServiceRatingFilter | None = None,
    ) -> Connection[ServiceRating]:
        ctx = info.context
        flt = repo.RatingFilter(
            event_kinds=filter.event_kinds if filter else None,
            institution_id=decode_pk(
                filter.institution_id if filter else None, "Institution", field="institutionId"
            ),
        )
        request = ListingRequest.read(
            ctx.settings, keyset=repo.NEWEST_RATINGS, flt=flt, first=first, after=after
        )
        stmt = repo.rating_listing(flt, ctx.viewer)
        return await _listed(ctx, stmt, request, ServiceRating.from_row)
