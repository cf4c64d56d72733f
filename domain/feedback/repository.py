"""Every SQL statement of feedback: the row rules and the figures."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enterprises.repository import owned_by
from domain.feedback.models import (
    RatedEvent,
    ServiceRating,
    SupportMessage,
    SupportTicket,
    TicketStatus,
)
from domain.identity.viewer import Viewer
from kernel.pagination import Keyset, Page, page_from

NEWEST_TICKETS = Keyset("newest", (SupportTicket.opened_at, SupportTicket.id), descending=True)
NEWEST_RATINGS = Keyset("newest", (ServiceRating.rated_at, ServiceRating.id), descending=True)


def _scope(viewer: Viewer, institution_id: Any, enterprise_id: Any) -> ColumnElement[bool]:
    """Owners see what concerns their enterprises; staff what concerns their institutions;
    the oversight roles (auditors, privacy officers, platform admins and risk officers)
    everything. A verification officer's view across tenants stops at enterprises."""
    if viewer.oversees_platform:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if viewer.institution_ids:
        conditions.append(institution_id.in_(viewer.institution_ids))
    if viewer.user_id is not None:
        conditions.append(enterprise_id.in_(owned_by(viewer.user_id)))
    return or_(*conditions) if conditions else false()


def tickets_visible(viewer: Viewer) -> ColumnElement[bool]:
    return _scope(viewer, SupportTicket.institution_id, SupportTicket.enterprise_id)


def ratings_visible(viewer: Viewer) -> ColumnElement[bool]:
    return _scope(viewer, ServiceRating.institution_id, ServiceRating.enterprise_id)


@dataclass(frozen=True, slots=True)
class TicketFilter:
    statuses: Sequence[TicketStatus] | None = None
    institution_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class RatingFilter:
    institution_id: uuid.UUID | None = None
    event_kinds: Sequence[RatedEvent] | None = None


def ticket_listing(flt: TicketFilter, viewer: Viewer) -> Select[Any]:
    stmt = select(SupportTicket).where(tickets_visible(viewer))
    if flt.statuses:
        stmt = stmt.where(SupportTicket.status.in_(flt.statuses))
    if flt.institution_id is not None:
        stmt = stmt.where(SupportTicket.institution_id == flt.institution_id)
    return stmt


def rating_listing(flt: RatingFilter, viewer: Viewer) -> Select[Any]:
    stmt = select(ServiceRating).where(ratings_visible(viewer))
    if flt.event_kinds:
        stmt = stmt.where(ServiceRating.event_kind.in_(flt.event_kinds))
    if flt.institution_id is not None:
        stmt = stmt.where(ServiceRating.institution_id == flt.institution_id)
    return stmt


async def page_of(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    keyset: Keyset,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[Any]:
    found = keyset.apply(stmt, after=after, limit=first + 1)
    return page_from((await session.scalars(found)).all(), first)


async def count_of(session: AsyncSession, stmt: Select[Any]) -> int:
    counted = select(func.count()).select_from(stmt.subquery())
    return int((await session.execute(counted)).scalar_one())


async def tickets_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[SupportTicket]:
    stmt = select(SupportTicket).where(SupportTicket.id.in_(ids), tickets_visible(viewer))
    return (await session.scalars(stmt)).all()


async def ratings_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[ServiceRating]:
    stmt = select(ServiceRating).where(ServiceRating.id.in_(ids), ratings_visible(viewer))
    return (await session.scalars(stmt)).all()


async def ticket_for_update(
    session: AsyncSession, *, viewer: Viewer, ticket_id: uuid.UUID
) -> SupportTicket | None:
    """The ticket if the viewer may see it (else None, as if absent), locked."""
    stmt = (
        select(SupportTicket)
        .where(SupportTicket.id == ticket_id, tickets_visible(viewer))
        .with_for_update()
    )
    return await session.scalar(stmt)


async def messages_of(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> Sequence[SupportMessage]:
    stmt = (
        select(SupportMessage)
        .where(SupportMessage.ticket_id.in_(ticket_ids))
        .order_by(SupportMessage.at, SupportMessage.id)
    )
    return (await session.scalars(stmt)).all()


async def rating_of(
    session: AsyncSession, kind: RatedEvent, event_id: uuid.UUID
) -> ServiceRating | None:
    stmt = select(ServiceRating).where(
        ServiceRating.event_kind == kind, ServiceRating.event_id == event_id
    )
    return await session.scalar(stmt)


# ------------------------------------------------------------------------ figures


def _institutions(
    column: Any, institutions: frozenset[uuid.UUID] | None, institution_id: uuid.UUID | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if institutions is not None:
        conditions.append(column.in_(institutions) if institutions else false())
    if institution_id is not None:
        conditions.append(column == institution_id)
    return conditions


async def score_counts(
    session: AsyncSession,
    *,
    institutions: frozenset[uuid.UUID] | None,
    institution_id: uuid.UUID | None,
    since: datetime,
    until: datetime,
) -> list[tuple[uuid.UUID, int, int]]:
    """(institution, score, ratings) of the ratings given in [since, until)."""
    stmt = (
        select(ServiceRating.institution_id, ServiceRating.score, func.count())
        .where(
            ServiceRating.rated_at >= since,
            ServiceRating.rated_at < until,
            *_institutions(ServiceRating.institution_id, institutions, institution_id),
        )
        .group_by(ServiceRating.institution_id, ServiceRating.score)
    )
    return [(i, int(s), int(n)) for i, s, n in (await session.execute(stmt)).all()]


async def ticket_times(
    session: AsyncSession,
    *,
    institutions: frozenset[uuid.UUID] | None,
    institution_id: uuid.UUID | None,
    since: datetime,
    until: datetime,
) -> list[tuple[uuid.UUID, datetime, datetime | None, datetime | None]]:
    """(institution, opened, first answered, closed) of every ticket opened or closed in
    [since, until)."""
    opened = (SupportTicket.opened_at >= since) & (SupportTicket.opened_at < until)
    closed = (SupportTicket.closed_at >= since) & (SupportTicket.closed_at < until)
    stmt = select(
        SupportTicket.institution_id,
        SupportTicket.opened_at,
        SupportTicket.first_answered_at,
        SupportTicket.closed_at,
    ).where(
        or_(opened, closed),
        *_institutions(SupportTicket.institution_id, institutions, institution_id),
    )
    return [(i, o, a, c) for i, o, a, c in (await session.execute(stmt)).all()]
