"""Masking policies: list every version, set one, decide a widening, roll back."""

# No postponed annotations: Strawberry reads relay.NodeID from the evaluated annotation.

import enum
import uuid
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Self, cast

import strawberry
from graphql import GraphQLObjectType, get_named_type
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types.field import StrawberryField

from api.access import PROTECTED, classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError, User, person
from api.relay import decode_global_id
from domain.identity.models import Role
from domain.privacy import policies
from domain.privacy.models import MaskingPolicy as PolicyRow
from kernel.db import unit_of_work
from kernel.errors import Conflict, InvalidInput
from privacy import masking
from privacy.classification import Classification


@strawberry.enum(description="Where a version of a masking policy stands.")
class MaskingPolicyStatus(enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


@strawberry.enum(description="How a personal value is shown, least to most revealing.")
class MaskingStrategy(enum.Enum):
    NULL = masking.NULL
    REDACT = masking.REDACT
    HASH = masking.HASH
    BAND = masking.BAND
    PARTIAL = masking.PARTIAL
    REVEAL = masking.REVEAL


@classified(
    internal=[
        "id",
        "object",
        "role",
        "purpose",
        "strategy",
        "params",
        "version",
        "status",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
    ]
)
@strawberry.type(description="How a personal field is shown to a role for a purpose; versioned.")
class MaskingPolicy(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    object: str = strawberry.field(description="Type.field, e.g. Enterprise.contactPhone.")
    role: Role
    purpose: str = strawberry.field(description="A purpose, or * for any.")
    strategy: MaskingStrategy
    params: JSON = strawberry.field(description="The strategy's parameters.")
    version: int
    status: MaskingPolicyStatus
    created_by_pk: strawberry.Private[uuid.UUID | None]
    created_at: datetime
    decided_by_pk: strawberry.Private[uuid.UUID | None]
    decided_at: datetime | None

    @strawberry.field(description="The User who set it; null if you may not see them.")
    async def created_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.created_by_pk)

    @strawberry.field(
        description="The User who approved or rejected it (a widening needs a second officer)."
    )
    async def decided_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.decided_by_pk)

    @classmethod
    def from_row(cls, row: PolicyRow) -> Self:
        return cls(
            pk=row.id,
            object=row.object,
            role=Role(row.role),
            purpose=row.purpose,
            strategy=MaskingStrategy(row.strategy),
            params=cast(JSON, dict(row.params or {})),
            version=row.version,
            status=MaskingPolicyStatus(row.status),
            created_by_pk=row.created_by,
            created_at=row.created_at,
            decided_by_pk=row.decided_by,
            decided_at=row.decided_at,
        )


@classified(internal=["restored"])
@strawberry.type(description="The active version was rolled back.")
class MaskingPolicyRolledBack:
    restored: MaskingPolicy | None = strawberry.field(
        description="The version active again; null: the built-in default applies."
    )


@strawberry.input
class SetMaskingPolicyInput:
    object: str = strawberry.field(description="A personal or sensitive Type.field.")
    role: Role
    purpose: str = strawberry.field(default="*", description="A purpose, or * for any.")
    strategy: MaskingStrategy
    params: JSON | None = strawberry.field(
        default=None,
        description=(
            'A JSON object: partial {"preset": "mobile"} (resident_id, mobile, bank_card, '
            'email) or {"keep_first": 1, "keep_last": 2}; band {"edges": ["0", "1000000"]}. '
            "Left out: none."
        ),
    )


@strawberry.input
class DecideMaskingPolicyInput:
    id: strawberry.ID = strawberry.field(description="The pending MaskingPolicy's global id.")
    approve: bool = True


@strawberry.input
class RollbackMaskingPolicyInput:
    object: str
    role: Role
    purpose: str = "*"


SetMaskingPolicyResult = Annotated[
    MaskingPolicy | InvalidInputError, strawberry.union("SetMaskingPolicyResult")
]
DecideMaskingPolicyResult = Annotated[
    MaskingPolicy | InvalidInputError, strawberry.union("DecideMaskingPolicyResult")
]
RollbackMaskingPolicyResult = Annotated[
    MaskingPolicyRolledBack | InvalidInputError, strawberry.union("RollbackMaskingPolicyResult")
]

# The schema's personal and sensitive fields ("Type.field" -> (GraphQL scalar name,
# classification)), worked out once per schema.
_PERSONAL: weakref.WeakKeyDictionary[Any, Mapping[str, tuple[str, Classification]]] = (
    weakref.WeakKeyDictionary()
)


def protected_fields(schema: Any) -> Mapping[str, tuple[str, Classification]]:
    """Every personal or sensitive ``Type.field`` of a Strawberry schema: its scalar name
    and classification."""
    cached = _PERSONAL.get(schema)
    if cached is not None:
        return cached
    found: dict[str, tuple[str, Classification]] = {}
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name, graphql_field in graphql_type.fields.items():
            definition = (graphql_field.extensions or {}).get("strawberry-definition")
            if not isinstance(definition, StrawberryField) or not definition.metadata:
                continue
            level = definition.metadata.get("classification")
            if isinstance(level, Classification) and level in PROTECTED:
                scalar = get_named_type(graphql_field.type).name
                found[f"{graphql_type.name}.{name}"] = (scalar, level)
    _PERSONAL[schema] = found
    return found


def personal_fields(info: strawberry.Info[Context, None]) -> Mapping[str, str]:
    return {obj: scalar for obj, (scalar, _) in protected_fields(info.schema).items()}


def _params(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("params must be a JSON object", field="params")
    return value


@classified(internal=["masking_policies"])
@strawberry.type
class MaskingQueries:
    @strawberry.field(
        description="Every version of every masking policy, newest first per field, role "
        "and purpose. Platform roles only; empty for anyone else."
    )
    async def masking_policies(self, info: strawberry.Info[Context, None]) -> list[MaskingPolicy]:
        ctx = info.context
        if not ctx.viewer.sees_all_tenants:
            return []
        async with ctx.sessions() as session:
            rows = await policies.all_versions(session)
        return [MaskingPolicy.from_row(r) for r in rows]


@strawberry.type
class MaskingMutations:
    @mutation(
        "setMaskingPolicy",
        description="A new version of a masking policy. Showing less applies at once; "
        "showing more waits for a second privacy officer's approval.",
    )
    async def set_masking_policy(
        self, info: strawberry.Info[Context, None], input: SetMaskingPolicyInput
    ) -> SetMaskingPolicyResult:
        ctx = info.context
        fields = personal_fields(info)
        try:
            params = _params(input.params)
            async with unit_of_work(ctx.sessions) as session:
                row = await policies.set_policy(
                    session,
                    viewer=ctx.viewer,
                    object=input.object,
                    role=input.role.value,
                    purpose=input.purpose,
                    strategy=input.strategy.value,
                    params=params,
                    field_type=fields.get(input.object, ""),
                    personal_fields=fields.keys(),
                    request_id=ctx.request_id,
                )
        except (InvalidInput, Conflict) as exc:
            return InvalidInputError.of(exc)
        return MaskingPolicy.from_row(row)

    @mutation(
        "approveMaskingPolicy",
        description="Approve (or, with approve: false, reject) a pending masking policy "
        "another privacy officer set.",
    )
    async def approve_masking_policy(
        self, info: strawberry.Info[Context, None], input: DecideMaskingPolicyInput
    ) -> DecideMaskingPolicyResult:
        ctx = info.context
        try:
            policy_id = decode_global_id(input.id, expected="MaskingPolicy", field="id")[1]
            async with unit_of_work(ctx.sessions) as session:
                row = await policies.decide(
                    session,
                    viewer=ctx.viewer,
                    policy_id=policy_id,
                    approve=input.approve,
                    request_id=ctx.request_id,
                )
        except (InvalidInput, Conflict) as exc:
            return InvalidInputError.of(exc)
        return MaskingPolicy.from_row(row)

    @mutation(
        "rollbackMaskingPolicy",
        description="Roll back the active version; the version active before it applies again.",
    )
    async def rollback_masking_policy(
        self, info: strawberry.Info[Context, None], input: RollbackMaskingPolicyInput
    ) -> RollbackMaskingPolicyResult:
        ctx = info.context
        try:
            async with unit_of_work(ctx.sessions) as session:
                restored = await policies.roll_back(
                    session,
                    viewer=ctx.viewer,
                    object=input.object,
                    role=input.role.value,
                    purpose=input.purpose,
                    request_id=ctx.request_id,
                )
        except (InvalidInput, Conflict) as exc:
            return InvalidInputError.of(exc)
        return MaskingPolicyRolledBack(
            restored=MaskingPolicy.from_row(restored) if restored else None
        )
