"""Reading the audit log: newest first, filtered in SQL, for auditors and privacy officers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.models import AuditEntry
from domain.identity.viewer import Viewer
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (AuditEntry.id,), descending=True)


@dataclass(frozen=True, slots=True)
class AuditLogFilter:
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    actor_id: uuid.UUID | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def visible(viewer: Viewer) -> Any:
    """The log tells who did what across every institution: platform roles read it."""
    return true() if viewer.oversees_platform else false()


def _listing(viewer: Viewer, flt: AuditLogFilter) -> Select[Any]:
    stmt = select(AuditEntry).where(visible(viewer))
    if flt.action is not None:
        stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == flt.entity_type)
    if flt.entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == flt.entity_id)
    if flt.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == flt.actor_id)
    if flt.since is not None:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditEntry.at < flt.until)
    return stmt


async def audit_log(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: AuditLogFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[AuditEntry]:
    stmt = NEWEST.apply(_listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_audit_log(session: AsyncSession, *, viewer: Viewer, flt: AuditLogFilter) -> int:
    stmt = select(func.count()).select_from(_listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())
