"""Break-glass reveals and their review, and explaining why a value is shown as it is."""

# No postponed annotations: Strawberry reads strawberry.Private from the evaluated annotation.

import enum
import uuid
from datetime import datetime, timedelta
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types.base import StrawberryObjectDefinition

from api.access import PROTECTED, Access, FieldAccess, classified, decide, mutation
from api.context import Context
from api.disclosure import Disclosure, DisclosureLoaders
from api.identity.types import InvalidInputError, User, person
from api.relay import decode_global_id
from domain.identity.authorization import explain
from domain.privacy import break_glass
from domain.privacy.models import BreakGlassGrant as GrantRow
from domain.privacy.purposes import PURPOSES
from kernel import formats
from kernel.db import unit_of_work
from kernel.errors import Conflict, InvalidInput, NotFound

SUBJECT_TYPES = ("Enterprise", "User")


@classified(
    internal=[
        "id",
        "viewer",
        "subject_id",
        "reason",
        "granted_at",
        "expires_at",
        "acknowledged_by",
        "acknowledged_at",
    ]
)
@strawberry.type(description="An emergency reveal, its reason, and its review.")
class BreakGlassGrant(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    viewer_pk: strawberry.Private[uuid.UUID]
    subject_id: strawberry.ID
    reason: str
    granted_at: datetime
    expires_at: datetime
    acknowledged_by_pk: strawberry.Private[uuid.UUID | None]
    acknowledged_at: datetime | None

    @strawberry.field(
        description="The User the grant opened values to; null if you may not see them."
    )
    async def viewer(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.viewer_pk)

    @strawberry.field(description="The User who reviewed it; null if you may not see them.")
    async def acknowledged_by(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.acknowledged_by_pk)

    @classmethod
    def from_row(cls, row: GrantRow, subject_type: str) -> "BreakGlassGrant":
        return cls(
            pk=row.id,
            viewer_pk=row.viewer_id,
            subject_id=strawberry.ID(formats.global_id(subject_type, row.subject_id)),
            reason=row.reason,
            granted_at=row.granted_at,
            expires_at=row.expires_at,
            acknowledged_by_pk=row.acknowledged_by,
            acknowledged_at=row.acknowledged_at,
        )


@strawberry.enum
class FieldOutcome(enum.Enum):
    REVEALED = "revealed"
    MASKED = "masked"
    DENIED = "denied"
    NOT_PERSONAL = "not_personal"


@classified(
    public=[
        "outcome",
        "purpose",
        "read_rule",
        "reveal_rule",
        "masking_strategy",
        "masking_policy_version",
        "lawful_basis",
        "break_glass",
    ]
)
@strawberry.type(description="Why a field of a subject is shown to you the way it is.")
class FieldAccessExplanation:
    outcome: FieldOutcome
    purpose: str
    read_rule: str = strawberry.field(description="The Casbin rule deciding read.")
    reveal_rule: str | None = strawberry.field(description="The rule deciding reveal.")
    masking_strategy: str | None = strawberry.field(
        description="The masking policy's strategy for your roles and this purpose, if any."
    )
    masking_policy_version: int | None
    lawful_basis: str | None = strawberry.field(
        description="What makes a reveal lawful: own data, platform oversight, consent, contract."
    )
    break_glass: bool


@strawberry.input
class BreakGlassInput:
    subject_id: strawberry.ID = strawberry.field(description="An Enterprise or User id.")
    reason: str = strawberry.field(description="The emergency, in at least 20 characters.")
    minutes: int = 60


@strawberry.input
class AcknowledgeBreakGlassInput:
    id: strawberry.ID


BreakGlassResult = Annotated[
    BreakGlassGrant | InvalidInputError, strawberry.union("BreakGlassResult")
]


def _subject(global_id: strawberry.ID) -> tuple[str, uuid.UUID]:
    for type_name in SUBJECT_TYPES:
        try:
            return type_name, decode_global_id(global_id, expected=type_name)[1]
        except (InvalidInput, GraphQLError):
            continue
    raise InvalidInput("the subject must be an Enterprise or a User id", field="subjectId")


async def _visible(ctx: Context, type_name: str, pk: uuid.UUID) -> uuid.UUID | None:
    """The subject's owner, or NotFound when the viewer may not see it (rows in SQL)."""
    if type_name == "Enterprise":
        row = await ctx.loaders.enterprise.load(pk)
        if row is None:
            raise NotFound("no such subject")
        return row.owner_id
    if pk != ctx.viewer.user_id and not ctx.viewer.sees_all_tenants:
        raise NotFound("no such subject")
    return pk


def _field(info: strawberry.Info[Context, None], type_name: str, field: str) -> FieldAccess:
    graphql_type = info.schema._schema.type_map.get(type_name)
    definition = getattr(graphql_type, "extensions", {}).get("strawberry-definition")
    if not isinstance(definition, StrawberryObjectDefinition):
        raise InvalidInput(f"no type {type_name}")
    for candidate in definition.fields:
        for extension in candidate.extensions:
            if isinstance(extension, FieldAccess) and extension.field_name == field:
                return extension
    raise InvalidInput(f"{type_name} has no field {field}")


@classified(public=["break_glass_reviews", "explain_field_access"])
@strawberry.type
class OversightQueries:
    @strawberry.field(description="Break-glass grants no second officer has reviewed yet.")
    async def break_glass_reviews(
        self, info: strawberry.Info[Context, None]
    ) -> list[BreakGlassGrant]:
        if not info.context.viewer.sees_all_tenants:
            return []
        async with info.context.sessions() as session:
            rows = await break_glass.awaiting_review(session)
            types = await break_glass.subject_types(session, [r.subject_id for r in rows])
        return [BreakGlassGrant.from_row(r, types[r.subject_id]) for r in rows]

    @strawberry.field(
        description="Why you would see this field of this subject revealed, masked or not."
    )
    async def explain_field_access(
        self,
        info: strawberry.Info[Context, None],
        type: str,
        field: str,
        subject_id: strawberry.ID,
        purpose: str | None = None,
    ) -> FieldAccessExplanation:
        ctx = info.context
        guard = _field(info, type, field)
        subject_type, pk = _subject(subject_id)
        if subject_type != type:
            raise InvalidInput(f"the subject is a {subject_type}, not a {type}")
        owner = await _visible(ctx, subject_type, pk)
        if purpose is not None and purpose not in PURPOSES:
            raise InvalidInput(f"unknown purpose; one of {', '.join(sorted(PURPOSES))}")
        purpose = purpose or ctx.purpose
        obj = f"{type}.{field}"
        access = decide(ctx, obj, guard.classification)
        principal = ctx.principal
        read_rule = explain(ctx.authorizer, principal, obj, "read")
        if access is Access.DENY:
            return FieldAccessExplanation(
                outcome=FieldOutcome.DENIED,
                purpose=purpose,
                read_rule=read_rule,
                reveal_rule=None,
                masking_strategy=None,
                masking_policy_version=None,
                lawful_basis=None,
                break_glass=False,
            )
        if guard.classification not in PROTECTED:
            return FieldAccessExplanation(
                outcome=FieldOutcome.NOT_PERSONAL,
                purpose=purpose,
                read_rule=read_rule,
                reveal_rule=None,
                masking_strategy=None,
                masking_policy_version=None,
                lawful_basis=None,
                break_glass=False,
            )
        disclosure = ctx.disclosure
        if purpose != ctx.purpose:
            disclosure = Disclosure(
                context=ctx,
                rules=ctx.masking_rules,
                purpose=purpose,
                own_loaders=DisclosureLoaders(ctx, purpose),
            )
        glass = access is Access.ALLOW and await disclosure.glass(pk)
        lawful = await disclosure.lawful(pk, owner)
        policy = ctx.masking_rules.strategy_for(obj, disclosure.viewer_roles, purpose)
        revealed = glass or (
            access is Access.ALLOW and lawful and (policy is None or policy.name == "reveal")
        )
        return FieldAccessExplanation(
            outcome=FieldOutcome.REVEALED if revealed else FieldOutcome.MASKED,
            purpose=purpose,
            read_rule=read_rule,
            reveal_rule=explain(ctx.authorizer, principal, obj, "reveal"),
            masking_strategy=policy.name if policy else None,
            masking_policy_version=policy.version if policy else None,
            lawful_basis=await disclosure.basis(pk, owner),
            break_glass=glass,
        )


@strawberry.type
class OversightMutations:
    @mutation("breakGlass", description="Reveal a subject's withheld values in an emergency.")
    async def break_glass(
        self, info: strawberry.Info[Context, None], input: BreakGlassInput
    ) -> BreakGlassResult:
        ctx = info.context
        assert ctx.viewer.user_id is not None  # the policy grants this to signed-in roles only
        try:
            subject_type, pk = _subject(input.subject_id)
            await _visible(ctx, subject_type, pk)
            async with unit_of_work(ctx.sessions) as session:
                row = await break_glass.grant(
                    session,
                    viewer_id=ctx.viewer.user_id,
                    subject_id=pk,
                    reason=input.reason,
                    ttl=timedelta(minutes=input.minutes),
                    request_id=ctx.request_id,
                )
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        return BreakGlassGrant.from_row(row, subject_type)

    @mutation("acknowledgeBreakGlass", description="Review another officer's break-glass grant.")
    async def acknowledge_break_glass(
        self, info: strawberry.Info[Context, None], input: AcknowledgeBreakGlassInput
    ) -> BreakGlassResult:
        ctx = info.context
        assert ctx.viewer.user_id is not None
        grant_id = decode_global_id(input.id, expected="BreakGlassGrant", field="id")[1]
        try:
            async with unit_of_work(ctx.sessions) as session:
                row = await break_glass.acknowledge(
                    session,
                    viewer_id=ctx.viewer.user_id,
                    grant_id=grant_id,
                    request_id=ctx.request_id,
                )
                types = await break_glass.subject_types(session, [row.subject_id])
        except Conflict as exc:
            return InvalidInputError.of(exc)
        return BreakGlassGrant.from_row(row, types[row.subject_id])
