"""Every SQL statement of the enterprises context. Row scoping happens here, in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.applications.models import Application, ApplicationStatus
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.identity.viewer import Viewer
from domain.privacy import preferences
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (Enterprise.id,), descending=True)

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class EnterpriseFilter:
    industry: str | None = None
    region: str | None = None
    owner_id: uuid.UUID | None = None
    # The blind indexes of a legal representative's id number (one per live index key):
    # an exact match, no decryption.
    legal_representative_id_bidx: tuple[str, ...] | None = None


def owned_by(user_id: uuid.UUID) -> Select[uuid.UUID]:
    """The ids of a person's enterprises, for row rules of what hangs off them."""
    mine = aliased(Enterprise)
    return select(mine.id).where(mine.owner_id == user_id)


def visible(viewer: Viewer, rows: type[Enterprise] = Enterprise) -> ColumnElement[bool]:
    """Owners see their enterprises; institution staff see those that applied to them,
    and so do its partner systems while the owner shares with providers.

    ``rows`` may be an alias (the compiled read path nests enterprises in other rows).
    """
    if viewer.sees_all_tenants:
        return true()
    conditions = []
    if viewer.user_id is not None:
        conditions.append(rows.owner_id == viewer.user_id)
    if viewer.institution_ids:
        applied = aliased(Application)
        applied_here: ColumnElement[bool] = exists().where(
            applied.enterprise_id == rows.id,
            applied.institution_id.in_(viewer.institution_ids),
            applied.status != ApplicationStatus.DRAFT,
        )
        if viewer.service_account_id is not None:  # a partner system: the owner may refuse
            applied_here = and_(
                applied_here, ~preferences.switched_off("share_with_providers", rows.owner_id)
            )
        conditions.append(applied_here)
    return or_(*conditions) if conditions else false()


def scoped(stmt: Select[*Ts], viewer: Viewer) -> Select[*Ts]:
    return stmt.where(visible(viewer))


def listing(viewer: Viewer, flt: EnterpriseFilter) -> Select[Any]:
    """The enterprises a list shows: the viewer's rows, filtered (unordered)."""
    stmt = scoped(select(Enterprise), viewer)
    if flt.industry is not None:
        stmt = stmt.where(Enterprise.industry == flt.industry)
    if flt.region is not None:
        stmt = stmt.where(Enterprise.region == flt.region)
    if flt.owner_id is not None:
        stmt = stmt.where(Enterprise.owner_id == flt.owner_id)
    if flt.legal_representative_id_bidx is not None:
        stmt = stmt.where(
            Enterprise.legal_representative_id_bidx.in_(flt.legal_representative_id_bidx)
        )
    return stmt


async def list_enterprises(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: EnterpriseFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[Enterprise]:
    stmt = NEWEST.apply(listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_enterprises(session: AsyncSession, *, viewer: Viewer, flt: EnterpriseFilter) -> int:
    stmt = select(func.count()).select_from(listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def enterprises_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Enterprise]:
    stmt = scoped(select(Enterprise).where(Enterprise.id.in_(ids)), viewer)
    return (await session.scalars(stmt)).all()


async def statements_by_enterprise_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[FinancialStatement]:
    """Statements of enterprises the caller already holds, newest year first."""
    stmt = (
        select(FinancialStatement)
        .where(FinancialStatement.enterprise_id.in_(ids))
        .order_by(FinancialStatement.enterprise_id, FinancialStatement.fiscal_year.desc())
    )
    return (await session.scalars(stmt)).all()


async def uscc_taken(session: AsyncSession, code: str) -> bool:
    stmt = select(Enterprise.id).where(Enterprise.unified_social_credit_code == code).limit(1)
    return (await session.scalar(stmt)) is not None


async def statement_for_year(
    session: AsyncSession, enterprise_id: uuid.UUID, fiscal_year: int
) -> FinancialStatement | None:
    stmt = select(FinancialStatement).where(
        FinancialStatement.enterprise_id == enterprise_id,
        FinancialStatement.fiscal_year == fiscal_year,
    )
    return (await session.scalars(stmt)).one_or_none()
