"""Onboarding institutions, managing staff, and each person's password and sessions.

Services flush and never commit (one transaction per mutation, in the API). Who may act
is decided by Casbin with the institution as the domain (``service.authorised_in``);
these functions only add the rules Casbin cannot state: nobody changes their own roles
or status, and a person holding roles in several institutions is managed only by
someone entitled in every one of them.

Suspending an institution writes one column; the viewer query leaves the institution's
roles out and the catalog query its products, so a suspension applies on the next
request. On PostgreSQL the change to ``institutions`` NOTIFYs every worker (migration
0017), which drops the viewers it kept (api.viewers).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity import people, role_grants, security
from domain.identity import repository as repo
from domain.identity.authorization import PLATFORM, Authorizer, Principal
from domain.identity.models import (
    INSTITUTION_ROLES,
    AuthSession,
    Institution,
    InstitutionKind,
    Role,
    RoleGrantChange,
    TokenPurpose,
    User,
    UserStatus,
)
from domain.identity.service import Origin, authorised_in, normalise_email, one_time_token, redeem
from domain.identity.viewer import Viewer
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import Keyset
from privacy import keystore, vault
from privacy.keys import KeyProvider

RESET_TTL = timedelta(hours=1)
STAFF_ORDER = Keyset("staff", (User.created_at, User.id))
# Roles an institution admin hands out within the institution; platform roles are
# handed out platform-wide by those whose platform grant allows it.
GRANTABLE_IN_INSTITUTION = frozenset({Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN})
GRANTABLE_ON_PLATFORM = frozenset(Role) - INSTITUTION_ROLES - {Role.SME_OWNER}
SESSIONS_SHOWN = 50
_CODE = re.compile(r"^[A-Z][A-Z0-9]{2,15}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")


# ---------------------------------------------------------------- institutions


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    email: str
    phone: str


@dataclass(frozen=True, slots=True)
class InstitutionTerms:
    """What a platform admin sets for an institution; None leaves a value as it is."""

    name: str | None = None
    region: str | None = None
    regions: Sequence[str] | None = None
    licence_number: str | None = None
    four_eyes_threshold: Decimal | None = None
    contact: Contact | None = None


def _checked(terms: InstitutionTerms) -> list[tuple[str, str]]:
    problems = []
    if terms.name is not None and not 1 <= len(terms.name.strip()) <= 200:
        problems.append(("name", "the name needs 1 to 200 characters"))
    if terms.region is not None and not 1 <= len(terms.region.strip()) <= 64:
        problems.append(("region", "the region needs 1 to 64 characters"))
    if terms.regions is not None and (
        len(terms.regions) > 64 or any(not 1 <= len(r.strip()) <= 64 for r in terms.regions)
    ):
        problems.append(("regions", "at most 64 regions of 1 to 64 characters each"))
    if terms.licence_number is not None and not 4 <= len(terms.licence_number.strip()) <= 64:
        problems.append(("licenceNumber", "the licence number needs 4 to 64 characters"))
    if terms.four_eyes_threshold is not None and not (
        terms.four_eyes_threshold.is_finite() and Decimal(0) <= terms.four_eyes_threshold < 10**15
    ):
        problems.append(("fourEyesThreshold", "a threshold from 0 below 10^15"))
    if terms.contact is not None:
        if not 1 <= len(terms.contact.name.strip()) <= 100:
            problems.append(("contact.name", "the contact's name needs 1 to 100 characters"))
        try:
            normalise_email(terms.contact.email)
        except InvalidInput:
            problems.append(("contact.email", "the contact's email address is not valid"))
        if not _PHONE.match(terms.contact.phone.strip()):
            problems.append(("contact.phone", "a phone number of 6 to 20 digits"))
    return problems


async def _apply(
    session: AsyncSession, keys: KeyProvider, row: Institution, terms: InstitutionTerms
) -> list[str]:
    """Write the terms given onto the row; the names of the columns that changed."""
    changed = []
    for column, value in (
        ("name", terms.name),
        ("region", terms.region),
        ("licence_number", terms.licence_number),
    ):
        if value is not None and getattr(row, column) != value.strip():
            setattr(row, column, value.strip())
            changed.append(column)
    if terms.regions is not None:
        regions = sorted({r.strip() for r in terms.regions})
        if regions != row.regions:
            row.regions = regions
            changed.append("regions")
    if terms.four_eyes_threshold is not None:
        threshold = terms.four_eyes_threshold.quantize(Decimal("0.01"))
        if threshold != row.four_eyes_threshold:
            row.four_eyes_threshold = threshold
            changed.append("four_eyes_threshold")
    if terms.contact is not None:
        key = (await keystore.unwrap_many(session, keys, [row.id]))[row.id]
        if key is None:
            key = await keystore.create(session, keys, row.id, "institution")
        contact = terms.contact
        for column, value in (
            ("contact_name", contact.name.strip()),
            ("contact_email", normalise_email(contact.email)),
            ("contact_phone", contact.phone.strip()),
        ):
            setattr(
                row,
                column,
                vault.seal(key, value, table="institutions", column=column, row_id=row.id),
            )
        changed.append("contact")
    return changed


async def create_institution(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    code: str,
    kind: InstitutionKind,
    terms: InstitutionTerms,
    origin: Origin,
) -> Institution:
    code = code.strip().upper()
    problems = [] if _CODE.match(code) else [("code", "3 to 16 capital letters and digits")]
    problems += _checked(terms)
    for field, value in (("name", terms.name), ("region", terms.region)):
        if value is None:
            problems.append((field, f"the {field} is required"))
    if problems:
        raise InvalidInput.of_problems(problems)
    if await repo.institution_by_code(session, code) is not None:
        raise Conflict(f"an institution with code {code} exists already")
    row = Institution(
        id=new_id(),
        code=code,
        name="",
        kind=kind,
        region="",
        regions=[],
        four_eyes_threshold=terms.four_eyes_threshold or Decimal("500000.00"),
    )
    session.add(row)
    await session.flush()
    await _apply(session, keys, row, terms)
    await session.flush()
    record(
        session,
        action="institution.created",
        entity_type="institution",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        code=code,
    )
    return row


async def configure_institution(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    institution_id: uuid.UUID,
    terms: InstitutionTerms,
    origin: Origin,
) -> Institution:
    problems = _checked(terms)
    if problems:
        raise InvalidInput.of_problems(problems)
    row = await repo.institution_for_update(session, institution_id)
    changed = await _apply(session, keys, row, terms)
    await session.flush()
    if changed:
        record(
            session,
            action="institution.configured",
            entity_type="institution",
            entity_id=row.id,
            actor_id=viewer.user_id,
            request_id=origin.request_id,
            changed=changed,
        )
    return row


async def suspend_institution(
    session: AsyncSession,
    *,
    viewer: Viewer,
    institution_id: uuid.UUID,
    reason: str,
    origin: Origin,
    now: datetime | None = None,
) -> Institution:
    reason = reason.strip()
    if not 3 <= len(reason) <= 500:
        raise InvalidInput("give a reason of 3 to 500 characters", field="reason")
    row = await repo.institution_for_update(session, institution_id)
    if row.suspended_at is not None:
        raise Conflict("the institution is suspended already")
    row.suspended_at = now or utcnow()
    row.suspension_reason = reason
    await session.flush()
    record(
        session,
        action="institution.suspended",
        entity_type="institution",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        reason=reason,
    )
    return row


async def reactivate_institution(
    session: AsyncSession, *, viewer: Viewer, institution_id: uuid.UUID, origin: Origin
) -> Institution:
    row = await repo.institution_for_update(session, institution_id)
    if row.suspended_at is None:
        raise Conflict("the institution is not suspended")
    row.suspended_at = None
    row.suspension_reason = None
    await session.flush()
    record(
        session,
        action="institution.reactivated",
        entity_type="institution",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
    )
    return row


# ---------------------------------------------------------------- staff


async def _may_manage(
    session: AsyncSession,
    authorizer: Authorizer,
    viewer: Viewer,
    user_id: uuid.UUID,
    *,
    operation: str,
) -> User:
    """The user, if the viewer may run ``operation`` on them in every place they hold a role.

    A person with platform roles, or with none (an SME owner), is managed platform-wide.
    """
    user = await repo.user_by_id(session, user_id)
    if user is None:
        raise NotFound("no such user", field="userId")
    if user.id == viewer.user_id:
        raise InvalidInput("you cannot change your own account this way", field="userId")
    held = await repo.memberships_of(session, user.id)
    institutions = {iid for _, iid, _ in held if iid is not None}
    for institution_id in sorted(institutions):
        await authorised_in(
            session, authorizer, viewer, institution_id=institution_id, operation=operation
        )
    if not institutions or any(iid is None and role is not Role.SME_OWNER for role, iid, _ in held):
        _authorised_on_platform(authorizer, viewer, operation)
    return user


def _authorised_on_platform(authorizer: Authorizer, viewer: Viewer, operation: str) -> None:
    principal = viewer.principal()
    platform = tuple(g for g in principal.grants if g[1] == PLATFORM)
    allowed, _ = authorizer.allows(
        Principal(grants=platform, scopes=principal.scopes), operation, "write"
    )
    if not allowed:
        raise Forbidden(f"not allowed to {operation.split('.')[-1]} for this person")


async def set_user_status(
    session: AsyncSession,
    authorizer: Authorizer,
    *,
    viewer: Viewer,
    user_id: uuid.UUID,
    enabled: bool,
    reason: str | None,
    origin: Origin,
    now: datetime | None = None,
) -> User:
    """Disable (every session ends at once) or re-enable an account."""
    now = now or utcnow()
    operation = "Mutation.enableUser" if enabled else "Mutation.disableUser"
    user = await _may_manage(session, authorizer, viewer, user_id, operation=operation)
    if enabled:
        if user.status is not UserStatus.DISABLED:
            raise Conflict("the account is not disabled")
        user.status = UserStatus.ACTIVE
    else:
        if user.status is UserStatus.DISABLED:
            raise Conflict("the account is disabled already")
        user.status = UserStatus.DISABLED
        await repo.revoke_sessions_of(session, user.id, reason="disabled", now=now)
    await session.flush()
    record(
        session,
        action="user.enabled" if enabled else "user.disabled",
        entity_type="user",
        entity_id=user.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        reason=reason,
    )
    return user


def _grantable(role: Role, institution_id: uuid.UUID | None) -> None:
    if institution_id is not None and role not in GRANTABLE_IN_INSTITUTION:
        raise InvalidInput(
            "within an institution: loan_officer, risk_officer or institution_admin", field="role"
        )
    if institution_id is None and role not in GRANTABLE_ON_PLATFORM:
        raise InvalidInput(f"{role.value} is held within an institution: give one", field="role")


async def change_role(
    session: AsyncSession,
    authorizer: Authorizer,
    *,
    viewer: Viewer,
    user_id: uuid.UUID,
    role: Role,
    institution_id: uuid.UUID | None,
    grant: bool,
    origin: Origin,
) -> User | RoleGrantChange:
    """Revoke one role at once (the user), or propose granting it (the pending change,
    ``domain.identity.role_grants``): within an institution or (None) platform-wide."""
    _grantable(role, institution_id)
    operation = "Mutation.grantRole" if grant else "Mutation.revokeRole"
    if institution_id is not None:
        await authorised_in(
            session, authorizer, viewer, institution_id=institution_id, operation=operation
        )
    else:
        _authorised_on_platform(authorizer, viewer, operation)
    user = await repo.user_by_id(session, user_id)
    if user is None:
        raise NotFound("no such user", field="userId")
    if user.id == viewer.user_id:
        raise InvalidInput("you cannot change your own roles", field="userId")
    if grant:
        return await role_grants.propose(
            session,
            viewer=viewer,
            user_id=user.id,
            role=role,
            institution_id=institution_id,
            origin=origin,
        )
    if not await repo.remove_membership(
        session, user_id=user.id, institution_id=institution_id, role=role
    ):
        raise Conflict("the person does not hold that role")
    await session.flush()
    record(
        session,
        action="role.revoked",
        entity_type="user",
        entity_id=user.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        role=role.value,
        institution_id=str(institution_id) if institution_id else None,
    )
    return user


async def revoke_user_sessions(
    session: AsyncSession,
    authorizer: Authorizer,
    *,
    viewer: Viewer,
    user_id: uuid.UUID,
    origin: Origin,
    now: datetime | None = None,
) -> int:
    user = await _may_manage(
        session, authorizer, viewer, user_id, operation="Mutation.revokeUserSessions"
    )
    ended = await repo.revoke_sessions_of(session, user.id, reason="revoked", now=now or utcnow())
    record(
        session,
        action="sessions.revoked",
        entity_type="user",
        entity_id=user.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        sessions=ended,
    )
    return ended


# ---------------------------------------------------------------- one's own account


async def _set_password(
    session: AsyncSession, keys: KeyProvider, user: User, new_password: str
) -> None:
    own = await people.opened(session, keys, user)
    security.check_password_policy(new_password, email=own.get("email", ""), field="newPassword")
    user.password_hash = security.hash_password(new_password)


async def change_password(
    session: AsyncSession,
    *,
    viewer: Viewer,
    current_password: str,
    new_password: str,
    keys: KeyProvider,
    origin: Origin,
    now: datetime | None = None,
) -> bool:
    """True when changed; False when the current password is wrong. Other sessions end."""
    if viewer.user_id is None:
        raise Forbidden("a service account has no password")
    user = await repo.user_by_id(session, viewer.user_id)
    if user is None or not security.verify_password(user.password_hash, current_password):
        return False
    await _set_password(session, keys, user, new_password)
    ended = await repo.revoke_sessions_of(
        session, user.id, reason="password_changed", now=now or utcnow(), keep=viewer.session_id
    )
    record(
        session,
        action="password.changed",
        entity_type="user",
        entity_id=user.id,
        actor_id=user.id,
        request_id=origin.request_id,
        other_sessions_ended=ended,
    )
    return True


async def request_password_reset(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    email: str,
    origin: Origin,
    now: datetime | None = None,
) -> str:
    """Mail a single-use reset token to an active account. The answer is the same whether
    or not the address has one, so it tells nobody who is registered."""
    now = now or utcnow()
    email = normalise_email(email)
    user = await people.find_by_email(session, keys, email)
    if user is None or user.status is not UserStatus.ACTIVE:
        return email
    token = await one_time_token(
        session, user=user, purpose=TokenPurpose.PASSWORD_RESET, ttl=RESET_TTL, now=now
    )
    await people.send_mail(
        session,
        keys,
        user,
        to=email,
        subject="Reset your LendGraph password",
        body=f"Set a new password with this token (valid 1 hour, once): {token}. "
        "If you did not ask for it, ignore this mail; your password stays as it is.",
    )
    record(
        session,
        action="password.reset_requested",
        entity_type="user",
        entity_id=user.id,
        request_id=origin.request_id,
        address=origin.address,
    )
    return email


async def reset_password(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    token: str,
    new_password: str,
    origin: Origin,
    now: datetime | None = None,
) -> bool:
    """Spend a reset token on a new password; every session of the account ends."""
    now = now or utcnow()
    row = await redeem(session, token, TokenPurpose.PASSWORD_RESET, now)
    if row is None:
        return False
    user = await repo.user_by_id(session, row.user_id)
    if user is None or user.status is not UserStatus.ACTIVE:
        return False
    await _set_password(session, keys, user, new_password)
    await repo.revoke_sessions_of(session, user.id, reason="password_reset", now=now)
    record(
        session,
        action="password.reset",
        entity_type="user",
        entity_id=user.id,
        actor_id=user.id,
        request_id=origin.request_id,
    )
    await session.flush()
    return True


async def own_sessions(session: AsyncSession, *, viewer: Viewer) -> Sequence[AuthSession]:
    if viewer.user_id is None:
        return ()
    return await repo.open_sessions(session, viewer.user_id, limit=SESSIONS_SHOWN)


async def end_own_session(
    session: AsyncSession,
    *,
    viewer: Viewer,
    session_id: uuid.UUID,
    origin: Origin,
    now: datetime | None = None,
) -> None:
    row = await session.get(AuthSession, session_id)
    # Someone else's session is as unknown as a missing one.
    if row is None or row.user_id != viewer.user_id:
        raise NotFound("no such session", field="sessionId")
    if row.revoked_at is not None:
        raise Conflict("the session has ended already")
    await repo.revoke_session(session, row.id, reason="ended_by_user", now=now or utcnow())
    record(
        session,
        action="session.ended",
        entity_type="auth_session",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
    )
