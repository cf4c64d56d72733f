"""Every SQL statement of the contracts context. Rows are scoped through their loan."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.contracts.models import (
    AmendmentStatus,
    ContractVersion,
    LoanAmendment,
    LoanTermination,
    TerminationKind,
)
from domain.identity.viewer import Viewer
from domain.lending import repository as lending
from domain.lending.models import Loan


def visible(viewer: Viewer, rows: type[LoanAmendment] = LoanAmendment) -> ColumnElement[bool]:
    """An amendment is seen by whoever sees its loan."""
    return rows.loan_id.in_(select(Loan.id).where(lending.visible(viewer)))


async def amendments_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[LoanAmendment]:
    stmt = select(LoanAmendment).where(LoanAmendment.id.in_(ids), visible(viewer))
    return (await session.scalars(stmt)).all()


async def amendments_by_loan_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[LoanAmendment]:
    """Reached from a loan the viewer sees, so not scoped again; oldest first."""
    stmt = (
        select(LoanAmendment)
        .where(LoanAmendment.loan_id.in_(ids))
        .order_by(LoanAmendment.loan_id, LoanAmendment.proposed_at, LoanAmendment.id)
    )
    return (await session.scalars(stmt)).all()


async def versions_by_loan_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[ContractVersion]:
    stmt = (
        select(ContractVersion)
        .where(ContractVersion.loan_id.in_(ids))
        .order_by(ContractVersion.loan_id, ContractVersion.number)
    )
    return (await session.scalars(stmt)).all()


async def latest_version(session: AsyncSession, loan_id: uuid.UUID) -> ContractVersion | None:
    stmt = (
        select(ContractVersion)
        .where(ContractVersion.loan_id == loan_id)
        .order_by(ContractVersion.number.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).one_or_none()


async def withdraw_pending(session: AsyncSession, *, loan_id: uuid.UUID, at: object) -> int:
    """Withdraw every proposal still waiting on a loan (a newer one replaces them)."""
    stmt = (
        update(LoanAmendment)
        .where(LoanAmendment.loan_id == loan_id, LoanAmendment.status == AmendmentStatus.PROPOSED)
        .values(
            status=AmendmentStatus.WITHDRAWN,
            withdrawn_at=at,
            version=LoanAmendment.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def termination_of(
    session: AsyncSession, loan_id: uuid.UUID, kind: TerminationKind
) -> LoanTermination | None:
    stmt = select(LoanTermination).where(
        LoanTermination.loan_id == loan_id, LoanTermination.kind == kind
    )
    return (await session.scalars(stmt)).first()


async def terminations_by_loan_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[LoanTermination]:
    stmt = (
        select(LoanTermination)
        .where(LoanTermination.loan_id.in_(ids))
        .order_by(LoanTermination.loan_id, LoanTermination.at, LoanTermination.id)
    )
    return (await session.scalars(stmt)).all()
