"""Every SQL statement of the applications context. Row scoping happens here, in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.models import (
    Application,
    ApplicationStatus,
    Contract,
    Decision,
    DecisionOutcome,
    Transition,
)
from domain.enterprises import repository as enterprises
from domain.identity.viewer import Viewer
from kernel.pagination import Keyset, Page, first_n_per_group, page_from

NEWEST = Keyset("newest", (Application.id,), descending=True)

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class ApplicationFilter:
    statuses: Sequence[ApplicationStatus] | None = None
    institution_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None


def visible(viewer: Viewer, rows: type[Application] = Application) -> ColumnElement[bool]:
    """Staff see applications routed to their institution once submitted; owners their own.

    A draft is the applicant's own until it is submitted: no institution sees it.
    ``rows`` may be an alias (the compiled read path nests applications in other rows).
    """
    if viewer.sees_all_tenants:
        return true()
    conditions = []
    if viewer.institution_ids:
        conditions.append(
            and_(
                rows.institution_id.in_(viewer.institution_ids),
                rows.status != ApplicationStatus.DRAFT,
            )
        )
    if viewer.user_id is not None:
        conditions.append(rows.enterprise_id.in_(enterprises.owned_by(viewer.user_id)))
    return or_(*conditions) if conditions else false()


def scoped(stmt: Select[*Ts], viewer: Viewer) -> Select[*Ts]:
    return stmt.where(visible(viewer))


def listing(viewer: Viewer, flt: ApplicationFilter) -> Select[Any]:
    """The applications a list shows: the viewer's rows, filtered (unordered)."""
    stmt = scoped(select(Application), viewer)
    if flt.statuses:
        stmt = stmt.where(Application.status.in_(flt.statuses))
    if flt.institution_id is not None:
        stmt = stmt.where(Application.institution_id == flt.institution_id)
    if flt.enterprise_id is not None:
        stmt = stmt.where(Application.enterprise_id == flt.enterprise_id)
    if flt.product_id is not None:
        stmt = stmt.where(Application.product_id == flt.product_id)
    return stmt


async def list_applications(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: ApplicationFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[Application]:
    stmt = NEWEST.apply(listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_applications(
    session: AsyncSession, *, viewer: Viewer, flt: ApplicationFilter
) -> int:
    stmt = select(func.count()).select_from(listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def applications_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Application]:
    stmt = scoped(select(Application).where(Application.id.in_(ids)), viewer)
    return (await session.scalars(stmt)).all()


async def first_applications_per_enterprise(
    session: AsyncSession,
    *,
    viewer: Viewer,
    enterprise_ids: Sequence[uuid.UUID],
    first: int,
    after: tuple[Any, ...] | None,
) -> Sequence[Application]:
    """The first ``first + 1`` visible applications of each enterprise, in one statement."""
    stmt = scoped(select(Application).where(Application.enterprise_id.in_(enterprise_ids)), viewer)
    if after is not None:
        stmt = stmt.where(NEWEST.after_condition(after))
    stmt = first_n_per_group(
        stmt,
        entity=Application,
        partition_by=Application.enterprise_id,
        keyset=NEWEST,
        limit=first + 1,
    )
    return (await session.scalars(stmt)).all()


async def decisions_by_application_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Decision]:
    stmt = (
        select(Decision)
        .where(Decision.application_id.in_(ids))
        .order_by(Decision.application_id, Decision.created_at, Decision.id)
    )
    return (await session.scalars(stmt)).all()


async def count_applications_per_enterprise(
    session: AsyncSession, *, viewer: Viewer, enterprise_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Visible applications per enterprise, in one grouped statement."""
    stmt = scoped(
        select(Application.enterprise_id, func.count())
        .where(Application.enterprise_id.in_(enterprise_ids))
        .group_by(Application.enterprise_id),
        viewer,
    )
    return {eid: int(n) for eid, n in (await session.execute(stmt)).all()}


async def application_for_change(
    session: AsyncSession, *, viewer: Viewer, application_id: uuid.UUID
) -> Application | None:
    """One application the viewer may see, loaded to be changed under its version."""
    stmt = scoped(select(Application).where(Application.id == application_id), viewer)
    return (await session.scalars(stmt)).one_or_none()


async def deciders(session: AsyncSession, application_id: uuid.UUID) -> set[uuid.UUID]:
    """Officers who approved or rejected the application so far (requests for more
    information are not decisions on the credit)."""
    stmt = select(Decision.officer_id).where(
        Decision.application_id == application_id,
        Decision.outcome.in_((DecisionOutcome.APPROVE, DecisionOutcome.REJECT)),
    )
    return set((await session.scalars(stmt)).all())


async def transitions_by_application_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Transition]:
    stmt = (
        select(Transition)
        .where(Transition.application_id.in_(ids))
        .order_by(Transition.application_id, Transition.at, Transition.id)
    )
    return (await session.scalars(stmt)).all()


async def contracts_by_application_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Contract]:
    return (await session.scalars(select(Contract).where(Contract.application_id.in_(ids)))).all()


async def contract_of(session: AsyncSession, application_id: uuid.UUID) -> Contract | None:
    stmt = select(Contract).where(Contract.application_id == application_id)
    return (await session.scalars(stmt)).one_or_none()
