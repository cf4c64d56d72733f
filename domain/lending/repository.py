"""Every SQL statement of the lending context. Row scoping happens here, in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.enterprises import repository as enterprises
from domain.identity.viewer import Viewer
from domain.lending.models import DelinquencyBucket, Installment, Loan, LoanStatus, Repayment
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (Loan.id,), descending=True)

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class LoanFilter:
    statuses: Sequence[LoanStatus] | None = None
    buckets: Sequence[DelinquencyBucket] | None = None
    institution_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None


def visible(viewer: Viewer, rows: type[Loan] = Loan) -> ColumnElement[bool]:
    """Staff see their institution's loans; owners see their enterprises' loans.

    ``rows`` may be an alias (the compiled read path nests loans in other rows).
    """
    if viewer.sees_all_tenants:
        return true()
    conditions = []
    if viewer.institution_ids:
        conditions.append(rows.institution_id.in_(viewer.institution_ids))
    if viewer.user_id is not None:
        conditions.append(rows.enterprise_id.in_(enterprises.owned_by(viewer.user_id)))
    return or_(*conditions) if conditions else false()


def scoped(stmt: Select[*Ts], viewer: Viewer) -> Select[*Ts]:
    return stmt.where(visible(viewer))


def listing(viewer: Viewer, flt: LoanFilter) -> Select[Any]:
    """The loans a list shows: the viewer's rows, filtered (unordered)."""
    stmt = scoped(select(Loan), viewer)
    if flt.statuses:
        stmt = stmt.where(Loan.status.in_(flt.statuses))
    if flt.buckets:
        stmt = stmt.where(Loan.delinquency_bucket.in_(flt.buckets))
    if flt.institution_id is not None:
        stmt = stmt.where(Loan.institution_id == flt.institution_id)
    if flt.enterprise_id is not None:
        stmt = stmt.where(Loan.enterprise_id == flt.enterprise_id)
    return stmt


async def list_loans(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: LoanFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[Loan]:
    stmt = NEWEST.apply(listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_loans(session: AsyncSession, *, viewer: Viewer, flt: LoanFilter) -> int:
    stmt = select(func.count()).select_from(listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def loans_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Loan]:
    stmt = scoped(select(Loan).where(Loan.id.in_(ids)), viewer)
    return (await session.scalars(stmt)).all()


async def loans_by_application_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Loan]:
    stmt = scoped(select(Loan).where(Loan.application_id.in_(ids)), viewer)
    return (await session.scalars(stmt)).all()


async def installments_by_loan_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Installment]:
    stmt = (
        select(Installment)
        .where(Installment.loan_id.in_(ids))
        .order_by(Installment.loan_id, Installment.sequence)
    )
    return (await session.scalars(stmt)).all()


async def repayments_by_loan_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Repayment]:
    stmt = (
        select(Repayment)
        .where(Repayment.loan_id.in_(ids))
        .order_by(Repayment.loan_id, Repayment.paid_on, Repayment.id)
    )
    return (await session.scalars(stmt)).all()


def active_loans() -> Select[uuid.UUID, uuid.UUID]:
    """(enterprise, institution) of every loan whose contract is being performed: the one
    definition, narrowed to a page (``active_loan_institutions``) or to a row (the
    compiled read path's correlated subquery)."""
    loan = aliased(Loan)
    return select(loan.enterprise_id, loan.institution_id).where(loan.status == LoanStatus.ACTIVE)


async def active_loan_institutions(
    session: AsyncSession, enterprise_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Institutions each enterprise has an active loan with (a contract being performed)."""
    loans = active_loans()
    stmt = loans.where(loans.selected_columns.enterprise_id.in_(enterprise_ids))
    found: dict[uuid.UUID, set[uuid.UUID]] = {}
    for enterprise_id, institution_id in (await session.execute(stmt)).all():
        found.setdefault(enterprise_id, set()).add(institution_id)
    return found


async def repayment_by_key(
    session: AsyncSession, *, loan_id: uuid.UUID, key: str
) -> Repayment | None:
    stmt = select(Repayment).where(Repayment.loan_id == loan_id, Repayment.idempotency_key == key)
    return (await session.scalars(stmt)).one_or_none()


async def installments_of(session: AsyncSession, loan_id: uuid.UUID) -> Sequence[Installment]:
    stmt = select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.sequence)
    return (await session.scalars(stmt)).all()


async def latest_repayment_day(session: AsyncSession, loan_id: uuid.UUID) -> date | None:
    """The day of the latest payment still standing (a reversed one allocated nothing)."""
    stmt = select(func.max(Repayment.paid_on)).where(
        Repayment.loan_id == loan_id, Repayment.reversed_on.is_(None)
    )
    found: date | None = await session.scalar(stmt)
    return found


async def latest_standing_repayment(session: AsyncSession, loan_id: uuid.UUID) -> Repayment | None:
    """The payment recorded last and not reversed: the one whose allocation is on top."""
    stmt = (
        select(Repayment)
        .where(Repayment.loan_id == loan_id, Repayment.reversed_on.is_(None))
        .order_by(Repayment.created_at.desc(), Repayment.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).one_or_none()
