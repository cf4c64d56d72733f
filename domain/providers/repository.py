"""Every SQL statement of external data. Rows are the enterprise's: whoever may see the
enterprise (``domain.enterprises.repository.visible``) may see what was fetched about it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.enterprises.models import Enterprise
from domain.enterprises.repository import visible as enterprise_visible
from domain.identity.viewer import Viewer
from domain.providers.models import ExternalDataRecord


async def records_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[ExternalDataRecord]:
    owner = aliased(Enterprise)
    stmt = select(ExternalDataRecord).where(
        ExternalDataRecord.id.in_(ids),
        exists().where(
            owner.id == ExternalDataRecord.enterprise_id, enterprise_visible(viewer, owner)
        ),
    )
    return (await session.scalars(stmt)).all()


async def newest_by_enterprise_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[ExternalDataRecord]:
    """The newest record of each kind for enterprises the caller already holds.

    Ids are time-ordered, so the newest of a kind is the one no later row of that
    enterprise and kind follows.
    """
    later = aliased(ExternalDataRecord)
    stmt = (
        select(ExternalDataRecord)
        .where(
            ExternalDataRecord.enterprise_id.in_(ids),
            ~exists().where(
                later.enterprise_id == ExternalDataRecord.enterprise_id,
                later.kind == ExternalDataRecord.kind,
                later.id > ExternalDataRecord.id,
            ),
        )
        .order_by(ExternalDataRecord.enterprise_id, ExternalDataRecord.kind)
    )
    return (await session.scalars(stmt)).all()
