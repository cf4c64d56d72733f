"""Every SQL statement of the risk context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import repository as applications
from domain.applications.models import Application
from domain.identity.viewer import Viewer
from domain.pagination import Keyset, first_n_per_group
from domain.risk.models import RiskAssessment

LATEST = Keyset("latest", (RiskAssessment.assessed_at, RiskAssessment.id), descending=True)


async def latest_assessments_by_application_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[RiskAssessment]:
    """The newest assessment of each application the caller already holds."""
    stmt = first_n_per_group(
        select(RiskAssessment).where(
            RiskAssessment.application_id.in_(ids), RiskAssessment.shadow.is_(False)
        ),
        entity=RiskAssessment,
        partition_by=RiskAssessment.application_id,
        keyset=LATEST,
        limit=1,
    )
    return (await session.scalars(stmt)).all()


async def assessments_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[RiskAssessment]:
    """Assessments whose application the viewer may see."""
    visible = applications.scoped(select(Application.id), viewer)
    stmt = select(RiskAssessment).where(
        RiskAssessment.id.in_(ids), RiskAssessment.application_id.in_(visible)
    )
    return (await session.scalars(stmt)).all()
