"""A loan's newest staging: the stage, PD, LGD, EAD and ECL the last close gave it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.viewer import Viewer
from domain.provisioning.models import LoanStage


def visible(viewer: Viewer, rows: Any = LoanStage) -> ColumnElement[bool]:
    """Staff see their institution's stagings, platform roles all; borrowers none (the
    allowance is the lender's estimate, not the borrower's data)."""
    if viewer.sees_all_tenants:
        return true()
    if not viewer.institution_ids:
        return false()
    column: ColumnElement[uuid.UUID] = rows.institution_id
    return column.in_(viewer.institution_ids)


async def latest_by_loan_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[LoanStage]:
    """Each loan's staging at its newest close date: one statement for the batch (the
    (loan, date) primary key answers both the maximum and the row)."""
    newest = (
        select(LoanStage.loan_id, func.max(LoanStage.as_of).label("as_of"))
        .where(LoanStage.loan_id.in_(ids))
        .group_by(LoanStage.loan_id)
        .subquery()
    )
    stmt = select(LoanStage).join(
        newest, (newest.c.loan_id == LoanStage.loan_id) & (newest.c.as_of == LoanStage.as_of)
    )
    return (await session.scalars(stmt.where(visible(viewer)))).all()
