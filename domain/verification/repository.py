"""Every SQL statement of verification."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enterprises.models import Enterprise
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.verification.models import (
    CaseStatus,
    VerificationCase,
    VerificationDocument,
    VerificationEvent,
)
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (VerificationCase.created_at, VerificationCase.id), descending=True)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    statuses: Sequence[CaseStatus] | None = None
    enterprise_id: uuid.UUID | None = None


def visible(viewer: Viewer, rows: type[VerificationCase] = VerificationCase) -> ColumnElement[bool]:
    """Officers and other platform roles see every case; a person sees the cases they
    brought and those about the enterprises they own (a dispute against them too)."""
    if viewer.sees_all_tenants:
        return true()
    if viewer.user_id is None:
        return false()
    owned = exists().where(
        Enterprise.id == rows.enterprise_id, Enterprise.owner_id == viewer.user_id
    )
    return or_(rows.claimant_id == viewer.user_id, owned)


def cases(flt: CaseFilter, viewer: Viewer) -> Select[Any]:
    stmt = select(VerificationCase).where(visible(viewer))
    if flt.statuses:
        stmt = stmt.where(VerificationCase.status.in_(flt.statuses))
    if flt.enterprise_id is not None:
        stmt = stmt.where(VerificationCase.enterprise_id == flt.enterprise_id)
    return stmt


async def list_cases(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: CaseFilter,
    keyset: Keyset,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[VerificationCase]:
    stmt = keyset.apply(cases(flt, viewer), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_cases(session: AsyncSession, *, viewer: Viewer, flt: CaseFilter) -> int:
    stmt = select(func.count()).select_from(cases(flt, viewer).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def cases_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[VerificationCase]:
    stmt = select(VerificationCase).where(VerificationCase.id.in_(ids), visible(viewer))
    return (await session.scalars(stmt)).all()


async def case_for_update(session: AsyncSession, case_id: uuid.UUID) -> VerificationCase | None:
    return await session.get(VerificationCase, case_id, with_for_update=True)


async def open_case_of(
    session: AsyncSession, *, enterprise_id: uuid.UUID, claimant_id: uuid.UUID
) -> VerificationCase | None:
    stmt = select(VerificationCase).where(
        VerificationCase.enterprise_id == enterprise_id,
        VerificationCase.claimant_id == claimant_id,
        VerificationCase.status.in_((CaseStatus.SUBMITTED, CaseStatus.MORE_INFO_REQUESTED)),
    )
    return await session.scalar(stmt.limit(1))


async def open_cases_about(
    session: AsyncSession, *, enterprise_id: uuid.UUID, but: uuid.UUID
) -> Sequence[VerificationCase]:
    stmt = select(VerificationCase).where(
        VerificationCase.enterprise_id == enterprise_id,
        VerificationCase.id != but,
        VerificationCase.status.in_((CaseStatus.SUBMITTED, CaseStatus.MORE_INFO_REQUESTED)),
    )
    return (await session.scalars(stmt)).all()


async def documents_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> Sequence[VerificationDocument]:
    stmt = (
        select(VerificationDocument)
        .where(VerificationDocument.case_id.in_(case_ids))
        .order_by(VerificationDocument.created_at, VerificationDocument.id)
    )
    return (await session.scalars(stmt)).all()


async def events_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> Sequence[VerificationEvent]:
    stmt = (
        select(VerificationEvent)
        .where(VerificationEvent.case_id.in_(case_ids))
        .order_by(VerificationEvent.at, VerificationEvent.id)
    )
    return (await session.scalars(stmt)).all()


async def enterprise_by_code(session: AsyncSession, code: str) -> Enterprise | None:
    return await session.scalar(
        select(Enterprise).where(Enterprise.unified_social_credit_code == code)
    )


def is_officer(viewer: Viewer) -> bool:
    return Role.VERIFICATION_OFFICER in viewer.platform_roles
