"""Sign-up, sign-in, sessions, staff, service accounts and the policy."""

from __future__ import annotations

import uuid

import strawberry

from api.access import mutation
from api.context import Context
from api.identity.inputs import (
    AcceptInvitationInput,
    AddPolicyRuleInput,
    ConfirmAccountInput,
    CreateServiceAccountInput,
    InviteStaffInput,
    LoginInput,
    RefreshTokenInput,
    RegisterInput,
    RemovePolicyRuleInput,
    VerifyMfaInput,
)
from api.identity.policy_changes import PolicyRuleResult, applied_or_pending
from api.identity.types import (
    AcceptInvitationResult,
    AccountConfirmed,
    ConfirmAccountResult,
    CreateServiceAccountResult,
    InvalidCredentials,
    InvalidInputError,
    InvalidToken,
    InvitationAccepted,
    InviteStaffResult,
    LoginResult,
    LoginSuccess,
    LoginThrottled,
    MfaEnrollment,
    MfaRequired,
    RegisterResult,
    RegistrationPending,
    ServiceAccountCreated,
    StaffInvited,
)
from api.relay import decode_global_id
from domain.identity import policy_changes, service
from domain.identity.service import LoginOutcome
from kernel.db import unit_of_work
from kernel.errors import InvalidInput


def _login_result(outcome: LoginOutcome) -> LoginResult:
    match outcome:
        case service.Tokens():
            return LoginSuccess(
                access_token=outcome.access_token,
                refresh_token=outcome.refresh_token,
                token_type="Bearer",  # noqa: S106 (the OAuth token type, not a secret)
                expires_in=outcome.expires_in,
                recovery_codes=list(outcome.recovery_codes),
            )
        case service.MfaChallenge():
            enrollment = None
            if outcome.enrollment_secret and outcome.enrollment_uri:
                enrollment = MfaEnrollment(
                    secret=outcome.enrollment_secret, otpauth_uri=outcome.enrollment_uri
                )
            return MfaRequired(mfa_token=outcome.mfa_token, enrollment=enrollment)
        case service.Throttled():
            return LoginThrottled(
                message="too many failed attempts; try again later",
                code="LOGIN_THROTTLED",
                retry_after_seconds=outcome.retry_after,
            )
        case service.Refused():
            return InvalidCredentials(message=outcome.message, code="INVALID_CREDENTIALS")


def _institution_pk(global_id: strawberry.ID) -> uuid.UUID:
    return decode_global_id(global_id, expected="Institution", field="institutionId")[1]


@strawberry.type
class IdentityMutations:
    @mutation("register", description="Sign up as an SME owner; a confirmation mail follows.")
    async def register(
        self, info: strawberry.Info[Context, None], input: RegisterInput
    ) -> RegisterResult:
        ctx = info.context
        try:
            async with unit_of_work(ctx.sessions) as session:
                email = await service.register(
                    session,
                    ctx.keys,
                    email=input.email,
                    password=input.password,
                    display_name=input.display_name,
                    origin=ctx.origin,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        return RegistrationPending(email=email)

    @mutation("confirmAccount", description="Confirm an account with the mailed token.")
    async def confirm_account(
        self, info: strawberry.Info[Context, None], input: ConfirmAccountInput
    ) -> ConfirmAccountResult:
        ctx = info.context
        async with unit_of_work(ctx.sessions) as session:
            outcome = await service.confirm_account(session, token=input.token, origin=ctx.origin)
        if isinstance(outcome, service.Refused):
            return InvalidToken(message=outcome.message, code="INVALID_TOKEN")
        return AccountConfirmed(confirmed=True)

    @mutation("login", description="Sign in. Staff are then asked for a second factor.")
    async def login(self, info: strawberry.Info[Context, None], input: LoginInput) -> LoginResult:
        ctx = info.context
        async with unit_of_work(ctx.sessions) as session:
            outcome = await service.login(
                session,
                ctx.settings,
                email=input.email,
                password=input.password,
                origin=ctx.origin,
            )
        return _login_result(outcome)

    @mutation("verifyMfa", description="Finish a staff sign-in with a TOTP or recovery code.")
    async def verify_mfa(
        self, info: strawberry.Info[Context, None], input: VerifyMfaInput
    ) -> LoginResult:
        ctx = info.context
        async with unit_of_work(ctx.sessions) as session:
            outcome = await service.verify_mfa(
                session,
                ctx.settings,
                mfa_token=input.mfa_token,
                code=input.code,
                recovery_code=input.recovery_code,
                origin=ctx.origin,
            )
        return _login_result(outcome)

    @mutation("refreshToken", description="Trade a refresh token for new tokens (it rotates).")
    async def refresh_token(
        self, info: strawberry.Info[Context, None], input: RefreshTokenInput
    ) -> LoginResult:
        ctx = info.context
        async with unit_of_work(ctx.sessions) as session:
            outcome = await service.refresh(
                session, ctx.settings, refresh_token=input.refresh_token, origin=ctx.origin
            )
        if isinstance(outcome, service.Refused):
            return InvalidToken(message=outcome.message, code="INVALID_TOKEN")
        return _login_result(outcome)

    @mutation("logout", description="End this session: its refresh and access tokens stop working.")
    async def logout(self, info: strawberry.Info[Context, None]) -> bool:
        ctx = info.context
        async with unit_of_work(ctx.sessions) as session:
            return await service.logout(session, viewer=ctx.viewer, origin=ctx.origin)

    @mutation("inviteStaff", description="Invite a colleague into an institution with a role.")
    async def invite_staff(
        self, info: strawberry.Info[Context, None], input: InviteStaffInput
    ) -> InviteStaffResult:
        ctx = info.context
        try:
            async with unit_of_work(ctx.sessions) as session:
                invitation = await service.invite_staff(
                    session,
                    ctx.authorizer,
                    ctx.keys,
                    viewer=ctx.viewer,
                    email=input.email,
                    role=input.role,
                    institution_id=_institution_pk(input.institution_id),
                    origin=ctx.origin,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        return StaffInvited(email=invitation.email, expires_at=invitation.expires_at)

    @mutation("acceptInvitation", description="Accept a staff invitation with its token.")
    async def accept_invitation(
        self, info: strawberry.Info[Context, None], input: AcceptInvitationInput
    ) -> AcceptInvitationResult:
        ctx = info.context
        try:
            async with unit_of_work(ctx.sessions) as session:
                outcome = await service.accept_invitation(
                    session,
                    ctx.keys,
                    token=input.token,
                    password=input.password,
                    display_name=input.display_name,
                    origin=ctx.origin,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        if isinstance(outcome, service.Refused):
            return InvalidToken(message=outcome.message, code="INVALID_TOKEN")
        return InvitationAccepted(accepted=True)

    @mutation("createServiceAccount", description="Client credentials for a partner system.")
    async def create_service_account(
        self, info: strawberry.Info[Context, None], input: CreateServiceAccountInput
    ) -> CreateServiceAccountResult:
        ctx = info.context
        try:
            async with unit_of_work(ctx.sessions) as session:
                created = await service.create_service_account(
                    session,
                    ctx.authorizer,
                    viewer=ctx.viewer,
                    institution_id=_institution_pk(input.institution_id),
                    name=input.name,
                    scopes=input.scopes,
                    origin=ctx.origin,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        return ServiceAccountCreated(
            client_id=created.account.client_id,
            client_secret=created.client_secret,
            scopes=list(created.account.scopes),
        )

    @mutation(
        "addPolicyRule",
        description="Add a rule. A deny applies at once everywhere (the rule is returned); an "
        "allow waits for a second platform admin (the pending PolicyChange is returned).",
    )
    async def add_policy_rule(
        self, info: strawberry.Info[Context, None], input: AddPolicyRuleInput
    ) -> PolicyRuleResult:
        ctx = info.context
        try:
            async with unit_of_work(ctx.sessions) as session:
                change = await policy_changes.propose_add(
                    session,
                    viewer=ctx.viewer,
                    subject=input.role,
                    domain=input.domain,
                    obj=input.object,
                    action=input.action.value,
                    effect=input.effect.value,
                    origin=ctx.origin,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        return applied_or_pending(change)

    @mutation(
        "removePolicyRule",
        description="Remove a rule by id. Removing an allow applies at once everywhere (the "
        "removed rule is returned); removing a deny or an inheritance waits for a second "
        "platform admin (the pending PolicyChange is returned).",
    )
    async def remove_policy_rule(
        self, info: strawberry.Info[Context, None], input: RemovePolicyRuleInput
    ) -> PolicyRuleResult:
        ctx = info.context
        rule_id = decode_global_id(input.id, expected="AuthorizationRule", field="id")[1]
        async with unit_of_work(ctx.sessions) as session:
            change = await policy_changes.propose_remove(
                session, viewer=ctx.viewer, rule_id=rule_id, origin=ctx.origin
            )
        return applied_or_pending(change)
