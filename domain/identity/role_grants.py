"""Role grants under four eyes: granting waits for a second admin, revoking is immediate.

Granting a role widens what a person may do, so ``propose`` stores it ``pending``
(``domain.four_eyes``) and the person holds nothing new yet. A second admin entitled
to grant in the same scope (an institution admin of that institution, or a platform
admin; for a platform-wide role, one whose platform grant allows granting) approves it
and only then is the membership added; a rejection leaves no membership. The maker
never checks their own proposal, and nobody approves a role for themselves. Revoking
narrows access and stays immediate (``accounts.change_role``).

Threat model: one admin, careless or coerced, must not hand anyone (an accomplice, a
second account of their own) a role alone. Every step is in the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import four_eyes
from domain.audit.service import record
from domain.four_eyes import PENDING
from domain.identity import repository as repo
from domain.identity.authorization import PLATFORM, Authorizer, Principal
from domain.identity.models import Membership, Role, RoleGrantChange
from domain.identity.service import Origin, authorised_in
from domain.identity.viewer import Viewer
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound

WHAT = "role grant"
OPERATION = "Mutation.grantRole"


def _audit(
    session: AsyncSession, action: str, change: RoleGrantChange, viewer: Viewer, origin: Origin
) -> None:
    record(
        session,
        action=action,
        entity_type="user",
        entity_id=change.user_id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        change_id=str(change.id),
        role=change.role.value,
        institution_id=str(change.institution_id) if change.institution_id else None,
        status=change.status,
    )


async def _entitled(
    session: AsyncSession,
    authorizer: Authorizer,
    viewer: Viewer,
    institution_id: uuid.UUID | None,
) -> None:
    """Refuse unless the viewer may grant roles in the scope (Forbidden otherwise): the
    same test the maker passed (``accounts.change_role``)."""
    if institution_id is not None:
        await authorised_in(
            session, authorizer, viewer, institution_id=institution_id, operation=OPERATION
        )
        return
    principal = viewer.principal()
    platform = tuple(g for g in principal.grants if g[1] == PLATFORM)
    allowed, _ = authorizer.allows(
        Principal(grants=platform, scopes=principal.scopes), OPERATION, "write"
    )
    if not allowed:
        raise Forbidden("not allowed to grant platform roles")


async def propose(
    session: AsyncSession,
    *,
    viewer: Viewer,
    user_id: uuid.UUID,
    role: Role,
    institution_id: uuid.UUID | None,
    origin: Origin,
    now: datetime | None = None,
) -> RoleGrantChange:
    """A pending grant (the caller has checked the maker's entitlement and the role)."""
    held = {(r, i) for r, i, _ in await repo.memberships_of(session, user_id)}
    if (role, institution_id) in held:
        raise Conflict("the person holds that role already")
    waiting = await session.scalar(
        select(RoleGrantChange.id).where(
            RoleGrantChange.user_id == user_id,
            RoleGrantChange.role == role,
            RoleGrantChange.institution_id.is_(None)
            if institution_id is None
            else RoleGrantChange.institution_id == institution_id,
            RoleGrantChange.status == PENDING,
        )
    )
    if waiting is not None:
        raise Conflict("the same grant already waits for approval")
    change = RoleGrantChange(
        user_id=user_id,
        role=role,
        institution_id=institution_id,
        status=four_eyes.initial_status(widens=True),
        created_by=viewer.user_id,
        created_at=now or utcnow(),
    )
    session.add(change)
    await session.flush()
    _audit(session, "role.grant_proposed", change, viewer, origin)
    return change


async def decide(
    session: AsyncSession,
    authorizer: Authorizer,
    *,
    viewer: Viewer,
    change_id: uuid.UUID,
    approve: bool,
    origin: Origin,
    now: datetime | None = None,
) -> RoleGrantChange:
    """A second admin of the grant's scope approves (the role is held) or rejects it."""
    pending = await session.get(RoleGrantChange, change_id)
    if pending is None or not _visible(viewer, pending):
        raise NotFound(f"no such {WHAT}")
    try:
        await _entitled(session, authorizer, viewer, pending.institution_id)
        entitled = True
    except Forbidden:
        entitled = False
    if approve and pending.user_id == viewer.user_id:
        raise InvalidInput("you cannot approve a role for yourself", field="id")
    checker = Role.INSTITUTION_ADMIN if pending.institution_id else Role.PLATFORM_ADMIN
    change = await four_eyes.decide(
        session,
        RoleGrantChange,
        change_id,
        viewer=viewer,
        checker=checker,
        checker_entitled=entitled,
        approve=approve,
        now=now or utcnow(),
        what=WHAT,
    )
    if approve:
        user = await repo.user_by_id(session, change.user_id)
        if user is None:
            raise Conflict("the person is gone")
        held = {(r, i) for r, i, _ in await repo.memberships_of(session, user.id)}
        if (change.role, change.institution_id) in held:
            raise Conflict("the person holds that role already")
        session.add(
            Membership(user_id=user.id, institution_id=change.institution_id, role=change.role)
        )
        await session.flush()
        record(
            session,
            action="role.granted",
            entity_type="user",
            entity_id=user.id,
            actor_id=viewer.user_id,
            request_id=origin.request_id,
            role=change.role.value,
            institution_id=str(change.institution_id) if change.institution_id else None,
            proposed_by=str(change.created_by) if change.created_by else None,
        )
    _audit(
        session,
        "role.grant_approved" if approve else "role.grant_rejected",
        change,
        viewer,
        origin,
    )
    return change


def _visible(viewer: Viewer, change: RoleGrantChange) -> bool:
    if viewer.oversees_platform:
        return True
    return change.institution_id is not None and Role.INSTITUTION_ADMIN in (
        viewer.institution_roles.get(change.institution_id, frozenset())
    )


def _scope(viewer: Viewer) -> list[uuid.UUID] | None:
    """The institutions whose grants the viewer sees; None for all (the platform's
    oversight roles; a verification officer's cross-tenant view stops at enterprises)."""
    if viewer.oversees_platform:
        return None
    return sorted(
        iid for iid, roles in viewer.institution_roles.items() if Role.INSTITUTION_ADMIN in roles
    )


async def changes(
    session: AsyncSession, *, viewer: Viewer, status: str | None = None, limit: int = 200
) -> Sequence[RoleGrantChange]:
    """Grants proposed, newest first: every one for the platform's oversight roles, else
    those of the institutions the viewer administers (scoped in SQL)."""
    stmt = select(RoleGrantChange).order_by(RoleGrantChange.id.desc()).limit(limit)
    scope = _scope(viewer)
    if scope is not None:
        if not scope:
            return []
        stmt = stmt.where(RoleGrantChange.institution_id.in_(scope))
    if status is not None:
        stmt = stmt.where(RoleGrantChange.status == status)
    return (await session.scalars(stmt)).all()


async def by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[RoleGrantChange]:
    """The changes named, for ``node(id:)``, scoped as the list."""
    if not ids:
        return []
    stmt = select(RoleGrantChange).where(RoleGrantChange.id.in_(ids))
    scope = _scope(viewer)
    if scope is not None:
        if not scope:
            return []
        stmt = stmt.where(RoleGrantChange.institution_id.in_(scope))
    return (await session.scalars(stmt)).all()
