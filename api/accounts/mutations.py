"""Institutions onboarded, configured, suspended and reactivated; staff disabled,
enabled and given or relieved of roles; passwords changed and reset; sessions ended."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import mutation
from api.accounts.inputs import (
    ChangePasswordInput,
    ConfigureInstitutionInput,
    ContactInput,
    CreateInstitutionInput,
    DisableUserInput,
    EnableUserInput,
    EndSessionInput,
    ReactivateInstitutionInput,
    RequestPasswordResetInput,
    ResetPasswordInput,
    RevokeUserSessionsInput,
    RoleChangeInput,
    SuspendInstitutionInput,
)
from api.accounts.role_grant_changes import RoleGrantChange
from api.accounts.types import (
    AccountStatusChanged,
    AccountStatusResult,
    ChangePasswordResult,
    EndSessionsResult,
    InstitutionResult,
    PasswordChanged,
    PasswordResetRequested,
    RequestPasswordResetResult,
    ResetPasswordResult,
    RoleChanged,
    RoleChangeResult,
    SessionsEnded,
)
from api.context import Context
from api.identity.types import Institution, InvalidCredentials, InvalidToken, role_grants
from api.outcomes import perform, pk_of
from api.relay import decode_pk, encode_pk
from domain.applications.service import Actor
from domain.identity import accounts
from domain.identity import repository as repo
from domain.identity.accounts import Contact, InstitutionTerms
from domain.identity.models import Institution as InstitutionRow
from domain.identity.models import RoleGrantChange as RoleGrantChangeRow
from domain.identity.models import User as UserRow


def _contact(value: ContactInput | None) -> Contact | None:
    return None if value is None else Contact(name=value.name, email=value.email, phone=value.phone)


def _institution(row: InstitutionRow) -> Institution:
    return Institution.from_row(row)


def _user_pk(value: strawberry.ID) -> uuid.UUID:
    return pk_of(value, "User", field="userId")


def _institution_pk(value: strawberry.ID) -> uuid.UUID:
    return pk_of(value, "Institution", field="institutionId")


def _status(row: UserRow) -> AccountStatusChanged:
    user_id = encode_pk(row.id, "User")
    assert user_id is not None
    return AccountStatusChanged(user_id=user_id, status=row.status)


async def _set_status(
    info: strawberry.Info[Context, None],
    user_gid: strawberry.ID,
    *,
    enabled: bool,
    reason: str | None,
) -> AccountStatusResult:
    user_id = _user_pk(user_gid)

    async def work(session: AsyncSession, actor: Actor) -> AccountStatusChanged:
        row = await accounts.set_user_status(
            session,
            info.context.authorizer,
            viewer=actor.viewer,
            user_id=user_id,
            enabled=enabled,
            reason=reason,
            origin=info.context.origin,
        )
        return _status(row)

    result: AccountStatusResult = await perform(info, work)
    return result


def _terms(input: CreateInstitutionInput | ConfigureInstitutionInput) -> InstitutionTerms:
    return InstitutionTerms(
        name=input.name,
        region=input.region,
        regions=input.regions,
        licence_number=input.licence_number,
        four_eyes_threshold=input.four_eyes_threshold,
        contact=_contact(input.contact),
    )


async def _change_role(
    info: strawberry.Info[Context, None], input: RoleChangeInput, *, grant: bool
) -> RoleChangeResult:
    user_id = _user_pk(input.user_id)
    institution_id = decode_pk(input.institution_id, "Institution", field="institutionId")

    async def work(session: AsyncSession, actor: Actor) -> RoleChanged | RoleGrantChange:
        row = await accounts.change_role(
            session,
            info.context.authorizer,
            viewer=actor.viewer,
            user_id=user_id,
            role=input.role,
            institution_id=institution_id,
            grant=grant,
            origin=info.context.origin,
        )
        if isinstance(row, RoleGrantChangeRow):  # a grant waits for a second admin
            return RoleGrantChange.from_row(row)
        held = await repo.memberships_of(session, row.id)
        gid = encode_pk(row.id, "User")
        assert gid is not None
        return RoleChanged(user_id=gid, roles=role_grants(held))

    result: RoleChangeResult = await perform(info, work)
    return result


@strawberry.type
class AccountMutations:
    # ------------------------------------------------------------ institutions

    @mutation("createInstitution", description="Onboard a lender: code, licence, regions, contact.")
    async def create_institution(
        self, info: strawberry.Info[Context, None], input: CreateInstitutionInput
    ) -> InstitutionResult:
        ctx = info.context
        terms = _terms(input)

        async def work(session: AsyncSession, actor: Actor) -> Institution:
            row = await accounts.create_institution(
                session,
                ctx.keys,
                viewer=actor.viewer,
                code=input.code,
                kind=input.kind,
                terms=terms,
                origin=ctx.origin,
            )
            return _institution(row)

        result: InstitutionResult = await perform(info, work)
        return result

    @mutation("configureInstitution", description="Change an institution's set-up.")
    async def configure_institution(
        self, info: strawberry.Info[Context, None], input: ConfigureInstitutionInput
    ) -> InstitutionResult:
        ctx = info.context
        institution_id = _institution_pk(input.institution_id)
        terms = _terms(input)

        async def work(session: AsyncSession, actor: Actor) -> Institution:
            row = await accounts.configure_institution(
                session,
                ctx.keys,
                viewer=actor.viewer,
                institution_id=institution_id,
                terms=terms,
                origin=ctx.origin,
            )
            return _institution(row)

        result: InstitutionResult = await perform(info, work)
        return result

    @mutation(
        "suspendInstitution",
        description="Take its products off the catalog and lock out its staff and systems, "
        "at once, on every worker.",
    )
    async def suspend_institution(
        self, info: strawberry.Info[Context, None], input: SuspendInstitutionInput
    ) -> InstitutionResult:
        institution_id = _institution_pk(input.institution_id)

        async def work(session: AsyncSession, actor: Actor) -> Institution:
            row = await accounts.suspend_institution(
                session,
                viewer=actor.viewer,
                institution_id=institution_id,
                reason=input.reason,
                origin=info.context.origin,
            )
            return _institution(row)

        result: InstitutionResult = await perform(info, work)
        return result

    @mutation("reactivateInstitution", description="End a suspension.")
    async def reactivate_institution(
        self, info: strawberry.Info[Context, None], input: ReactivateInstitutionInput
    ) -> InstitutionResult:
        institution_id = _institution_pk(input.institution_id)

        async def work(session: AsyncSession, actor: Actor) -> Institution:
            row = await accounts.reactivate_institution(
                session,
                viewer=actor.viewer,
                institution_id=institution_id,
                origin=info.context.origin,
            )
            return _institution(row)

        result: InstitutionResult = await perform(info, work)
        return result

    # ------------------------------------------------------------ staff

    @mutation("disableUser", description="Lock an account out; its sessions end at once.")
    async def disable_user(
        self, info: strawberry.Info[Context, None], input: DisableUserInput
    ) -> AccountStatusResult:
        return await _set_status(info, input.user_id, enabled=False, reason=input.reason)

    @mutation("enableUser", description="Let a disabled account sign in again.")
    async def enable_user(
        self, info: strawberry.Info[Context, None], input: EnableUserInput
    ) -> AccountStatusResult:
        return await _set_status(info, input.user_id, enabled=True, reason=None)

    @mutation(
        "grantRole",
        description="Propose a role for a person, in an institution or platform-wide: the "
        "RoleGrantChange waits for a second admin (approveRoleGrant).",
    )
    async def grant_role(
        self, info: strawberry.Info[Context, None], input: RoleChangeInput
    ) -> RoleChangeResult:
        return await _change_role(info, input, grant=True)

    @mutation("revokeRole", description="Take a role away; it applies from the next request.")
    async def revoke_role(
        self, info: strawberry.Info[Context, None], input: RoleChangeInput
    ) -> RoleChangeResult:
        return await _change_role(info, input, grant=False)

    @mutation("revokeUserSessions", description="End every session of a person you manage.")
    async def revoke_user_sessions(
        self, info: strawberry.Info[Context, None], input: RevokeUserSessionsInput
    ) -> EndSessionsResult:
        user_id = _user_pk(input.user_id)

        async def work(session: AsyncSession, actor: Actor) -> SessionsEnded:
            ended = await accounts.revoke_user_sessions(
                session,
                info.context.authorizer,
                viewer=actor.viewer,
                user_id=user_id,
                origin=info.context.origin,
            )
            return SessionsEnded(count=ended)

        result: EndSessionsResult = await perform(info, work)
        return result

    # ------------------------------------------------------------ one's own account

    @mutation(
        "changePassword", description="Change your password; your other sessions end at once."
    )
    async def change_password(
        self, info: strawberry.Info[Context, None], input: ChangePasswordInput
    ) -> ChangePasswordResult:
        ctx = info.context

        async def work(session: AsyncSession, actor: Actor) -> PasswordChanged | InvalidCredentials:
            changed = await accounts.change_password(
                session,
                viewer=actor.viewer,
                current_password=input.current_password,
                new_password=input.new_password,
                keys=ctx.keys,
                origin=ctx.origin,
            )
            if not changed:
                return InvalidCredentials(
                    message="the current password is wrong", code="INVALID_CREDENTIALS"
                )
            return PasswordChanged(changed=True)

        result: ChangePasswordResult = await perform(info, work)
        return result

    @mutation(
        "requestPasswordReset",
        description="Mail a single-use reset token (valid one hour) to the address, if it has "
        "an active account; the answer is the same either way.",
    )
    async def request_password_reset(
        self, info: strawberry.Info[Context, None], input: RequestPasswordResetInput
    ) -> RequestPasswordResetResult:
        ctx = info.context

        async def work(session: AsyncSession, actor: Actor) -> PasswordResetRequested:
            email = await accounts.request_password_reset(
                session, ctx.keys, email=input.email, origin=ctx.origin
            )
            return PasswordResetRequested(email=email)

        result: RequestPasswordResetResult = await perform(info, work)
        return result

    @mutation(
        "resetPassword", description="Set a new password with a reset token; every session ends."
    )
    async def reset_password(
        self, info: strawberry.Info[Context, None], input: ResetPasswordInput
    ) -> ResetPasswordResult:
        ctx = info.context

        async def work(session: AsyncSession, actor: Actor) -> PasswordChanged | InvalidToken:
            changed = await accounts.reset_password(
                session,
                ctx.keys,
                token=input.token,
                new_password=input.new_password,
                origin=ctx.origin,
            )
            if not changed:
                return InvalidToken(
                    message="the token is unknown, used or expired", code="INVALID_TOKEN"
                )
            return PasswordChanged(changed=True)

        result: ResetPasswordResult = await perform(info, work)
        return result

    @mutation("endSession", description="End one of your sessions (see mySessions).")
    async def end_session(
        self, info: strawberry.Info[Context, None], input: EndSessionInput
    ) -> EndSessionsResult:
        session_id = pk_of(input.session_id, "LoginSession", field="sessionId")

        async def work(session: AsyncSession, actor: Actor) -> SessionsEnded:
            await accounts.end_own_session(
                session, viewer=actor.viewer, session_id=session_id, origin=info.context.origin
            )
            return SessionsEnded(count=1)

        result: EndSessionsResult = await perform(info, work)
        return result
