"""Every SQL statement of the identity context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.models import Institution


async def institutions_by_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Institution]:
    # Institutions are public: their name, code, kind and region head the catalog.
    return (await session.scalars(select(Institution).where(Institution.id.in_(ids)))).all()
