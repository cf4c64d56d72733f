"""The inputs of onboarding, staff management and one's own account."""

from decimal import Decimal

import strawberry

from domain.identity.models import InstitutionKind, Role


@strawberry.input(description="The institution's onboarding contact, a person (kept sealed).")
class ContactInput:
    name: str
    email: str
    phone: str


@strawberry.input
class CreateInstitutionInput:
    code: str = strawberry.field(description="3 to 16 capital letters and digits, e.g. BK001.")
    name: str
    kind: InstitutionKind
    region: str = strawberry.field(description="Where its head office is.")
    regions: list[str] = strawberry.field(
        default_factory=list, description="Regions it is licensed to lend in."
    )
    licence_number: str | None = None
    four_eyes_threshold: Decimal | None = strawberry.field(
        default=None, description="Approvals above it need two officers (500000.00 if left out)."
    )
    contact: ContactInput | None = None


@strawberry.input(description="Only the values given change.")
class ConfigureInstitutionInput:
    institution_id: strawberry.ID
    name: str | None = None
    region: str | None = None
    regions: list[str] | None = None
    licence_number: str | None = None
    four_eyes_threshold: Decimal | None = None
    contact: ContactInput | None = None


@strawberry.input
class SuspendInstitutionInput:
    institution_id: strawberry.ID
    reason: str


@strawberry.input
class ReactivateInstitutionInput:
    institution_id: strawberry.ID


@strawberry.input
class DisableUserInput:
    user_id: strawberry.ID
    reason: str | None = None


@strawberry.input
class EnableUserInput:
    user_id: strawberry.ID


@strawberry.input
class RoleChangeInput:
    user_id: strawberry.ID
    role: Role
    institution_id: strawberry.ID | None = strawberry.field(
        default=None, description="The institution the role is held in; none for platform roles."
    )


@strawberry.input
class RevokeUserSessionsInput:
    user_id: strawberry.ID


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str = strawberry.field(description="At least 12 characters.")


@strawberry.input
class RequestPasswordResetInput:
    email: str


@strawberry.input
class ResetPasswordInput:
    token: str = strawberry.field(description="The token from the reset mail.")
    new_password: str = strawberry.field(description="At least 12 characters.")


@strawberry.input
class EndSessionInput:
    session_id: strawberry.ID = strawberry.field(description="A LoginSession id from mySessions.")
