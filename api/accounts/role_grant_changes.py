"""Role grants under four eyes: the pending grants, and a second admin's decision."""

# No postponed annotations: Strawberry reads relay.NodeID from the evaluated annotation.

import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from api.access import classified, mutation
from api.context import Context
from api.identity.policy_changes import PolicyChangeStatus
from api.identity.types import InvalidInputError, User, person
from api.outcomes import ConflictError, perform
from api.relay import decode_global_id, encode_pk
from domain.applications.service import Actor
from domain.identity import role_grants
from domain.identity.models import Role
from domain.identity.models import RoleGrantChange as ChangeRow


@classified(
    internal=[
        "id",
        "user",
        "role",
        "institution_id",
        "status",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
    ]
)
@strawberry.type(
    description="A role proposed for a person. Granting widens access: the person holds "
    "the role only once a second admin entitled to grant it in the same place approves."
)
class RoleGrantChange(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    user_pk: strawberry.Private[uuid.UUID]
    role: Role
    institution_id: strawberry.ID | None = strawberry.field(
        description="Where the role would be held; null for a platform-wide role."
    )
    status: PolicyChangeStatus
    created_by_pk: strawberry.Private[uuid.UUID | None]
    created_at: datetime
    decided_by_pk: strawberry.Private[uuid.UUID | None]
    decided_at: datetime | None

    @strawberry.field(
        description="The person who would hold the role; null if you may not see them."
    )
    async def user(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.user_pk)

    @strawberry.field(description="The admin who proposed it; null if you may not see them.")
    async def created_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.created_by_pk)

    @strawberry.field(description="The second admin who approved or rejected it.")
    async def decided_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.decided_by_pk)

    @classmethod
    def from_row(cls, row: ChangeRow) -> Self:
        return cls(
            pk=row.id,
            user_pk=row.user_id,
            role=row.role,
            institution_id=encode_pk(row.institution_id, "Institution"),
            status=PolicyChangeStatus(row.status),
            created_by_pk=row.created_by,
            created_at=row.created_at,
            decided_by_pk=row.decided_by,
            decided_at=row.decided_at,
        )


@strawberry.input
class DecideRoleGrantInput:
    id: strawberry.ID = strawberry.field(description="The pending RoleGrantChange's global id.")
    approve: bool = True


RoleGrantChangeResult = Annotated[
    RoleGrantChange | InvalidInputError | ConflictError,
    strawberry.union("RoleGrantChangeResult"),
]


@classified(internal=["role_grant_changes"])
@strawberry.type
class RoleGrantChangeQueries:
    @strawberry.field(
        description="Role grants proposed, newest first (at most 200): every one for platform "
        "roles, those of the institutions you administer for an institution admin; empty "
        "for anyone else. With pendingOnly, only those waiting for a decision."
    )
    async def role_grant_changes(
        self, info: strawberry.Info[Context, None], pending_only: bool = False
    ) -> list[RoleGrantChange]:
        ctx = info.context
        async with ctx.sessions() as session:
            rows = await role_grants.changes(
                session, viewer=ctx.viewer, status="pending" if pending_only else None
            )
        return [RoleGrantChange.from_row(r) for r in rows]


@strawberry.type
class RoleGrantChangeMutations:
    @mutation(
        "approveRoleGrant",
        description="Approve (or, with approve: false, reject) a role grant another admin "
        "proposed; approved, the person holds the role from the next request.",
    )
    async def approve_role_grant(
        self, info: strawberry.Info[Context, None], input: DecideRoleGrantInput
    ) -> RoleGrantChangeResult:
        async def work(session: AsyncSession, actor: Actor) -> RoleGrantChange:
            change_id = decode_global_id(input.id, expected="RoleGrantChange", field="id")[1]
            row = await role_grants.decide(
                session,
                info.context.authorizer,
                viewer=actor.viewer,
                change_id=change_id,
                approve=input.approve,
                origin=info.context.origin,
            )
            return RoleGrantChange.from_row(row)

        result: RoleGrantChangeResult = await perform(info, work)
        return result
