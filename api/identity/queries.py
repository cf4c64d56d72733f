from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.identity.types import AuthorizationRule, User
from domain.identity import repository as repo


@classified(public=["me", "authorization_rules"])
@strawberry.type
class IdentityQueries:
    @strawberry.field(description="The signed-in user; null when anonymous. Not for services.")
    async def me(self, info: strawberry.Info[Context, None]) -> User | None:
        ctx = info.context
        if ctx.viewer.user_id is None:
            return None
        async with ctx.sessions() as session:
            row = await repo.user_by_id(session, ctx.viewer.user_id)
            if row is None:
                return None
            grants = await repo.memberships_of(session, row.id)
        return User.from_row(row, grants)

    @strawberry.field(description="The authorization policy, every line of it.")
    async def authorization_rules(
        self, info: strawberry.Info[Context, None]
    ) -> list[AuthorizationRule]:
        async with info.context.sessions() as session:
            rows = await repo.policy_rules(session)
        return [AuthorizationRule.from_row(r) for r in rows]
