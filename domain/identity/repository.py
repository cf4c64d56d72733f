"""Every SQL statement of the identity context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.models import (
    AuthSession,
    Institution,
    LoginThrottle,
    Membership,
    OneTimeToken,
    OutboxMessage,
    PolicyRule,
    RecoveryCode,
    RefreshToken,
    Role,
    ServiceAccount,
    TokenPurpose,
    User,
    UserStatus,
)
from domain.identity.viewer import Viewer
from kernel.errors import NotFound
from kernel.pagination import Keyset, Page, page_from


async def institutions_by_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[Institution]:
    # Institutions are public: their name, code, kind and region head the catalog.
    return (await session.scalars(select(Institution).where(Institution.id.in_(ids)))).all()


def manages(viewer: Viewer) -> ColumnElement[bool]:
    """Institutions the viewer oversees (platform roles) or administers."""
    if viewer.sees_all_tenants:
        return true()
    mine = [i for i, roles in viewer.institution_roles.items() if Role.INSTITUTION_ADMIN in roles]
    return Institution.id.in_(mine) if mine else false()


async def managed_institutions(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Institution]:
    stmt = select(Institution).where(Institution.id.in_(ids), manages(viewer))
    return (await session.scalars(stmt)).all()


async def institution_by_code(session: AsyncSession, code: str) -> Institution | None:
    return await session.scalar(select(Institution).where(Institution.code == code))


async def institution_codes(session: AsyncSession) -> Sequence[str]:
    return (await session.scalars(select(Institution.code))).all()


async def user_by_email_index(session: AsyncSession, email_bidx: Sequence[str]) -> User | None:
    """The user whose email has one of these blind indexes (one per live index key)."""
    return await session.scalar(select(User).where(User.email_bidx.in_(email_bidx)))


async def memberships_of(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[Role, uuid.UUID | None, str | None]]:
    """(role, institution id, institution code) for every role the user holds."""
    stmt = (
        select(Membership.role, Membership.institution_id, Institution.code)
        .outerjoin(Institution, Institution.id == Membership.institution_id)
        .where(Membership.user_id == user_id)
    )
    return [(r, i, c) for r, i, c in (await session.execute(stmt)).all()]


async def active_user_in_session(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[User, list[tuple[Role, uuid.UUID | None, str | None]], int] | None:
    """The user, its roles and how many roles a suspension withholds, if the account is
    active and its login session is not revoked.

    One statement: the account, the session check and every role at once. A role held
    within a suspended institution is left out (and counted): suspending blocks staff.
    """
    stmt = (
        select(
            User,
            Membership.role,
            Membership.institution_id,
            Institution.code,
            Institution.suspended_at,
        )
        .join(AuthSession, AuthSession.user_id == User.id)
        .outerjoin(Membership, Membership.user_id == User.id)
        .outerjoin(Institution, Institution.id == Membership.institution_id)
        .where(
            User.id == user_id,
            User.status == UserStatus.ACTIVE,
            AuthSession.id == session_id,
            AuthSession.revoked_at.is_(None),
        )
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    grants: list[tuple[Role, uuid.UUID | None, str | None]] = [
        (role, iid, code) for _, role, iid, code, suspended in rows if role and suspended is None
    ]
    withheld = sum(role is not None and suspended is not None for _, role, _, _, suspended in rows)
    return rows[0][0], grants, withheld


async def active_service_account(
    session: AsyncSession, account_id: uuid.UUID
) -> tuple[ServiceAccount, str] | None:
    stmt = (
        select(ServiceAccount, Institution.code)
        .join(Institution, Institution.id == ServiceAccount.institution_id)
        .where(
            ServiceAccount.id == account_id,
            ServiceAccount.disabled_at.is_(None),
            Institution.suspended_at.is_(None),
        )
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def service_account_by_client_id(
    session: AsyncSession, client_id: str
) -> ServiceAccount | None:
    return await session.scalar(select(ServiceAccount).where(ServiceAccount.client_id == client_id))


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def one_time_token_by_hash(
    session: AsyncSession, token_hash: str, purpose: TokenPurpose
) -> OneTimeToken | None:
    stmt = select(OneTimeToken).where(
        OneTimeToken.token_hash == token_hash, OneTimeToken.purpose == purpose
    )
    return await session.scalar(stmt)


async def unused_recovery_codes(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[RecoveryCode]:
    stmt = select(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
    )
    return (await session.scalars(stmt)).all()


async def revoke_session(
    session: AsyncSession, session_id: uuid.UUID, *, reason: str, now: datetime
) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def throttle_rows(session: AsyncSession, keys: Sequence[str]) -> Sequence[LoginThrottle]:
    return (await session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))).all()


async def count_failure(session: AsyncSession, key: str, *, now: datetime) -> int:
    """Add one failure to ``key`` atomically; the new count."""
    result = await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(failures=LoginThrottle.failures + 1, updated_at=now)
        .returning(LoginThrottle.failures)
    )
    failures = result.scalar()
    if failures is None:
        session.add(LoginThrottle(key=key, failures=1, updated_at=now))
        await session.flush()
        return 1
    return int(failures)


async def lock(session: AsyncSession, key: str, *, until: datetime) -> None:
    await session.execute(
        update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=until)
    )


async def clear_throttle(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


async def outbox(session: AsyncSession, *, unsent_only: bool) -> Sequence[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if unsent_only:
        stmt = stmt.where(OutboxMessage.sent_at.is_(None))
    return (await session.scalars(stmt)).all()


async def policy_rules(session: AsyncSession) -> Sequence[PolicyRule]:
    stmt = select(PolicyRule).order_by(
        PolicyRule.ptype, PolicyRule.v0, PolicyRule.v2, PolicyRule.id
    )
    return (await session.scalars(stmt)).all()


async def policy_rules_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> Sequence[PolicyRule]:
    """The policy is one for every viewer: who reads it is Casbin's to say."""
    return (await session.scalars(select(PolicyRule).where(PolicyRule.id.in_(ids)))).all()


async def policy_rule_exists(session: AsyncSession, values: dict[str, str]) -> bool:
    stmt = select(PolicyRule.id).filter_by(**values).limit(1)
    return (await session.scalar(stmt)) is not None


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


def known_people(viewer: Viewer) -> ColumnElement[bool]:
    """The people a record the viewer reads may name to them (createdBy, actor, assignee):
    themselves; for the platform's oversight roles, anyone; for institution staff, the
    people holding a role in one of their institutions. Nobody else, whatever the record.
    """
    if viewer.oversees_platform:
        return true()
    known: list[ColumnElement[bool]] = []
    if viewer.user_id is not None:
        known.append(User.id == viewer.user_id)
    if viewer.institution_ids:
        colleagues = select(Membership.user_id).where(
            Membership.institution_id.in_(viewer.institution_ids)
        )
        known.append(User.id.in_(colleagues))
    return or_(*known) if known else false()


Grants = list[tuple[Role, uuid.UUID | None, str | None]]


async def people(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[User, Grants]]:
    """The people of ``ids`` the viewer may know (:func:`known_people`), with the roles the
    viewer may know of: all of their own and, for oversight roles, anyone's; for staff,
    only the roles held in the viewer's institutions. Two statements for any number."""
    users = (
        await session.scalars(select(User).where(User.id.in_(ids), known_people(viewer)))
    ).all()
    if not users:
        return {}
    stmt = (
        select(Membership.user_id, Membership.role, Membership.institution_id, Institution.code)
        .outerjoin(Institution, Institution.id == Membership.institution_id)
        .where(Membership.user_id.in_([u.id for u in users]))
        .order_by(Membership.user_id, Membership.role, Institution.code)
    )
    grants: dict[uuid.UUID, Grants] = {u.id: [] for u in users}
    for user_id, role, institution_id, code in (await session.execute(stmt)).all():
        everything = viewer.oversees_platform or user_id == viewer.user_id
        if everything or institution_id in viewer.institution_ids:
            grants[user_id].append((role, institution_id, code))
    return {u.id: (u, grants[u.id]) for u in users}


# ---------------------------------------------------------------- accounts


async def institution_for_update(session: AsyncSession, institution_id: uuid.UUID) -> Institution:
    row = await session.get(Institution, institution_id, with_for_update=True)
    if row is None:
        raise NotFound("no such institution", field="institutionId")
    return row


def staff_of(institution_id: uuid.UUID, viewer: Viewer) -> Select[Any]:
    """The people holding a role in the institution, if the viewer may manage them.

    Platform roles see every institution's staff; others only where they are admins.
    """
    managed = select(Institution.id).where(Institution.id == institution_id, manages(viewer))
    held = select(Membership.user_id).where(Membership.institution_id.in_(managed))
    return select(User).where(User.id.in_(held))


async def staff_page(
    session: AsyncSession,
    *,
    viewer: Viewer,
    institution_id: uuid.UUID,
    keyset: Keyset,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[User]:
    stmt = keyset.apply(staff_of(institution_id, viewer), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_staff(session: AsyncSession, *, viewer: Viewer, institution_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(staff_of(institution_id, viewer).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def memberships_in(
    session: AsyncSession, *, user_ids: Sequence[uuid.UUID], institution_id: uuid.UUID
) -> Sequence[tuple[uuid.UUID, Role, str]]:
    """(user id, role, institution code) of the roles these people hold in the institution."""
    stmt = (
        select(Membership.user_id, Membership.role, Institution.code)
        .join(Institution, Institution.id == Membership.institution_id)
        .where(Membership.user_id.in_(user_ids), Membership.institution_id == institution_id)
        .order_by(Membership.user_id, Membership.role)
    )
    return [(u, r, c) for u, r, c in (await session.execute(stmt)).all()]


async def open_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int
) -> Sequence[AuthSession]:
    stmt = (
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .order_by(AuthSession.created_at.desc(), AuthSession.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def revoke_sessions_of(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    reason: str,
    now: datetime,
    keep: uuid.UUID | None = None,
) -> int:
    """End every open session of the user (but ``keep``); how many were open."""
    stmt = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep)
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def remove_membership(
    session: AsyncSession, *, user_id: uuid.UUID, institution_id: uuid.UUID | None, role: Role
) -> bool:
    condition = (
        Membership.institution_id.is_(None)
        if institution_id is None
        else Membership.institution_id == institution_id
    )
    result = await session.execute(
        delete(Membership).where(Membership.user_id == user_id, Membership.role == role, condition)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
