"""What onboarding, staff management and one's own sessions answer."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Self

import strawberry

from api.access import classified
from api.accounts.role_grant_changes import RoleGrantChange
from api.identity.types import (
    Institution,
    InvalidCredentials,
    InvalidInputError,
    InvalidToken,
    RoleGrant,
    role_grants,
)
from api.outcomes import ConflictError
from api.relay import encode_pk
from domain.identity.models import USER_SEALED_COLUMNS, Role, UserStatus
from domain.identity.models import AuthSession as AuthSessionRow
from domain.identity.models import User as UserRow


@classified(
    internal=["user_id", "status", "last_login_at", "roles"],
    personal=["email", "display_name"],
    sealed_in="users",
    sealed=USER_SEALED_COLUMNS,
)
@strawberry.type(description="A person holding a role in an institution, as its admins see them.")
class StaffMember:
    pk: strawberry.Private[uuid.UUID]
    owner_id: strawberry.Private[uuid.UUID]
    user_id: strawberry.ID = strawberry.field(description="The person's User id.")
    email: str
    display_name: str
    status: UserStatus
    last_login_at: datetime | None
    roles: list[RoleGrant] = strawberry.field(description="The roles held in this institution.")

    @classmethod
    def from_row(
        cls, row: UserRow, grants: Sequence[tuple[Role, uuid.UUID | None, str | None]]
    ) -> Self:
        user_id = encode_pk(row.id, "User")
        assert user_id is not None
        return cls(
            pk=row.id,
            owner_id=row.id,
            user_id=user_id,
            email=row.email,
            display_name=row.display_name,
            status=row.status,
            last_login_at=row.last_login_at,
            roles=role_grants(grants),
        )


@classified(internal=["session_id", "created_at", "current"], personal=["client_address"])
@strawberry.type(description="One sign-in of yours that has not ended.")
class LoginSession:
    pk: strawberry.Private[uuid.UUID]
    owner_id: strawberry.Private[uuid.UUID]
    session_id: strawberry.ID = strawberry.field(description="Give it to endSession to end it.")
    created_at: datetime
    client_address: str | None = strawberry.field(description="Where the sign-in came from.")
    current: bool = strawberry.field(description="The session this request is made in.")

    @classmethod
    def from_row(cls, row: AuthSessionRow, *, current: uuid.UUID | None) -> Self:
        gid = encode_pk(row.id, "LoginSession")
        assert gid is not None
        return cls(
            pk=row.id,
            owner_id=row.user_id,
            session_id=gid,
            created_at=row.created_at,
            client_address=row.client_address,
            current=row.id == current,
        )


@classified(internal=["user_id", "status"])
@strawberry.type(description="The account is disabled (its sessions ended) or enabled again.")
class AccountStatusChanged:
    user_id: strawberry.ID
    status: UserStatus


@classified(internal=["user_id", "roles"])
@strawberry.type(description="The role was granted or revoked; the person's roles now.")
class RoleChanged:
    user_id: strawberry.ID
    roles: list[RoleGrant]


@classified(internal=["count"])
@strawberry.type(description="Sessions ended: their tokens stop working at once.")
class SessionsEnded:
    count: int


@classified(public=["changed"])
@strawberry.type(description="The password is changed; other sessions have ended.")
class PasswordChanged:
    changed: bool


@classified(public=["email"])
@strawberry.type(
    description="If the address has an active account, a reset token is on its way to it."
)
class PasswordResetRequested:
    email: str


InstitutionResult = Annotated[
    Institution | InvalidInputError | ConflictError, strawberry.union("InstitutionResult")
]
AccountStatusResult = Annotated[
    AccountStatusChanged | InvalidInputError | ConflictError,
    strawberry.union("AccountStatusResult"),
]
RoleChangeResult = Annotated[
    RoleChanged | RoleGrantChange | InvalidInputError | ConflictError,
    strawberry.union("RoleChangeResult"),
]
EndSessionsResult = Annotated[
    SessionsEnded | InvalidInputError | ConflictError, strawberry.union("EndSessionsResult")
]
ChangePasswordResult = Annotated[
    PasswordChanged | InvalidCredentials | InvalidInputError,
    strawberry.union("ChangePasswordResult"),
]
ResetPasswordResult = Annotated[
    PasswordChanged | InvalidToken | InvalidInputError, strawberry.union("ResetPasswordResult")
]
RequestPasswordResetResult = Annotated[
    PasswordResetRequested | InvalidInputError, strawberry.union("RequestPasswordResetResult")
]
