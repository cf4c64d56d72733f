"""Break-glass: an emergency reveal of withheld personal data, justified and reviewed.

A privacy officer or platform admin states a reason and gets, for a limited time
(default one hour, at most a day), the values of one subject revealed whatever the
masking policy and consent say (field permissions still apply). Every grant is in
the audit log with its reason, and stays on the review list until a second, different
officer acknowledges it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.enterprises.models import Enterprise
from domain.identity.viewer import Viewer
from domain.privacy.models import BreakGlassGrant
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound

DEFAULT_TTL = timedelta(hours=1)
MAX_TTL = timedelta(hours=24)


async def grant(
    session: AsyncSession,
    *,
    viewer_id: uuid.UUID,
    subject_id: uuid.UUID,
    reason: str,
    ttl: timedelta = DEFAULT_TTL,
    request_id: str | None = None,
    now: datetime | None = None,
) -> BreakGlassGrant:
    now = now or utcnow()
    reason = reason.strip()
    if len(reason) < 20:
        raise InvalidInput("state the emergency in at least 20 characters", field="reason")
    if not timedelta(minutes=1) <= ttl <= MAX_TTL:
        raise InvalidInput(
            "a break-glass grant lasts between 1 minute and 24 hours", field="minutes"
        )
    row = BreakGlassGrant(
        viewer_id=viewer_id,
        subject_id=subject_id,
        reason=reason,
        granted_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        action="break_glass.granted",
        entity_type="subject",
        entity_id=subject_id,
        actor_id=viewer_id,
        request_id=request_id,
        reason=reason,
        expires_at=row.expires_at.isoformat(),
    )
    return row


async def acknowledge(
    session: AsyncSession,
    *,
    viewer_id: uuid.UUID,
    grant_id: uuid.UUID,
    request_id: str | None = None,
    now: datetime | None = None,
) -> BreakGlassGrant:
    row = await session.get(BreakGlassGrant, grant_id)
    if row is None:
        raise NotFound("no such break-glass grant")
    if row.acknowledged_at is not None:
        raise Conflict("already acknowledged")
    if row.viewer_id == viewer_id:
        raise Forbidden("a second officer must review a break-glass grant")
    row.acknowledged_by, row.acknowledged_at = viewer_id, now or utcnow()
    record(
        session,
        action="break_glass.acknowledged",
        entity_type="break_glass",
        entity_id=row.id,
        actor_id=viewer_id,
        request_id=request_id,
    )
    return row


async def open_for(
    session: AsyncSession, *, viewer_id: uuid.UUID, subject_ids: Sequence[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """The subjects among ``subject_ids`` this viewer holds an unexpired grant for."""
    stmt = select(BreakGlassGrant.subject_id).where(
        BreakGlassGrant.viewer_id == viewer_id,
        BreakGlassGrant.subject_id.in_(subject_ids),
        BreakGlassGrant.expires_at > now,
    )
    return set((await session.scalars(stmt)).all())


async def awaiting_review(session: AsyncSession) -> Sequence[BreakGlassGrant]:
    stmt = (
        select(BreakGlassGrant)
        .where(BreakGlassGrant.acknowledged_at.is_(None))
        .order_by(BreakGlassGrant.granted_at)
    )
    return (await session.scalars(stmt)).all()


async def subject_types(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Whether each grant's subject is an Enterprise or a User (a grant names it by key)."""
    found = set((await session.scalars(select(Enterprise.id).where(Enterprise.id.in_(ids)))).all())
    return {i: "Enterprise" if i in found else "User" for i in ids}


async def grants_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[tuple[BreakGlassGrant, str]]:
    """Grants by id with their subject's type, for platform-wide viewers only (who
    reviews them); nobody else sees one."""
    if not viewer.sees_all_tenants:
        return []
    stmt = select(BreakGlassGrant).where(BreakGlassGrant.id.in_(ids))
    rows = (await session.scalars(stmt)).all()
    types = await subject_types(session, [r.subject_id for r in rows])
    return [(r, types[r.subject_id]) for r in rows]
