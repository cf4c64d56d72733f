"""Accounts, sign-in, sessions, invitations, service accounts and the policy.

Services flush and never commit: the API opens one transaction per mutation.
Expected refusals come back as values (the API maps them to union members) when
the transaction must still commit, e.g. a failed login that counts towards a lock;
otherwise they raise a DomainError and the transaction rolls back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity import people, security
from domain.identity import repository as repo
from domain.identity.authorization import (
    SCOPES,
    Authorizer,
    Principal,
    bump_version,
    validate_rule,
)
from domain.identity.models import (
    AuthSession,
    Membership,
    OneTimeToken,
    PolicyRule,
    RecoveryCode,
    RefreshToken,
    Role,
    ServiceAccount,
    TokenPurpose,
    User,
    UserStatus,
)
from domain.identity.viewer import STAFF_ROLES, Viewer
from domain.settings import Settings
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from privacy import vault
from privacy.keys import KeyProvider

CONFIRMATION_TTL = timedelta(hours=24)
INVITATION_TTL = timedelta(days=7)
MFA_TOKEN_TTL = 300
ACCOUNT_LOCK_AFTER = 5
ADDRESS_LOCK_AFTER = 20
LOCK_BASE = timedelta(seconds=30)
LOCK_MAX = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for throttling and the audit log."""

    address: str | None = None
    request_id: str | None = None


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    recovery_codes: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    mfa_token: str
    # Set when the staff member has no second factor yet: enrol with these.
    enrollment_secret: str | None = None
    enrollment_uri: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """Wrong email or password, unknown or used token: deliberately vague."""

    message: str


@dataclass(frozen=True, slots=True)
class Throttled:
    retry_after: int


LoginOutcome = Tokens | MfaChallenge | Refused | Throttled


# ---------------------------------------------------------------- sign-up


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or " " in email:
        raise InvalidInput("the email address is not valid", field="email")
    return email


async def one_time_token(
    session: AsyncSession,
    *,
    user: User,
    purpose: TokenPurpose,
    ttl: timedelta,
    now: datetime,
    institution_id: uuid.UUID | None = None,
    role: Role | None = None,
) -> str:
    token = security.new_secret()
    session.add(
        OneTimeToken(
            purpose=purpose,
            token_hash=security.digest(token),
            user_id=user.id,
            institution_id=institution_id,
            role=role,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


async def register(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    email: str,
    password: str,
    display_name: str,
    origin: Origin,
    now: datetime | None = None,
) -> str:
    """An SME owner signs up. The answer never says whether the address was taken."""
    now = now or utcnow()
    email = normalise_email(email)
    security.check_password_policy(password, email=email)
    display_name = display_name.strip()
    if not 1 <= len(display_name) <= 100:
        raise InvalidInput("the display name needs 1 to 100 characters", field="displayName")
    existing = await people.find_by_email(session, keys, email)
    if existing is not None:
        await people.send_mail(
            session,
            keys,
            existing,
            to=email,
            subject="Someone tried to register with your address",
            body="An account already exists for this address. Sign in, or ignore this mail.",
        )
        return email
    user = await people.new_user(
        session,
        keys,
        email=email,
        display_name=display_name,
        status=UserStatus.PENDING,
        password_hash=security.hash_password(password),
    )
    session.add(Membership(user_id=user.id, institution_id=None, role=Role.SME_OWNER))
    token = await one_time_token(
        session, user=user, purpose=TokenPurpose.CONFIRM_ACCOUNT, ttl=CONFIRMATION_TTL, now=now
    )
    await people.send_mail(
        session,
        keys,
        user,
        to=email,
        subject="Confirm your LendGraph account",
        body=f"Confirm your account with this token (valid 24 hours): {token}",
    )
    record(
        session,
        action="user.registered",
        entity_type="user",
        entity_id=user.id,
        actor_id=user.id,
        request_id=origin.request_id,
    )
    return email


async def redeem(
    session: AsyncSession, token: str, purpose: TokenPurpose, now: datetime
) -> OneTimeToken | None:
    row = await repo.one_time_token_by_hash(session, security.digest(token), purpose)
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    return row


async def confirm_account(
    session: AsyncSession, *, token: str, origin: Origin, now: datetime | None = None
) -> User | Refused:
    now = now or utcnow()
    row = await redeem(session, token, TokenPurpose.CONFIRM_ACCOUNT, now)
    if row is None:
        return Refused("the token is unknown, used or expired")
    user = await session.get(User, row.user_id)
    assert user is not None  # the foreign key cascades
    if user.status is UserStatus.PENDING:
        user.status = UserStatus.ACTIVE
    record(
        session,
        action="user.confirmed",
        entity_type="user",
        entity_id=user.id,
        actor_id=user.id,
        request_id=origin.request_id,
    )
    await session.flush()
    return user


# ---------------------------------------------------------------- sign-in


def _lock_for(failures: int, threshold: int) -> timedelta | None:
    if failures < threshold:
        return None
    lock: timedelta = min(LOCK_BASE * (2 ** (failures - threshold)), LOCK_MAX)
    return lock


def _throttle_keys(keys: KeyProvider, email_bidx: str, origin: Origin) -> list[str]:
    # Named by blind indexes: neither the email nor the client address at rest in clear.
    throttle = [f"account:{email_bidx}"]
    if origin.address:
        throttle.append(f"address:{vault.blind_index(keys, origin.address, column='address')}")
    return throttle


async def _throttled(session: AsyncSession, keys: list[str], now: datetime) -> Throttled | None:
    waits = [
        row.locked_until - now
        for row in await repo.throttle_rows(session, keys)
        if row.locked_until is not None and row.locked_until > now
    ]
    if waits:
        return Throttled(retry_after=int(max(waits).total_seconds()) + 1)
    return None


async def _fail(
    session: AsyncSession,
    keys: list[str],
    *,
    now: datetime,
    origin: Origin,
    user: User | None,
    reason: str,
) -> None:
    for key in keys:
        failures = await repo.count_failure(session, key, now=now)
        threshold = ACCOUNT_LOCK_AFTER if key.startswith("account:") else ADDRESS_LOCK_AFTER
        lock = _lock_for(failures, threshold)
        if lock is not None:
            await repo.lock(session, key, until=now + lock)
    record(
        session,
        action="login.failed",
        entity_type="user",
        # An unknown account is named by its throttle key (the email's blind index).
        entity_id=user.id if user else keys[0].removeprefix("account:")[:32],
        request_id=origin.request_id,
        reason=reason,
        address=origin.address,
    )


async def _is_staff(session: AsyncSession, user: User) -> bool:
    return any(role in STAFF_ROLES for role, _, _ in await repo.memberships_of(session, user.id))


async def _start_session(
    session: AsyncSession, settings: Settings, user: User, *, origin: Origin, now: datetime
) -> Tokens:
    auth = AuthSession(user_id=user.id, client_address=origin.address)
    session.add(auth)
    await session.flush()
    user.last_login_at = now
    record(
        session,
        action="login.succeeded",
        entity_type="user",
        entity_id=user.id,
        actor_id=user.id,
        request_id=origin.request_id,
        address=origin.address,
    )
    return await _issue(session, settings, user.id, auth.id, now=now)


async def _issue(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    *,
    now: datetime,
) -> Tokens:
    refresh = security.new_secret()
    session.add(
        RefreshToken(
            session_id=session_id,
            token_hash=security.digest(refresh),
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        )
    )
    await session.flush()
    access = security.mint_token(
        settings.signing_key(),
        subject=str(user_id),
        type="access",
        now=now,
        ttl=settings.access_token_ttl,
        session_id=session_id,
    )
    return Tokens(access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl)


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    origin: Origin,
    now: datetime | None = None,
) -> LoginOutcome:
    now = now or utcnow()
    email = email.strip().lower()
    personal_keys = settings.keys()
    keys = _throttle_keys(personal_keys, people.email_index(personal_keys, email), origin)
    throttled = await _throttled(session, keys, now)
    if throttled is not None:
        return throttled
    user = await people.find_by_email(session, personal_keys, email)
    ok = security.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or user.status is not UserStatus.ACTIVE:
        reason = "unknown" if user is None else ("password" if not ok else user.status.value)
        await _fail(session, keys, now=now, origin=origin, user=user, reason=reason)
        return Refused("the email or the password is wrong, or the account is not active")
    if await _is_staff(session, user):
        enrolling = user.mfa_enrolled_at is None
        secret = security.new_totp_secret() if enrolling else None
        if secret is not None:
            await people.set_mfa_secret(session, personal_keys, user, secret)
        mfa_token = security.mint_token(
            settings.signing_key(), subject=str(user.id), type="mfa", now=now, ttl=MFA_TOKEN_TTL
        )
        return MfaChallenge(
            mfa_token=mfa_token,
            enrollment_secret=secret,
            enrollment_uri=security.totp_uri(secret, email=email) if secret else None,
        )
    await repo.clear_throttle(session, keys[0])
    return await _start_session(session, settings, user, origin=origin, now=now)


async def verify_mfa(
    session: AsyncSession,
    settings: Settings,
    *,
    mfa_token: str,
    code: str | None,
    recovery_code: str | None,
    origin: Origin,
    now: datetime | None = None,
) -> LoginOutcome:
    now = now or utcnow()
    try:
        claims = security.read_token(
            settings.signing_key(), mfa_token, expected="mfa", now=now, max_lifetime=MFA_TOKEN_TTL
        )
    except security.InvalidToken as exc:
        return Refused(str(exc))
    user = await session.get(User, uuid.UUID(claims.subject))
    secret = await people.mfa_secret(session, settings.keys(), user) if user else None
    if user is None or user.status is not UserStatus.ACTIVE or secret is None:
        return Refused("the sign-in has expired; start again")
    keys = _throttle_keys(settings.keys(), user.email_bidx, origin)
    throttled = await _throttled(session, keys, now)
    if throttled is not None:
        return throttled
    enrolling = user.mfa_enrolled_at is None
    accepted = False
    if code:
        step = security.totp_step(secret, code.strip(), now=now, after=user.mfa_last_step)
        if step is not None:
            user.mfa_last_step = step
            accepted = True
    elif recovery_code and not enrolling:
        wanted = security.digest(security.normalise_recovery_code(recovery_code))
        for row in await repo.unused_recovery_codes(session, user.id):
            if security.same_digest(row.code_hash, wanted):
                row.used_at = now
                accepted = True
                break
    if not accepted:
        await _fail(session, keys, now=now, origin=origin, user=user, reason="mfa")
        return Refused("the code is wrong or was already used")
    codes: list[str] = []
    if enrolling:
        user.mfa_enrolled_at = now
        codes = security.new_recovery_codes()
        session.add_all(
            RecoveryCode(
                user_id=user.id, code_hash=security.digest(security.normalise_recovery_code(c))
            )
            for c in codes
        )
        record(
            session,
            action="mfa.enrolled",
            entity_type="user",
            entity_id=user.id,
            actor_id=user.id,
            request_id=origin.request_id,
        )
    await repo.clear_throttle(session, keys[0])
    tokens = await _start_session(session, settings, user, origin=origin, now=now)
    return Tokens(tokens.access_token, tokens.refresh_token, tokens.expires_in, codes)


async def refresh(
    session: AsyncSession,
    settings: Settings,
    *,
    refresh_token: str,
    origin: Origin,
    now: datetime | None = None,
) -> Tokens | Refused:
    """Rotate: the old token is spent; presenting a spent one again ends the session."""
    now = now or utcnow()
    row = await repo.refresh_token_by_hash(session, security.digest(refresh_token))
    if row is None:
        return Refused("the refresh token is not valid")
    auth = await session.get(AuthSession, row.session_id)
    assert auth is not None
    if row.used_at is not None:
        await repo.revoke_session(session, auth.id, reason="refresh_reuse", now=now)
        record(
            session,
            action="token.refresh_reused",
            entity_type="auth_session",
            entity_id=auth.id,
            actor_id=auth.user_id,
            request_id=origin.request_id,
            address=origin.address,
        )
        return Refused("the refresh token is not valid")
    if auth.revoked_at is not None or row.expires_at <= now:
        return Refused("the refresh token is not valid")
    user = await session.get(User, auth.user_id)
    if user is None or user.status is not UserStatus.ACTIVE:
        return Refused("the refresh token is not valid")
    row.used_at = now
    return await _issue(session, settings, user.id, auth.id, now=now)


async def logout(
    session: AsyncSession, *, viewer: Viewer, origin: Origin, now: datetime | None = None
) -> bool:
    if viewer.session_id is None:
        return False
    await repo.revoke_session(session, viewer.session_id, reason="logout", now=now or utcnow())
    record(
        session,
        action="logout",
        entity_type="auth_session",
        entity_id=viewer.session_id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
    )
    return True


# ---------------------------------------------------------------- tokens in, viewers out


async def viewer_from_token(
    session: AsyncSession, settings: Settings, token: str, *, now: datetime | None = None
) -> Viewer:
    """The viewer a bearer token stands for, read fresh from the database.

    Roles, account status and the login session are checked on every request, so a
    revoked session, a disabled account or a changed role takes effect at once.
    """
    return (await viewer_until(session, settings, token, now=now))[0]


async def viewer_until(
    session: AsyncSession, settings: Settings, token: str, *, now: datetime | None = None
) -> tuple[Viewer, datetime]:
    """The viewer a bearer token stands for, and when the token expires."""
    now = now or utcnow()
    try:
        claims = security.read_token(
            settings.signing_key(),
            token,
            expected="access",
            now=now,
            max_lifetime=settings.access_token_ttl,
        )
        subject = uuid.UUID(claims.subject)
    except (security.InvalidToken, ValueError) as exc:
        raise Unauthenticated(
            str(exc) if isinstance(exc, security.InvalidToken) else "the token is not valid"
        ) from None
    if claims.service:
        found = await repo.active_service_account(session, subject)
        if found is None:
            raise Unauthenticated("the service account is disabled")
        account, code = found
        service = Viewer(
            institution_roles={account.institution_id: frozenset({Role.PARTNER_SERVICE})},
            institution_codes={account.institution_id: code},
            service_account_id=account.id,
            scopes=claims.scopes & frozenset(account.scopes),
        )
        return service, claims.expires_at
    if claims.session_id is None:
        raise Unauthenticated("the token is not valid")
    signed_in = await repo.active_user_in_session(
        session, user_id=subject, session_id=claims.session_id
    )
    if signed_in is None:
        raise Unauthenticated("the session has ended; sign in again")
    user, grants, withheld = signed_in
    if withheld and not grants:
        raise Unauthenticated("the institution is suspended")
    return viewer_for_user(user, grants, session_id=claims.session_id), claims.expires_at


def viewer_for_user(
    user: User,
    grants: Sequence[tuple[Role, uuid.UUID | None, str | None]],
    *,
    session_id: uuid.UUID | None,
) -> Viewer:
    platform: set[Role] = set()
    by_institution: dict[uuid.UUID, set[Role]] = {}
    codes: dict[uuid.UUID, str] = {}
    for role, institution_id, code in grants:
        if institution_id is None:
            platform.add(role)
        else:
            by_institution.setdefault(institution_id, set()).add(role)
            codes[institution_id] = code or str(institution_id)
    return Viewer(
        user_id=user.id,
        platform_roles=frozenset(platform),
        institution_roles={k: frozenset(v) for k, v in by_institution.items()},
        institution_codes=codes,
        session_id=session_id,
    )


# ---------------------------------------------------------------- staff and systems


async def authorised_in(
    session: AsyncSession,
    authorizer: Authorizer,
    viewer: Viewer,
    *,
    institution_id: uuid.UUID,
    operation: str,
) -> str:
    """The institution's code, if the viewer may run ``operation`` within it.

    Casbin decides with the institution as the domain; platform grants count too.
    """
    institution = await repo.institutions_by_ids(session, ids=[institution_id])
    if not institution:
        raise NotFound("no such institution")
    code = institution[0].code
    principal = viewer.principal()
    in_domain = tuple(
        (subject, domain) for subject, domain in principal.grants if domain in ("*", code)
    )
    allowed, _ = authorizer.allows(
        Principal(grants=in_domain, scopes=principal.scopes), operation, "write"
    )
    if not allowed:
        raise Forbidden(f"not allowed to {operation.split('.')[-1]} for this institution")
    return code


@dataclass(frozen=True, slots=True)
class Invitation:
    email: str
    expires_at: datetime


async def invite_staff(
    session: AsyncSession,
    authorizer: Authorizer,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    email: str,
    role: Role,
    institution_id: uuid.UUID,
    origin: Origin,
    now: datetime | None = None,
) -> Invitation:
    now = now or utcnow()
    email = normalise_email(email)
    if role not in {Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN}:
        raise InvalidInput(
            "staff may be invited as loan_officer, risk_officer or institution_admin",
            field="role",
        )
    code = await authorised_in(
        session, authorizer, viewer, institution_id=institution_id, operation="Mutation.inviteStaff"
    )
    user = await people.find_by_email(session, keys, email)
    if user is None:
        user = await people.new_user(
            session,
            keys,
            email=email,
            display_name=email.split("@")[0],
            status=UserStatus.PENDING,
        )
    token = await one_time_token(
        session,
        user=user,
        purpose=TokenPurpose.STAFF_INVITATION,
        ttl=INVITATION_TTL,
        now=now,
        institution_id=institution_id,
        role=role,
    )
    await people.send_mail(
        session,
        keys,
        user,
        to=email,
        subject=f"You are invited to {code} on LendGraph",
        body=f"Accept the invitation as {role.value} with this token (valid 7 days): {token}",
    )
    record(
        session,
        action="staff.invited",
        entity_type="user",
        entity_id=user.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        role=role.value,
        institution=code,
    )
    return Invitation(email=email, expires_at=now + INVITATION_TTL)


async def accept_invitation(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    token: str,
    password: str,
    display_name: str | None,
    origin: Origin,
    now: datetime | None = None,
) -> User | Refused:
    now = now or utcnow()
    row = await redeem(session, token, TokenPurpose.STAFF_INVITATION, now)
    if row is None or row.role is None or row.institution_id is None:
        return Refused("the invitation is unknown, used or expired")
    user = await session.get(User, row.user_id)
    assert user is not None
    if user.password_hash is None:
        own = await people.opened(session, keys, user)
        security.check_password_policy(password, email=own.get("email", ""))
        user.password_hash = security.hash_password(password)
    elif not security.verify_password(user.password_hash, password):
        return Refused("give the password of your existing account to accept")
    if display_name and display_name.strip():
        await people.set_display_name(session, keys, user, display_name.strip()[:100])
    user.status = UserStatus.ACTIVE
    held = {(r, i) for r, i, _ in await repo.memberships_of(session, user.id)}
    if (row.role, row.institution_id) not in held:
        session.add(Membership(user_id=user.id, institution_id=row.institution_id, role=row.role))
    record(
        session,
        action="role.granted",
        entity_type="user",
        entity_id=user.id,
        actor_id=user.id,
        request_id=origin.request_id,
        role=row.role.value,
        institution_id=str(row.institution_id),
    )
    await session.flush()
    return user


@dataclass(frozen=True, slots=True)
class NewServiceAccount:
    account: ServiceAccount
    client_secret: str = field(repr=False)


async def create_service_account(
    session: AsyncSession,
    authorizer: Authorizer,
    *,
    viewer: Viewer,
    institution_id: uuid.UUID,
    name: str,
    scopes: Sequence[str],
    origin: Origin,
) -> NewServiceAccount:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be among {', '.join(sorted(SCOPES))}", field="scopes")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("the name needs 1 to 100 characters", field="name")
    code = await authorised_in(
        session,
        authorizer,
        viewer,
        institution_id=institution_id,
        operation="Mutation.createServiceAccount",
    )
    secret = security.new_secret()
    account = ServiceAccount(
        institution_id=institution_id,
        name=name,
        client_id=f"{code.lower()}-{security.new_secret(9)}",
        secret_hash=security.hash_password(secret),
        scopes=sorted(set(scopes)),
    )
    session.add(account)
    await session.flush()
    record(
        session,
        action="service_account.created",
        entity_type="service_account",
        entity_id=account.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        scopes=account.scopes,
    )
    return NewServiceAccount(account=account, client_secret=secret)


@dataclass(frozen=True, slots=True)
class ServiceToken:
    access_token: str
    expires_in: int
    scopes: frozenset[str]


async def client_credentials(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: str,
    client_secret: str,
    scopes: Sequence[str] | None,
    origin: Origin,
    now: datetime | None = None,
) -> ServiceToken | Refused:
    """OAuth 2.0 client credentials grant (RFC 6749, section 4.4)."""
    now = now or utcnow()
    account = await repo.service_account_by_client_id(session, client_id)
    ok = security.verify_password(account.secret_hash if account else None, client_secret)
    # Disabled, or its institution suspended: the account is not active.
    if account is None or not ok or await repo.active_service_account(session, account.id) is None:
        record(
            session,
            action="client.auth_failed",
            entity_type="service_account",
            entity_id=account.id if account else security.digest(client_id)[:32],
            request_id=origin.request_id,
            address=origin.address,
        )
        return Refused("invalid_client")
    allowed = frozenset(account.scopes)
    granted = allowed if scopes is None else frozenset(scopes)
    if not granted <= allowed:
        return Refused("invalid_scope")
    token = security.mint_token(
        settings.signing_key(),
        subject=str(account.id),
        type="access",
        now=now,
        ttl=settings.access_token_ttl,
        service=True,
        scopes=granted,
    )
    return ServiceToken(access_token=token, expires_in=settings.access_token_ttl, scopes=granted)


# ---------------------------------------------------------------- operators


async def create_user(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    email: str,
    password: str,
    role: Role,
    institution_code: str | None,
    display_name: str | None = None,
) -> User:
    """Bootstrap an account from the command line: active, with one role."""
    email = normalise_email(email)
    security.check_password_policy(password, email=email)
    institution_id = None
    if role in STAFF_ROLES and role in {
        Role.LOAN_OFFICER,
        Role.RISK_OFFICER,
        Role.INSTITUTION_ADMIN,
        Role.PARTNER_SERVICE,
    }:
        if institution_code is None:
            raise InvalidInput(f"{role.value} is held within an institution: give --institution")
        institution = await repo.institution_by_code(session, institution_code)
        if institution is None:
            raise NotFound(f"no institution with code {institution_code!r}")
        institution_id = institution.id
    elif institution_code is not None:
        raise InvalidInput(f"{role.value} is a platform role: leave out --institution")
    user = await people.find_by_email(session, keys, email)
    if user is None:
        user = await people.new_user(
            session,
            keys,
            email=email,
            display_name=display_name or email.split("@")[0],
            status=UserStatus.ACTIVE,
        )
    user.password_hash = security.hash_password(password)
    user.status = UserStatus.ACTIVE
    await session.flush()
    held = {(r, i) for r, i, _ in await repo.memberships_of(session, user.id)}
    if (role, institution_id) not in held:
        session.add(Membership(user_id=user.id, institution_id=institution_id, role=role))
    record(
        session,
        action="role.granted",
        entity_type="user",
        entity_id=user.id,
        role=role.value,
        institution=institution_code,
        via="cli",
    )
    await session.flush()
    return user


async def operator_token(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    ttl: int,
    now: datetime | None = None,
) -> str:
    """A short-lived access token for an existing active user, in a session of its own."""
    now = now or utcnow()
    user = await people.find_by_email(session, settings.keys(), normalise_email(email))
    if user is None or user.status is not UserStatus.ACTIVE:
        raise NotFound("no active user with that email")
    auth = AuthSession(user_id=user.id, client_address="cli")
    session.add(auth)
    await session.flush()
    record(
        session, action="token.minted", entity_type="user", entity_id=user.id, via="cli", ttl=ttl
    )
    return security.mint_token(
        settings.signing_key(),
        subject=str(user.id),
        type="access",
        now=now,
        ttl=ttl,
        session_id=auth.id,
        operator=True,
    )


# ---------------------------------------------------------------- the policy


async def new_rule_values(
    session: AsyncSession, *, subject: str, domain: str, obj: str, action: str, effect: str
) -> dict[str, str]:
    """A permission's columns, once it is known to be valid and not there already."""
    problems = validate_rule(
        subject=subject,
        domain=domain,
        obj=obj,
        action=action,
        effect=effect,
        domains=await repo.institution_codes(session),
    )
    if problems:
        raise InvalidInput.of_problems(problems)
    values = {"ptype": "p", "v0": subject, "v1": domain, "v2": obj, "v3": action, "v4": effect}
    if await repo.policy_rule_exists(session, values):
        raise Conflict("that rule exists already")
    return values


async def add_policy_rule(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject: str,
    domain: str,
    obj: str,
    action: str,
    effect: str,
    origin: Origin,
) -> PolicyRule:
    values = await new_rule_values(
        session, subject=subject, domain=domain, obj=obj, action=action, effect=effect
    )
    rule = PolicyRule(**values)
    session.add(rule)
    await session.flush()
    line = ", ".join(("p", subject, domain, obj, action, effect))
    await bump_version(session, detail={"added": line})
    record(
        session,
        action="policy.rule_added",
        entity_type="authz_rule",
        entity_id=rule.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        rule=line,
    )
    return rule


async def remove_policy_rule(
    session: AsyncSession, *, viewer: Viewer, rule_id: uuid.UUID, origin: Origin
) -> PolicyRule:
    rule = await session.get(PolicyRule, rule_id)
    if rule is None:
        raise NotFound("no such rule")
    line = ", ".join((rule.ptype, rule.v0, rule.v1, rule.v2, rule.v3, rule.v4))
    await session.delete(rule)
    await session.flush()
    await bump_version(session, detail={"removed": line})
    record(
        session,
        action="policy.rule_removed",
        entity_type="authz_rule",
        entity_id=rule_id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        rule=line,
    )
    return rule
