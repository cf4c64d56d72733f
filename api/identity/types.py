import enum
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from domain.identity.models import (
    INSTITUTION_SEALED_COLUMNS,
    USER_SEALED_COLUMNS,
    InstitutionKind,
    Role,
    UserStatus,
)
from domain.identity.models import Institution as InstitutionRow
from domain.identity.models import PolicyRule as PolicyRuleRow
from domain.identity.models import User as UserRow
from kernel.errors import DomainError

InstitutionKindGQL = strawberry.enum(InstitutionKind, name="InstitutionKind")


@classified(
    internal=[
        "licence_number",
        "regions",
        "four_eyes_threshold",
        "suspended",
        "suspended_at",
        "suspension_reason",
    ],
    personal=["contact_name", "contact_email", "contact_phone"],
    sealed_in="institutions",
    sealed=INSTITUTION_SEALED_COLUMNS,
)
@strawberry.type(
    description="How an institution is set up on the platform: seen by platform roles and "
    "by the institution's own admins."
)
class InstitutionProfile:
    # The institution is the subject whose data key seals its contact person's values.
    pk: strawberry.Private[uuid.UUID]
    licence_number: str | None
    regions: list[str] = strawberry.field(description="Regions it is licensed to lend in.")
    four_eyes_threshold: Decimal = strawberry.field(
        description="Approvals above this amount need a second, different officer."
    )
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    suspended: bool = strawberry.field(
        description="Its products are off the catalog and its staff and systems locked out."
    )
    suspended_at: datetime | None
    suspension_reason: str | None

    @classmethod
    def from_row(cls, row: InstitutionRow) -> Self:
        return cls(
            pk=row.id,
            licence_number=row.licence_number,
            regions=list(row.regions or ()),
            four_eyes_threshold=row.four_eyes_threshold,
            contact_name=row.contact_name,
            contact_email=row.contact_email,
            contact_phone=row.contact_phone,
            suspended=row.suspended_at is not None,
            suspended_at=row.suspended_at,
            suspension_reason=row.suspension_reason,
        )


@classified(public=["id", "code", "name", "kind", "region"], internal=["profile"])
@strawberry.type(description="A bank or lender offering products on the platform.")
class Institution(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    code: str = strawberry.field(description="Short unique code, e.g. BK001.")
    name: str
    kind: InstitutionKind
    region: str

    @strawberry.field(
        description="Its licence, regions, contact and suspension: null unless you hold a "
        "platform role or administer this institution."
    )
    async def profile(self, info: strawberry.Info[Context, None]) -> InstitutionProfile | None:
        row = await info.context.loaders.institution_profile.load(self.pk)
        return None if row is None else InstitutionProfile.from_row(row)

    @classmethod
    def from_row(cls, row: InstitutionRow) -> Self:
        return cls(pk=row.id, code=row.code, name=row.name, kind=row.kind, region=row.region)


RoleGQL = strawberry.enum(Role, name="Role")
UserStatusGQL = strawberry.enum(UserStatus, name="UserStatus")


@classified(internal=["role", "institution_id", "institution_code"])
@strawberry.type(description="A role held platform-wide (no institution) or within one.")
class RoleGrant:
    role: Role
    institution_id: strawberry.ID | None
    institution_code: str | None


def role_grants(grants: Sequence[tuple[Role, uuid.UUID | None, str | None]]) -> list[RoleGrant]:
    return [
        RoleGrant(
            role=role,
            institution_id=strawberry.ID(relay.to_base64("Institution", str(iid))) if iid else None,
            institution_code=code,
        )
        for role, iid, code in grants
    ]


@classified(
    public=["id"],
    personal=["email", "display_name"],
    internal=["status", "mfa_enabled", "roles", "last_login_at"],
    sealed_in="users",
    sealed=USER_SEALED_COLUMNS,
)
@strawberry.type(description="A person with an account.")
class User(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    # A person is the owner of their own data.
    owner_id: strawberry.Private[uuid.UUID | None]
    email: str
    display_name: str
    status: UserStatus
    mfa_enabled: bool
    last_login_at: datetime | None
    roles: list[RoleGrant]

    @classmethod
    def from_row(
        cls, row: UserRow, grants: Sequence[tuple[Role, uuid.UUID | None, str | None]]
    ) -> Self:
        return cls(
            pk=row.id,
            owner_id=row.id,
            email=row.email,
            display_name=row.display_name,
            status=row.status,
            mfa_enabled=row.mfa_enrolled_at is not None,
            last_login_at=row.last_login_at,
            roles=role_grants(grants),
        )


async def person(info: strawberry.Info[Context, None], pk: uuid.UUID | None) -> User | None:
    """The User a record names, if the viewer may know them (else null); their personal
    fields then go through disclosure like any User's. Batched per request."""
    if pk is None:
        return None
    found = await info.context.loaders.person.load(pk)
    return None if found is None else User.from_row(*found)


@strawberry.enum
class PolicyEffect(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@strawberry.enum
class PolicyAction(enum.Enum):
    READ = "read"
    WRITE = "write"
    REVEAL = "reveal"


@classified(internal=["id", "kind", "subject", "domain", "object", "action", "effect"])
@strawberry.type(
    description="One line of the authorization policy: p (permission) or g (role inheritance)."
)
class AuthorizationRule(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: str = strawberry.field(description="p: a permission; g: role inherits role.")
    subject: str = strawberry.field(description="A role, or scope:<name> for service tokens.")
    domain: str = strawberry.field(description="An institution code, or * for all.")
    object: str = strawberry.field(description="Type.field or Mutation.name; globs allowed.")
    action: str
    effect: str

    @classmethod
    def from_row(cls, row: PolicyRuleRow) -> Self:
        if row.ptype == "g":
            return cls(
                pk=row.id,
                kind="g",
                subject=row.v0,
                domain=row.v2,
                object=row.v1,
                action="inherit",
                effect="allow",
            )
        return cls(
            pk=row.id,
            kind="p",
            subject=row.v0,
            domain=row.v1,
            object=row.v2,
            action=row.v3,
            effect=row.v4,
        )


# ------------------------------------------------------------ payloads and their errors


@strawberry.interface(description="An expected refusal, with a stable code.")
class UserError:
    message: str
    code: str


@classified(public=["message", "code", "field"])
@strawberry.type(name="InvalidInput", description="The input broke a rule; `field` names it.")
class InvalidInputError(UserError):
    field: str = strawberry.field(
        description="Where in the request: the input path (input.amount, "
        "input.terms.minRate), or input when the refusal is of the request as a whole."
    )

    @classmethod
    def at(cls, message: str, field: str | None, *, code: str = "BAD_USER_INPUT") -> Self:
        """A refusal of ``field`` (relative to the mutation's one ``input`` argument)."""
        return cls(message=message, code=code, field=INPUT if field is None else f"{INPUT}.{field}")

    @classmethod
    def of(cls, error: DomainError, *, field: str | None = None) -> Self:
        """The union member for an expected refusal raised by a service.

        ``field`` overrides the part of the input the service named (``error.field``).
        """
        return cls.at(error.message, field if field is not None else error.field, code=error.code)


# Every mutation takes its values as one argument of this name (the API's convention).
INPUT = "input"


@classified(public=["message", "code"])
@strawberry.type(description="Wrong email or password, or the account is not active.")
class InvalidCredentials(UserError):
    pass


@classified(public=["message", "code", "retry_after_seconds"])
@strawberry.type(description="Too many failed attempts: wait before trying again.")
class LoginThrottled(UserError):
    retry_after_seconds: int


@classified(public=["message", "code"])
@strawberry.type(description="The token is unknown, spent, revoked or expired.")
class InvalidToken(UserError):
    pass


@classified(public=["access_token", "refresh_token", "token_type", "expires_in", "recovery_codes"])
@strawberry.type(description="Signed in. Send `Authorization: Bearer <accessToken>`.")
class LoginSuccess:
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int = strawberry.field(description="Seconds the access token is valid.")
    recovery_codes: list[str] = strawberry.field(
        description="Shown once, when a second factor was just enrolled: keep them safe."
    )


@classified(public=["secret", "otpauth_uri"])
@strawberry.type(description="Add this secret to an authenticator app, then send a code.")
class MfaEnrollment:
    secret: str
    otpauth_uri: str


@classified(public=["mfa_token", "enrollment"])
@strawberry.type(description="Staff sign in with a second factor: send `verifyMfa` a code.")
class MfaRequired:
    mfa_token: str
    enrollment: MfaEnrollment | None


@classified(public=["email"])
@strawberry.type(description="A confirmation mail is on its way to the address.")
class RegistrationPending:
    email: str


@classified(public=["confirmed"])
@strawberry.type(description="The account is confirmed; sign in.")
class AccountConfirmed:
    confirmed: bool


@classified(public=["accepted"])
@strawberry.type(description="The role is granted; sign in (and enrol a second factor).")
class InvitationAccepted:
    accepted: bool


@classified(internal=["email", "expires_at"])
@strawberry.type(description="The invitation is in the outbox.")
class StaffInvited:
    email: str
    expires_at: datetime


@classified(internal=["client_id", "client_secret", "scopes"])
@strawberry.type(description="Keep the secret: it is shown only now.")
class ServiceAccountCreated:
    client_id: str = strawberry.field(
        description="The OAuth client id for POST /oauth/token: an external reference."
    )
    client_secret: str
    scopes: list[str]


LoginResult = Annotated[
    LoginSuccess | MfaRequired | InvalidCredentials | LoginThrottled | InvalidToken,
    strawberry.union("LoginResult"),
]
RegisterResult = Annotated[
    RegistrationPending | InvalidInputError, strawberry.union("RegisterResult")
]
ConfirmAccountResult = Annotated[
    AccountConfirmed | InvalidToken, strawberry.union("ConfirmAccountResult")
]
AcceptInvitationResult = Annotated[
    InvitationAccepted | InvalidToken | InvalidInputError,
    strawberry.union("AcceptInvitationResult"),
]
InviteStaffResult = Annotated[
    StaffInvited | InvalidInputError, strawberry.union("InviteStaffResult")
]
CreateServiceAccountResult = Annotated[
    ServiceAccountCreated | InvalidInputError, strawberry.union("CreateServiceAccountResult")
]
