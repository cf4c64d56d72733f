from __future__ import annotations

import strawberry

from api.identity.types import PolicyAction, PolicyEffect
from domain.identity.models import Role


@strawberry.input
class RegisterInput:
    email: str
    password: str = strawberry.field(description="At least 12 characters.")
    display_name: str


@strawberry.input
class ConfirmAccountInput:
    token: str = strawberry.field(description="The token from the confirmation mail.")


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class VerifyMfaInput:
    mfa_token: str
    code: str | None = strawberry.field(default=None, description="Six digits from the app.")
    recovery_code: str | None = strawberry.field(
        default=None, description="One of the recovery codes, instead of a code."
    )


@strawberry.input
class RefreshTokenInput:
    refresh_token: str


@strawberry.input
class InviteStaffInput:
    institution_id: strawberry.ID
    email: str
    role: Role


@strawberry.input
class AcceptInvitationInput:
    token: str
    password: str = strawberry.field(
        description="A new password, or the current one if the address has an account."
    )
    display_name: str | None = None


@strawberry.input
class CreateServiceAccountInput:
    institution_id: strawberry.ID
    name: str
    scopes: list[str] = strawberry.field(
        description="Among applications:read, applications:decide, loans:read."
    )


@strawberry.input
class AddPolicyRuleInput:
    role: str = strawberry.field(description="A role, or scope:<name>.")
    domain: str = strawberry.field(default="*", description="An institution code, or *.")
    object: str = strawberry.field(description="Type.field or Mutation.name; globs allowed.")
    action: PolicyAction
    effect: PolicyEffect = PolicyEffect.ALLOW


@strawberry.input
class RemovePolicyRuleInput:
    id: strawberry.ID
