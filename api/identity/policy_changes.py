"""Changes of the authorization policy under four eyes: list, approve or reject, roll back."""

# No postponed annotations: Strawberry reads relay.NodeID from the evaluated annotation.

import enum
import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified, mutation
from api.context import Context
from api.identity.types import AuthorizationRule, InvalidInputError, User, person
from api.relay import decode_global_id, encode_pk
from domain.identity import policy_changes
from domain.identity.models import PolicyChange as ChangeRow
from domain.identity.models import PolicyRule as RuleRow
from kernel.db import unit_of_work
from kernel.errors import Conflict, InvalidInput


@strawberry.enum(description="Where a policy change stands.")
class PolicyChangeStatus(enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


@classified(
    internal=[
        "id",
        "kind",
        "rule_id",
        "subject",
        "domain",
        "object",
        "action",
        "effect",
        "widens",
        "status",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
    ]
)
@strawberry.type(
    description="A rule added to or removed from the authorization policy. One that "
    "widens access waits for a second platform admin; one that narrows applies at once."
)
class PolicyChange(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: str = strawberry.field(description="add or remove.")
    rule_id: strawberry.ID | None = strawberry.field(
        description="The AuthorizationRule added (once applied) or removed."
    )
    subject: str
    domain: str
    object: str
    action: str
    effect: str
    widens: bool
    status: PolicyChangeStatus
    created_by_pk: strawberry.Private[uuid.UUID | None]
    created_at: datetime
    decided_by_pk: strawberry.Private[uuid.UUID | None]
    decided_at: datetime | None

    @strawberry.field(description="The admin who proposed it; null if you may not see them.")
    async def created_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.created_by_pk)

    @strawberry.field(description="The second admin who approved or rejected it.")
    async def decided_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.decided_by_pk)

    @classmethod
    def from_row(cls, row: ChangeRow) -> Self:
        inherit = row.ptype == "g"
        return cls(
            pk=row.id,
            kind=row.kind,
            rule_id=encode_pk(row.rule_id, "AuthorizationRule"),
            subject=row.v0,
            domain=row.v2 if inherit else row.v1,
            object=row.v1 if inherit else row.v2,
            action="inherit" if inherit else row.v3,
            effect="allow" if inherit else row.v4,
            widens=row.widens,
            status=PolicyChangeStatus(row.status),
            created_by_pk=row.created_by,
            created_at=row.created_at,
            decided_by_pk=row.decided_by,
            decided_at=row.decided_at,
        )


@strawberry.input
class DecidePolicyChangeInput:
    id: strawberry.ID = strawberry.field(description="The pending PolicyChange's global id.")
    approve: bool = True


@strawberry.input
class RollbackPolicyChangeInput:
    id: strawberry.ID = strawberry.field(description="An applied PolicyChange that widened.")


PolicyRuleResult = Annotated[
    AuthorizationRule | PolicyChange | InvalidInputError, strawberry.union("PolicyRuleResult")
]
PolicyChangeResult = Annotated[
    PolicyChange | InvalidInputError, strawberry.union("PolicyChangeResult")
]


def applied_or_pending(change: ChangeRow) -> AuthorizationRule | PolicyChange:
    """The rule as it now stands when the change applied at once, else the pending change."""
    if change.status != "active":
        return PolicyChange.from_row(change)
    assert change.rule_id is not None
    rule = RuleRow(
        id=change.rule_id,
        ptype=change.ptype,
        v0=change.v0,
        v1=change.v1,
        v2=change.v2,
        v3=change.v3,
        v4=change.v4,
    )
    return AuthorizationRule.from_row(rule)


@classified(internal=["policy_changes"])
@strawberry.type
class PolicyChangeQueries:
    @strawberry.field(
        description="Every change of the authorization policy, newest first. Platform roles "
        "only; empty for anyone else."
    )
    async def policy_changes(self, info: strawberry.Info[Context, None]) -> list[PolicyChange]:
        ctx = info.context
        async with ctx.sessions() as session:
            rows = await policy_changes.all_changes(session, viewer=ctx.viewer)
        return [PolicyChange.from_row(r) for r in rows]


@strawberry.type
class PolicyChangeMutations:
    @mutation(
        "approvePolicyChange",
        description="Approve (or, with approve: false, reject) a pending policy change another "
        "platform admin proposed; approved, it applies at once everywhere.",
    )
    async def approve_policy_change(
        self, info: strawberry.Info[Context, None], input: DecidePolicyChangeInput
    ) -> PolicyChangeResult:
        ctx = info.context
        try:
            change_id = decode_global_id(input.id, expected="PolicyChange", field="id")[1]
            async with unit_of_work(ctx.sessions) as session:
                row = await policy_changes.decide(
                    session,
                    viewer=ctx.viewer,
                    change_id=change_id,
                    approve=input.approve,
                    origin=ctx.origin,
                )
        except (InvalidInput, Conflict) as exc:
            return InvalidInputError.of(exc)
        return PolicyChange.from_row(row)

    @mutation(
        "rollbackPolicyChange",
        description="Undo an applied change that widened access; applies at once everywhere.",
    )
    async def rollback_policy_change(
        self, info: strawberry.Info[Context, None], input: RollbackPolicyChangeInput
    ) -> PolicyChangeResult:
        ctx = info.context
        try:
            change_id = decode_global_id(input.id, expected="PolicyChange", field="id")[1]
            async with unit_of_work(ctx.sessions) as session:
                row = await policy_changes.roll_back(
                    session, viewer=ctx.viewer, change_id=change_id, origin=ctx.origin
                )
        except (InvalidInput, Conflict) as exc:
            return InvalidInputError.of(exc)
        return PolicyChange.from_row(row)
